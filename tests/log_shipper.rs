//! The log shipper's code (crates/hactl-config/src/log_shipper.py, the Lambda function of
//! `[log_analytics]`): its unit tests, tests/log_shipper_test.py, run with the emulator's
//! Python (`.emulator/venv`, which scripts/test.sh installs; `python3` where it is not).
//! The emulator cannot run Lambda functions, so this is where the code's behaviour is
//! checked: the bulk request it builds, idempotent retries, refused documents failing the
//! invocation, credentials read again once when refused.

use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_log_shippers_unit_tests_pass() {
    let root = repo_root();
    let venv = root.join(".emulator/venv/bin/python");
    let python = if venv.exists() { venv } else { PathBuf::from("python3") };
    let out = Command::new(&python)
        .args(["-m", "unittest", "-v", "tests/log_shipper_test.py"])
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    let ran: usize = report
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ran ").and_then(|r| r.split_whitespace().next()).and_then(|n| n.parse().ok())
        })
        .unwrap_or(0);
    assert!(ran >= 13, "only {ran} tests ran:\n{report}");
}
