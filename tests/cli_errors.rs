//! What a person sees when things go wrong, checked on the real binary and real
//! processes: an AWS failure is at most three lines on stderr (what failed, AWS's
//! answer or what else happened, a hint) and exit 1, with the whole detail under -vv; a
//! closed pipe ends output quietly with the usual exit code; command-line mistakes exit
//! 64 (never 2, which means "changes present" / "drift found"). None of these tests
//! needs the emulator: they point hactl at loopback ports they control.

mod common;

use common::{hactl_bin, repo_root};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const EXIT_USAGE: i32 = 64;

/// A config of the network tier of the demo stack (no compute, no database), its stack
/// named `name`, in a fresh directory.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    state_dir: PathBuf,
}

fn setup(name: &str) -> Setup {
    let text = std::fs::read_to_string(repo_root().join("config/ha-stack.toml")).unwrap();
    let start = text.find("# --- Services").expect("services marker");
    let end = text.find("# --- Alarms").expect("alarms marker");
    let text = format!("{}{}", &text[..start], &text[end..]);
    let line = text.lines().find(|l| l.starts_with("name = \"")).unwrap();
    let text = text.replacen(line, &format!("name = \"{name}\""), 1);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stack.toml");
    std::fs::write(&config, text).unwrap();
    let state_dir = dir.path().join("state");
    Setup { dir, config, state_dir }
}

