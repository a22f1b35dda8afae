//! Bad configs fail with file:line and field, exit 1, before any AWS call: every
//! command runs through a counting TCP proxy in front of the emulator, which must see
//! no request at all. A valid config through the same proxy does reach it, so the
//! count is a real check.

mod common;

use common::{hactl_bin, repo_root, require_emulator};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Accepts connections on a free loopback port, counts them and pipes them to the
/// emulator.
fn counting_proxy() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let upstream = common::endpoint().trim_start_matches("http://").trim_end_matches('/').to_string();
    let c = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            c.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(&upstream) else { continue };
            let pipe = |mut from: TcpStream, mut to: TcpStream| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            };
            pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
            pipe(server, client);
        }
    });
    (format!("http://127.0.0.1:{port}"), count)
}

fn hactl(config: &std::path::Path, endpoint: &str, state: &std::path::Path, args: &[&str]) -> common::Run {
    std::process::Command::new(hactl_bin())
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(state)
        .arg("--endpoint-url")
        .arg(endpoint)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
        .into()
}

#[test]
fn every_bad_config_is_rejected_with_its_location_and_aws_is_never_called() {
    require_emulator();
    let (endpoint, count) = counting_proxy();
    let state = tempfile::tempdir().unwrap();
    let bad = repo_root().join("config/bad");
    let expected = std::fs::read_to_string(bad.join("expected.txt")).unwrap();
    let mut cases = 0;
    for line in expected.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, line_no, field, message) = (cols[0], cols[1], cols[2], cols[3]);
        let path = bad.join(file);
        for args in [
            &["apply", "--auto-approve"][..],
            &["plan"],
            &["destroy", "--auto-approve"],
            &["drift"],
            &["validate"],
        ] {
            let r = hactl(&path, &endpoint, state.path(), args);
            assert_eq!(r.code, 1, "{file} {args:?}: exit {}\n{}", r.code, r.stderr);
            let loc = format!("{}:{line_no}:", path.display());
            assert!(r.stderr.contains(&loc), "{file}: no {loc} in\n{}", r.stderr);
            assert!(r.stderr.contains(field), "{file}: no field {field} in\n{}", r.stderr);
            assert!(r.stderr.contains(message), "{file}: no `{message}` in\n{}", r.stderr);
            assert!(r.stderr.contains("hint:"), "{file}: no hint in\n{}", r.stderr);
        }
        cases += 1;
    }
    assert!(cases >= 12, "only {cases} bad configs");
    assert_eq!(count.load(Ordering::SeqCst), 0, "a bad config reached the emulator");

    // The proxy does count: a valid config's plan goes through it.
    let good = repo_root().join("config/ha-stack.toml");
    let r = hactl(&good, &endpoint, state.path(), &["plan"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(count.load(Ordering::SeqCst) > 0);
}
