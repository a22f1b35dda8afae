//! Every command the docs quote runs as written: each line of the ```sh blocks of
//! README.md and CONTRIBUTING.md, and each `hactl ...` the config files' comments quote.
//!
//! A line runs here, in a sandbox that looks like a checkout after `scripts/demo.sh`
//! (`config/` with the demo config under a unique stack name, applied to the emulator;
//! `scripts/`; `./target/debug/hactl`; `hactl` on PATH; HOME of its own), block by block
//! with `bash -e`. A line that cannot run inside the test suite (the suite itself, CI,
//! the demo that starts the emulator, stopping the emulator) must stand in `.ci/run`
//! word for word, which CI runs; this test checks that it does.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A ```sh block: where it is, and its command lines (comments and blank lines out).
struct Block {
    file: &'static str,
    line: usize,
    commands: Vec<String>,
}

/// The command of a doc line: without a trailing `# comment` (outside quotes).
fn command_of(line: &str) -> Option<String> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, ch) in line.char_indices() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev.is_whitespace() => {
                let cmd = line[..i].trim();
                return (!cmd.is_empty()).then(|| cmd.to_string());
            }
            _ => {}
        }
        prev = ch;
    }
    let cmd = line.trim();
    (!cmd.is_empty() && !cmd.starts_with('#')).then(|| cmd.to_string())
}

fn sh_blocks(file: &'static str) -> Vec<Block> {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut blocks = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(Block { file, line: i + 1, commands: Vec::new() }),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), l) => b.commands.extend(command_of(l)),
            _ => {}
        }
    }
    assert!(current.is_none(), "{file}: a ```sh block is not closed");
    blocks
}

/// The `hactl ...` commands quoted inline in `text` (a span of backticks on one line),
/// outside fenced blocks; in a config file, in its comments only.
fn inline_commands(at: &str, text: &str, comments_only: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let prose = if comments_only {
            match line.trim_start().strip_prefix('#') {
                Some(c) => c,
                None => continue,
            }
        } else if fenced {
            continue;
        } else {
            line
        };
        for (n, span) in prose.split('`').enumerate() {
            if n % 2 == 1 && (span.starts_with("hactl ") || span.starts_with("./target/debug/hactl ")) {
                out.push((format!("{at}:{}", i + 1), span.to_string()));
            }
        }
    }
    out
}

/// The inline commands of README.md, CONTRIBUTING.md and the configs' comments.
fn quoted_inline() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for doc in ["README.md", "CONTRIBUTING.md"] {
        out.extend(inline_commands(doc, &std::fs::read_to_string(repo_root().join(doc)).unwrap(), false));
    }
    for entry in std::fs::read_dir(repo_root().join("config")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let at = path.strip_prefix(repo_root()).unwrap_or(&path).display().to_string();
            out.extend(inline_commands(&at, &std::fs::read_to_string(&path).unwrap(), true));
        }
    }
    out
}

/// The command lines of `.ci/run`.
fn ci_lines() -> Vec<String> {
    std::fs::read_to_string(repo_root().join(".ci/run")).unwrap().lines().filter_map(command_of).collect()
}

/// Lines that cannot run inside the test suite, and why. All but `bash .ci/run` (CI
/// itself) must be in `.ci/run`.
fn ci_only(cmd: &str) -> Option<&'static str> {
    Some(match cmd {
        "bash scripts/test.sh" => "the test suite itself",
        "bash .ci/run" => "CI itself",
        "bash scripts/demo.sh" => "starts the emulator the suite runs against",
        "bash scripts/emulator.sh stop" => "stops the emulator the suite runs against",
        c if c.starts_with("cargo fmt") || c.starts_with("cargo clippy") => "a lint bar of CI",
        _ => return None,
    })
}

/// A directory that looks like a checkout after `scripts/demo.sh`, for the stack `name`.
struct Sandbox {
    dir: tempfile::TempDir,
    stack: Stack,
}

