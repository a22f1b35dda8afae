//! The scheduling recipes in scheduling/: the systemd units pass `systemd-analyze verify`
//! (with ExecStart pointing at the built binary), and the cron line's command runs the
//! drift job against the emulator with the exit codes its guard expects.

mod common;

use common::*;

fn recipe(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("scheduling").join(name)).expect("recipe")
}

#[test]
fn systemd_units_verify() {
    let analyze = std::path::Path::new("/usr/bin/systemd-analyze");
    assert!(analyze.exists(), "systemd-analyze is needed to check the units (Debian: systemd)");
    let dir = tempfile::tempdir().unwrap();
    let bin = hactl_bin();
    // As installed, but with this build's binary and a user that exists here.
    let service = recipe("hactl-drift.service")
        .replace("/usr/local/bin/hactl", bin.to_str().unwrap())
        .replace("User=hactl", "User=root");
    assert!(service.contains("SuccessExitStatus=2"), "drift found must not fail the unit");
    let success: Vec<&str> = service
        .lines()
        .filter_map(|l| l.strip_prefix("SuccessExitStatus="))
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(success, ["2"], "only drift found (2) may count as success; 1, 64 and 130 fail the unit");
    std::fs::write(dir.path().join("hactl-drift.service"), service).unwrap();
    std::fs::write(dir.path().join("hactl-drift.timer"), recipe("hactl-drift.timer")).unwrap();
    let out = std::process::Command::new(analyze)
        .arg("verify")
        .arg(dir.path().join("hactl-drift.service"))
        .arg(dir.path().join("hactl-drift.timer"))
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && !stderr.contains("hactl-drift"), "systemd-analyze verify: {stderr}");
}

#[test]
fn cron_line_runs_the_drift_job() {
    let line = recipe("hactl-drift.cron")
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap()
        .to_string();
    let fields: Vec<&str> = line.splitn(6, ' ').collect();
    assert_eq!(fields[..5], ["*/15", "*", "*", "*", "*"], "{line}");
    let s = Stack::new("cron");
    s.ok(&["apply", "--auto-approve"], 0);
    // The command part, as cron's /bin/sh would run it, in this stack's directory.
    let log = s.dir.path().join("drift.log");
    let cmd = fields[5]
        .replace("cd /opt/hactl", &format!("cd {}", s.dir.path().display()))
        .replace(
            "/usr/local/bin/hactl",
            &format!(
                "{} --state-dir {} --endpoint-url {}",
                hactl_bin().display(),
                s.state_dir.display(),
                s.endpoint
            ),
        )
        .replace("config/ha-stack.toml", s.config.to_str().unwrap())
        .replace("/var/log/hactl-drift.log", log.to_str().unwrap());
    let out = std::process::Command::new("/bin/sh")
        .args(["-c", &cmd])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() >= 1, "the job logs");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "no drift, no mail: {:?}", out);
    assert!(text.contains("No drift"), "{text}");
    s.ok(&DESTROY_ALL, 0);
}

/// The cron line's guard mails every exit but 0 (no drift) and 2 (drift found): an
/// error (1), a broken job line (64, usage error) or an interrupt (130). Checked with
/// the real binary for the usage error, and with a stand-in exiting each code.
#[test]
fn cron_line_mails_a_broken_job_not_drift() {
    let line = recipe("hactl-drift.cron")
        .lines()
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .unwrap()
        .to_string();
    let command = line.splitn(6, ' ').nth(5).unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("drift.log");
    let run = |hactl: &str, cmd: &str| {
        let cmd = cmd
            .replace("cd /opt/hactl", &format!("cd {}", dir.path().display()))
            .replace("/usr/local/bin/hactl", hactl)
            .replace("/var/log/hactl-drift.log", log.to_str().unwrap());
        let out = std::process::Command::new("/bin/sh").args(["-c", &cmd]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A typo in the job line: the real binary exits 64 and cron mails it.
    let typo = command.replace("drift --publish-metrics", "drift --publish-metrix");
    assert_ne!(typo, command, "the cron line runs `drift --publish-metrics`");
    let mail = run(hactl_bin().to_str().unwrap(), &typo);
    assert!(mail.contains("hactl drift failed (exit 64)"), "a broken job is not reported: {mail:?}");
    assert!(std::fs::read_to_string(&log).unwrap().contains("--publish-metrix"), "clap's message is logged");
    for (code, mailed) in [(0, false), (2, false), (1, true), (64, true), (130, true)] {
        let stand_in = dir.path().join(format!("exit{code}.sh"));
        std::fs::write(&stand_in, format!("#!/bin/sh\nexit {code}\n")).unwrap();
        let mail = run(&format!("/bin/sh {}", stand_in.display()), &command);
        assert_eq!(!mail.is_empty(), mailed, "exit {code}: {mail:?}");
        if mailed {
            assert!(mail.contains(&format!("(exit {code})")), "exit {code}: {mail:?}");
        }
    }
}
