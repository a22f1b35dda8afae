//! The shape of the code (issue 12): no function in crates/*/src longer than 120 lines.
//! A long function is where a blueprint hides; this reads the sources as text (comments
//! and string literals stripped before braces are counted), no build needed.

mod common;

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 120;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The line without its `//` comment, string and char literals (so braces inside them
/// do not count).
fn code_of(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        match (in_str, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => in_str = false,
            (true, _) => {}
            (false, '"') => in_str = true,
            (false, '/') if chars.peek() == Some(&'/') => break,
            // A char literal such as '{' (not a lifetime: those have no closing quote
            // two characters on).
            (false, '\'') => {
                let rest: String = chars.clone().take(3).collect();
                if rest.chars().nth(1) == Some('\'') {
                    chars.nth(1);
                } else if rest.starts_with('\\') && rest.chars().nth(2) == Some('\'') {
                    chars.nth(2);
                }
            }
            (false, _) => out.push(c),
        }
    }
    out
}

fn is_fn_start(code: &str) -> bool {
    let t = code.trim_start();
    let t = t.strip_prefix("pub(crate) ").or_else(|| t.strip_prefix("pub(super) ")).unwrap_or(t);
    let t = t.strip_prefix("pub ").unwrap_or(t);
    let t = t.strip_prefix("const ").unwrap_or(t);
    let t = t.strip_prefix("async ").unwrap_or(t);
    let t = t.strip_prefix("unsafe ").unwrap_or(t);
    t.starts_with("fn ")
}

/// (first line, length, name) of every function in `text` longer than `max` lines.
fn long_functions(text: &str, max: usize) -> Vec<(usize, usize, String)> {
    let lines: Vec<String> = text.lines().map(code_of).collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if !is_fn_start(l) {
            continue;
        }
        let (mut depth, mut opened, mut end) = (0i64, false, i);
        for (j, l) in lines.iter().enumerate().skip(i) {
            for c in l.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            end = j;
            if (opened && depth <= 0) || (!opened && l.trim_end().ends_with(';')) {
                break;
            }
        }
        let len = end - i + 1;
        if len > max {
            let name = l.split("fn ").nth(1).unwrap_or("").split(['(', '<']).next().unwrap_or("").to_string();
            out.push((i + 1, len, name));
        }
    }
    out
}

#[test]
fn the_counter_finds_a_long_function_and_ignores_braces_in_strings() {
    let body = "    let x = \"}}}\"; // }\n".repeat(MAX_LINES);
    let text = format!("pub async fn big() {{\n{body}}}\nfn small() {{ let c = '{{'; }}\n");
    assert_eq!(long_functions(&text, MAX_LINES), vec![(1, MAX_LINES + 2, "big".to_string())]);
    assert!(long_functions(&text, MAX_LINES + 2).is_empty());
}

#[test]
fn no_function_in_the_crates_is_longer_than_120_lines() {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(common::repo_root().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (line, len, name) in long_functions(&text, MAX_LINES) {
            long.push(format!("{}:{line}: fn {name} is {len} lines", f.display()));
        }
    }
    assert!(long.is_empty(), "functions over {MAX_LINES} lines:\n{}", long.join("\n"));
}