impl Sandbox {
    fn new() -> Sandbox {
        let stack = Stack::from_file("docs", "config/ha-stack.toml");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("config")).unwrap();
        // The repo's configs; the demo config under the sandbox stack's name.
        for entry in std::fs::read_dir(repo_root().join("config")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(&path, root.join("config").join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::copy(&stack.config, root.join("config/ha-stack.toml")).unwrap();
        std::os::unix::fs::symlink(repo_root().join("scripts"), root.join("scripts")).unwrap();
        std::os::unix::fs::symlink(repo_root().join("crates"), root.join("crates")).unwrap();
        for f in ["Cargo.toml", "Cargo.lock", "tests", "benches", "rustfmt.toml"] {
            if repo_root().join(f).exists() {
                std::os::unix::fs::symlink(repo_root().join(f), root.join(f)).unwrap();
            }
        }
        std::fs::create_dir_all(root.join("target/debug")).unwrap();
        std::os::unix::fs::symlink(hactl_bin(), root.join("target/debug/hactl")).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::os::unix::fs::symlink(hactl_bin(), root.join("bin/hactl")).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        Sandbox { dir, stack }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `script` with `bash -e` in the sandbox; panics with its output on failure.
    fn run(&self, what: &str, script: &str) -> String {
        let path =
            format!("{}:{}", self.root().join("bin").display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("bash")
            .args(["-e", "-c", script])
            .current_dir(self.root())
            .env("PATH", path)
            .env("HOME", self.root().join("home"))
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("NO_COLOR", "1")
            // `cargo install` reuses the suite's build and installs into the sandbox.
            .env(
                "CARGO_TARGET_DIR",
                std::env::var_os("CARGO_TARGET_DIR")
                    .map_or_else(|| repo_root().join("target"), PathBuf::from),
            )
            .env("CARGO_INSTALL_ROOT", self.root().join("cargo"))
            .env_remove("HACTL_CONFIG")
            .env_remove("HACTL_STATE_DIR")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run bash");
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(
            out.status.success(),
            "{what} failed (exit {:?}):\n{script}\n--- output ---\n{text}",
            out.status.code()
        );
        text
    }

    /// The sandbox's stack applied, as `scripts/demo.sh` leaves it.
    fn apply(&self) {
        self.run("setup: apply", "./target/debug/hactl apply --auto-approve");
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Whatever a block left applied goes (the stack's own guard would look in its
        // own state directory, not the sandbox's).
        let state = self.root().join("state");
        if state.exists() {
            let _ = Command::new(hactl_bin())
                .args(["--config", "config/ha-stack.toml", "--state-dir", "state"])
                .args(DESTROY_ALL)
                .current_dir(self.root())
                .env("AWS_ENDPOINT_URL", endpoint())
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .output();
        }
        let _ = &self.stack;
    }
}

#[test]
fn every_command_the_docs_quote_runs_as_written() {
    let ci = ci_lines();
    let mut blocks: Vec<Block> = sh_blocks("README.md");
    blocks.extend(sh_blocks("CONTRIBUTING.md"));
    assert!(blocks.len() >= 6, "only {} ```sh blocks found", blocks.len());

    // Lines the suite cannot run: CI runs them, word for word.
    let mut missing = Vec::new();
    for b in &blocks {
        for c in &b.commands {
            if let Some(why) = ci_only(c) {
                if c != "bash .ci/run" && !ci.iter().any(|l| l == c) {
                    missing.push(format!("{}:{}: `{c}` ({why}) is not in .ci/run", b.file, b.line));
                }
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));

    // The rest runs here, block by block, against an applied stack.
    let sandbox = Sandbox::new();
    sandbox.apply();
    let mut ran = 0;
    for b in &blocks {
        let lines: Vec<&String> = b.commands.iter().filter(|c| ci_only(c).is_none()).collect();
        if lines.is_empty() {
            continue;
        }
        let script = lines.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n");
        let out = sandbox.run(&format!("{}:{}", b.file, b.line), &script);
        println!("{}:{}: ran {} line(s)\n{out}", b.file, b.line, lines.len());
        ran += lines.len();
        // A block that destroys the stack leaves the next one a stack to work on.
        if lines.iter().any(|l| l.contains(" destroy ")) {
            sandbox.apply();
        }
    }
    let inline = quoted_inline();
    assert!(
        inline.iter().any(|(at, c)| at.starts_with("config/") && c.starts_with("hactl validate")),
        "{inline:?}"
    );
    assert!(inline.iter().any(|(at, _)| at.starts_with("README.md")), "{inline:?}");
    for (at, c) in &inline {
        sandbox.run(at, c);
        ran += 1;
    }
    println!("{ran} documented commands ran");
    assert!(ran >= 20, "only {ran} commands ran");
}

#[test]
fn inline_commands_are_found_outside_fences_and_in_comments() {
    let md =
        "Run `hactl plan` now.\n```sh\nhactl apply # `hactl x`\n```\nthen `hactl output url` or `cargo x`";
    let found: Vec<String> = inline_commands("d", md, false).into_iter().map(|(_, c)| c).collect();
    assert_eq!(found, ["hactl plan", "hactl output url"]);
    let toml = "# Check it with `hactl validate`.\nname = \"`hactl no`\"\n";
    let found: Vec<String> = inline_commands("c", toml, true).into_iter().map(|(_, c)| c).collect();
    assert_eq!(found, ["hactl validate"]);
}

#[test]
fn doc_lines_are_read_as_the_shell_reads_them() {
    assert_eq!(command_of("hactl plan   # a comment").as_deref(), Some("hactl plan"));
    assert_eq!(command_of("# only a comment"), None);
    assert_eq!(command_of("   "), None);
    assert_eq!(
        command_of(r#"eval "$(bash scripts/emulator.sh env)"      # AWS_ENDPOINT_URL"#).as_deref(),
        Some(r#"eval "$(bash scripts/emulator.sh env)""#)
    );
    assert_eq!(command_of("echo 'a # b'").as_deref(), Some("echo 'a # b'"));
    assert_eq!(command_of("x#y").as_deref(), Some("x#y"));
}
