//! Records the git commit the binary is built from (`hactl version`): `HACTL_COMMIT` when
//! set (a build from a source archive), else `git rev-parse`, else "unknown".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HACTL_COMMIT");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Rebuild when HEAD moves (a new commit, another branch).
    for f in [".git/HEAD", ".git/index"] {
        let p = root.join(f);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    let commit = std::env::var("HACTL_COMMIT").ok().filter(|c| !c.is_empty()).unwrap_or_else(|| {
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(&root)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        match git(&["rev-parse", "--short=12", "HEAD"]) {
            Some(c) if !c.is_empty() => {
                let dirty =
                    git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
                if dirty {
                    format!("{c}-dirty")
                } else {
                    c
                }
            }
            _ => "unknown".to_string(),
        }
    });
    println!("cargo:rustc-env=HACTL_COMMIT={commit}");
    println!(
        "cargo:rustc-env=HACTL_TARGET={}",
        std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string())
    );
}