/// `hactl --config .. --state-dir .. ARGS` with an environment holding nothing of the
/// caller's: no AWS variables, HOME an empty directory, instance metadata off (so the
/// credential chain cannot hang on it), no colours.
fn hactl(s: &Setup, args: &[&str]) -> Command {
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut c = Command::new(hactl_bin());
    c.env_clear()
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(&s.config)
        .arg("--state-dir")
        .arg(&s.state_dir)
        .args(args)
        .stdin(Stdio::null());
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(mut c: Command) -> Out {
    let o = c.output().expect("run hactl");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A loopback HTTP server that answers every request with `status` and `body`, for at
/// most 120 s (then it stops by itself). Returns its URL, the number of connections
/// it accepted, and a flag that stops it.
fn fake_aws(status: &'static str, body: &'static str) -> (String, Arc<AtomicUsize>, Arc<AtomicBool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (n, halt) = (served.clone(), stop.clone());
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !halt.load(Ordering::SeqCst) && Instant::now() < deadline {
            match listener.accept() {
                Ok((conn, _)) => {
                    n.fetch_add(1, Ordering::SeqCst);
                    let _ = answer(conn, status, body);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (url, served, stop)
}

/// Reads one HTTP request (headers and Content-Length body) and answers it.
fn answer(mut conn: TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// The non-empty lines of `s`.
fn lines(s: &str) -> Vec<&str> {
    s.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// Line 1 of an AWS failure: `error: plan: reading KIND: Operation failed` (the first call
/// of a run is STS GetCallerIdentity: `reading the AWS account`).
fn assert_what_failed(line: &str) {
    let rest = line.strip_prefix("error: plan: reading ").unwrap_or_else(|| panic!("line 1: {line}"));
    let (kind, op) = rest.split_once(": ").unwrap_or_else(|| panic!("line 1: {line}"));
    assert!(kind.contains('.') || kind == "the AWS account", "no resource kind in line 1: {line}");
    let op = op.strip_suffix(" failed").unwrap_or_else(|| panic!("line 1: {line}"));
    assert!(
        op.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && op.chars().all(|c| c.is_ascii_alphanumeric()),
        "no AWS operation in line 1: {line}"
    );
}

/// No SDK internals in what a person reads.
fn assert_no_internals(stderr: &str) {
    for internal in
        ["ServiceError", "DispatchFailure", "ConnectorError", "raw: Response", "panicked", "SdkBody"]
    {
        assert!(!stderr.contains(internal), "`{internal}` shown without -vv:\n{stderr}");
    }
}

#[test]
fn no_credentials_is_three_lines_naming_the_sources_tried() {
    let s = setup("cli-nocreds");
    let port = closed_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let r = run({
        let mut c = hactl(&s, &["plan"]);
        c.env("AWS_ENDPOINT_URL", &endpoint);
        c
    });
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l = lines(&r.stderr);
    assert_eq!(l.len(), 3, "want 3 lines:\n{}", r.stderr);
    assert_what_failed(l[0]);
    assert!(l[1].trim_start().starts_with("no AWS credentials"), "line 2: {}", l[1]);
    let home = s.dir.path().join("home");
    let hint = l[2].trim_start();
    assert!(hint.starts_with("hint: tried environment (AWS_ACCESS_KEY_ID"), "line 3: {hint}");
    for part in [
        format!("profile `default` in {}", home.join(".aws/credentials").display()),
        home.join(".aws/config").display().to_string(),
        "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)".to_string(),
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".to_string(),
        "--profile".to_string(),
    ] {
        assert!(hint.contains(&part), "no `{part}` in the hint: {hint}");
    }
    assert_no_internals(&r.stderr);

    // --profile is the profile the hint names.
    let r = run({
        let mut c = hactl(&s, &["--profile", "ops", "plan"]);
        c.env("AWS_ENDPOINT_URL", &endpoint);
        c
    });
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l = lines(&r.stderr);
    assert!(l.len() <= 3, "{}", r.stderr);
    assert!(r.stderr.contains("profile `ops`"), "{}", r.stderr);

    // -vv: the full detail is there (the SDK's error as it is).
    let r = run({
        let mut c = hactl(&s, &["-vv", "plan"]);
        c.env("AWS_ENDPOINT_URL", &endpoint);
        c
    });
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("full detail (-vv)"), "{}", r.stderr);
    assert!(r.stderr.contains("CredentialsNotLoaded"), "no SDK detail with -vv:\n{}", r.stderr);
}

#[test]
fn a_refused_endpoint_is_three_lines_naming_it() {
    let s = setup("cli-refused");
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let started = Instant::now();
    let r = run({
        let mut c = hactl(&s, &["plan"]);
        c.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        c
    });
    println!("refused endpoint: exit {} after {:?}", r.code, started.elapsed());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l = lines(&r.stderr);
    assert_eq!(l.len(), 3, "want 3 lines:\n{}", r.stderr);
    assert_what_failed(l[0]);
    assert_eq!(l[1].trim(), "connection refused", "line 2");
    let hint = l[2].trim_start();
    assert!(hint.starts_with("hint: nothing accepts connections at "), "line 3: {hint}");
    assert!(hint.contains(&format!("{endpoint} (--endpoint-url or AWS_ENDPOINT_URL)")), "line 3: {hint}");
    assert!(hint.contains(&format!("curl -sS {endpoint}")), "line 3: {hint}");
    assert_no_internals(&r.stderr);

    let r = run({
        let mut c = hactl(&s, &["plan", "-vv"]);
        c.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        c
    });
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("DispatchFailure") && r.stderr.contains("ConnectionRefused"),
        "no SDK detail with -vv:\n{}",
        r.stderr
    );
}

#[test]
fn an_answer_that_is_not_aws_is_three_lines_quoting_it() {
    let s = setup("cli-garbage");
    let body = "<<this is not an AWS answer>> {not json either";
    let (endpoint, served, stop) = fake_aws("400 Bad Request", body);
    let r = run({
        let mut c = hactl(&s, &["plan"]);
        c.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test");
        c
    });
    stop.store(true, Ordering::SeqCst);
    assert!(served.load(Ordering::SeqCst) > 0, "the fake endpoint was never asked");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l = lines(&r.stderr);
    assert_eq!(l.len(), 3, "want 3 lines:\n{}", r.stderr);
    assert_what_failed(l[0]);
    assert_eq!(l[1].trim(), format!("HTTP 400, body not understood: {body}"), "line 2");
    assert_eq!(
        l[2].trim(),
        format!("hint: {endpoint} (--endpoint-url or AWS_ENDPOINT_URL) did not answer like AWS; check the endpoint and any proxy in between"),
    );
    assert_no_internals(&r.stderr);
}

/// `setup`, with the state in S3 (`state` commands then make S3 calls and nothing else).
fn setup_s3_state(name: &str) -> Setup {
    let s = setup(name);
    let mut text = std::fs::read_to_string(&s.config).unwrap();
    text.push_str("\n[state]\nbackend = \"s3\"\nbucket = \"hactl-cli-errors\"\n");
    std::fs::write(&s.config, text).unwrap();
    s
}

#[test]
fn s3_state_failures_are_three_lines_naming_the_state_object() {
    let s = setup_s3_state("cli-s3state");
    let object = "s3://hactl-cli-errors/hactl/cli-s3state/us-east-1/state.json";
    let with = |endpoint: &str, args: &[&str]| {
        run({
            let mut c = hactl(&s, args);
            c.env("AWS_ENDPOINT_URL", endpoint)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test");
            c
        })
    };

    // An answer that is not S3's.
    let body = "<<not an S3 answer>>";
    let (endpoint, served, stop) = fake_aws("400 Bad Request", body);
    let r = with(&endpoint, &["state", "list"]);
    stop.store(true, Ordering::SeqCst);
    assert!(served.load(Ordering::SeqCst) > 0, "the fake endpoint was never asked");
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l = lines(&r.stderr);
    assert_eq!(l.len(), 3, "want 3 lines:\n{}", r.stderr);
    assert_eq!(l[0], format!("error: state list: reading the state at {object} failed"), "line 1");
    assert_eq!(l[1].trim(), format!("HTTP 400, body not understood: {body}"), "line 2");
    assert!(l[2].trim().starts_with(&format!("hint: {endpoint} ")), "line 3: {}", l[2]);
    assert_no_internals(&r.stderr);

    // Nothing listening.
    let endpoint = format!("http://127.0.0.1:{}", closed_port());
    let r = with(&endpoint, &["state", "list"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l = lines(&r.stderr);
    assert_eq!(l.len(), 3, "want 3 lines:\n{}", r.stderr);
    assert_eq!(l[0], format!("error: state list: reading the state at {object} failed"), "line 1");
    assert_eq!(l[1].trim(), "connection refused", "line 2");
    assert!(l[2].trim().starts_with("hint: nothing accepts connections at "), "line 3: {}", l[2]);
    assert_no_internals(&r.stderr);
    // The SDK's detail with -vv.
    let r = with(&endpoint, &["state", "list", "-vv"]);
    assert!(r.stderr.contains("DispatchFailure"), "no SDK detail with -vv:\n{}", r.stderr);
}

#[test]
fn a_long_answer_that_is_not_aws_is_quoted_to_200_bytes() {
    let s = setup("cli-garbage-long");
    let body: &'static str = Box::leak("x".repeat(5000).into_boxed_str());
    let (endpoint, _, stop) = fake_aws("400 Bad Request", body);
    let r = run({
        let mut c = hactl(&s, &["plan", "--endpoint-url", &endpoint]);
        c.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test");
        c
    });
    stop.store(true, Ordering::SeqCst);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let l = lines(&r.stderr);
    assert_eq!(l.len(), 3, "{}", r.stderr);
    assert_eq!(l[1].trim(), format!("HTTP 400, body not understood: {}", "x".repeat(200)));
}

/// A pipe whose reading end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// A state file of `n` resources for stack `name` (enough lines that a pipe to
/// `head -1` is closed while hactl still writes).
fn write_state(s: &Setup, name: &str, n: usize) {
    let resources: serde_json::Map<String, serde_json::Value> = (0..n)
        .map(|i| {
            (
                format!("subnet.s{i}"),
                serde_json::json!({ "kind": "ec2.subnet", "id": format!("subnet-{i:017x}"), "props": {} }),
            )
        })
        .collect();
    let state = serde_json::json!({
        "format_version": 1, "stack": name, "region": "us-east-1", "lineage": "l-1", "serial": 1,
        "resources": resources,
    });
    std::fs::create_dir_all(&s.state_dir).unwrap();
    std::fs::write(s.state_dir.join(format!("{name}.json")), state.to_string()).unwrap();
}

#[test]
fn a_closed_stdout_or_stderr_ends_quietly_with_the_usual_exit_code() {
    let bad = repo_root().join("config/bad/overlapping-subnets.toml");
    let s = setup("cli-pipe");
    write_state(&s, "cli-pipe", 3000);

    // state list into a closed pipe: exit 0, nothing on stderr.
    let out = hactl(&s, &["state", "list"]).stdout(closed_pipe()).stderr(Stdio::piped()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "state list into a closed pipe wrote: {stderr}");

    // A failing validate, stdout and stderr both closed: its exit code, 1.
    let out =
        hactl(&s, &["validate", "--config"]).arg(&bad).stdout(closed_pipe()).stderr(closed_pipe()).output();
    assert_eq!(out.unwrap().status.code(), Some(1));
    // stderr closed, stdout read: no panic message, exit 1.
    let out = hactl(&s, &["validate", "--config"]).arg(&bad).stderr(closed_pipe()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("panicked"));
    // A valid validate and graph into a closed stdout: exit 0, no panic.
    for args in [&["validate"][..], &["graph"]] {
        let out = hactl(&s, args).stdout(closed_pipe()).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?} into a closed pipe wrote: {stderr}");
    }
    // --help into a closed stdout: exit 0.
    let out = hactl(&s, &["--help"]).stdout(closed_pipe()).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `pipeline` (which names hactl as `"$HACTL"`) in bash and returns what it
/// printed and the exit code of its first command (PIPESTATUS[0]).
fn through_head(s: &Setup, pipeline: &str) -> (String, i32) {
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let script = format!("{pipeline}; echo \"rc=${{PIPESTATUS[0]}}\"");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("NO_COLOR", "1")
        .env("HACTL", hactl_bin())
        .env("CFG", &s.config)
        .env("STATE", &s.state_dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let rc =
        text.lines().find_map(|l| l.strip_prefix("rc=")).and_then(|v| v.trim().parse().ok()).unwrap_or_else(
            || panic!("no rc in {text:?} (stderr {:?})", String::from_utf8_lossy(&out.stderr)),
        );
    let shown = text.lines().filter(|l| !l.starts_with("rc=")).collect::<Vec<_>>().join("\n");
    (shown, rc)
}

#[test]
fn head_1_on_a_real_pipe_gives_the_documented_exit_code() {
    let s = setup("cli-head");
    write_state(&s, "cli-head", 3000);
    let (shown, rc) =
        through_head(&s, "\"$HACTL\" --config \"$CFG\" --state-dir \"$STATE\" state list | head -1");
    assert_eq!(rc, 0, "state list | head -1: {shown}");
    assert_eq!(shown, format!("subnet.s0\tec2.subnet\tsubnet-{:017x}", 0));

    let bad = repo_root().join("config/bad/overlapping-subnets.toml");
    let (shown, rc) = through_head(
        &s,
        &format!("\"$HACTL\" --state-dir \"$STATE\" validate --config {} 2>&1 | head -1", bad.display()),
    );
    assert_eq!(rc, 1, "validate bad 2>&1 | head -1: {shown}");
    assert!(shown.starts_with("error: ") && shown.contains("overlapping-subnets.toml:"), "{shown}");
    assert!(!shown.contains("panicked"), "{shown}");

    // A failing AWS command (refused endpoint) through head: 1.
    let (shown, rc) = through_head(
        &s,
        &format!(
            "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true \
             \"$HACTL\" --config \"$CFG\" --state-dir \"$STATE\" --endpoint-url http://127.0.0.1:{} plan 2>&1 | head -1",
            closed_port()
        ),
    );
    assert_eq!(rc, 1, "{shown}");
    assert!(shown.starts_with("error: plan: reading "), "{shown}");
}

#[test]
fn command_line_mistakes_exit_64_never_2() {
    let s = setup("cli-usage");
    for args in [
        &["drift", "--jsn"][..],
        &["plan", "--detailed-exitcod"],
        &["frobnicate"],
        &[],
        &["state"],
        &["drift", "--watch", "--interval", "5x"],
    ] {
        let r = run(hactl(&s, args));
        assert_eq!(r.code, EXIT_USAGE, "hactl {args:?}:\n{}", r.stderr);
        let l = lines(&r.stderr);
        assert!((1..=3).contains(&l.len()), "hactl {args:?}: {} lines:\n{}", l.len(), r.stderr);
        assert!(l[0].starts_with("error: "), "hactl {args:?}:\n{}", r.stderr);
        assert!(r.stdout.is_empty(), "hactl {args:?} wrote on stdout: {}", r.stdout);
    }
    let r = run(hactl(&s, &["drift", "--jsn"]));
    assert!(r.stderr.contains("'--jsn'") && r.stderr.contains("'--json'"), "{}", r.stderr);

    for args in [&["--help"][..], &["--version"], &["drift", "--help"]] {
        let r = run(hactl(&s, args));
        assert_eq!(r.code, 0, "hactl {args:?}: {}", r.stderr);
        assert!(!r.stdout.is_empty(), "hactl {args:?} printed nothing");
    }
    let r = run(hactl(&s, &["--help"]));
    assert!(r.stdout.contains("64 usage error"), "exit codes not in --help:\n{}", r.stdout);
}

#[test]
fn an_interval_that_overflows_is_a_usage_error_not_a_panic() {
    let s = setup("cli-interval");
    for v in ["18446744073709551615d", "307445734561825861m", "99999999999999999999999999s", "400d"] {
        let r = run(hactl(&s, &["drift", "--watch", "--interval", v]));
        assert_eq!(r.code, EXIT_USAGE, "--interval {v}:\n{}", r.stderr);
        assert!(r.stderr.contains("at most 366d"), "--interval {v}:\n{}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "--interval {v}:\n{}", r.stderr);
    }
}

#[test]
fn a_region_other_than_the_configs_is_refused_before_any_aws_call() {
    let s = setup("cli-region");
    write_state(&s, "cli-region", 2);
    // A listener that counts connections: none may come.
    let (endpoint, served, stop) = fake_aws("500 Internal Server Error", "{}");
    for args in [
        &["plan"][..],
        &["apply", "--auto-approve"],
        &["destroy", "--auto-approve"],
        &["drift"],
        &["state", "list"],
    ] {
        let r = run({
            let mut c = hactl(&s, &["--region", "us-west-2", "--endpoint-url", &endpoint]);
            c.args(args).env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test");
            c
        });
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        let l = lines(&r.stderr);
        assert_eq!(l.len(), 1, "{args:?}: {}", r.stderr);
        assert!(
            l[0].contains("--region us-west-2 differs from stack.region = \"us-east-1\"")
                && l[0].contains(&s.config.display().to_string()),
            "{args:?}: {}",
            r.stderr
        );
    }
    stop.store(true, Ordering::SeqCst);
    assert_eq!(served.load(Ordering::SeqCst), 0, "a refused --region reached the endpoint");
    // The same region as the config's is fine.
    let r = run(hactl(&s, &["--region", "us-east-1", "state", "list"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    // The state file is untouched.
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.state_dir.join("cli-region.json")).unwrap()).unwrap();
    assert_eq!(state["serial"], 1);
}
