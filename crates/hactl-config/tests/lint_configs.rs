//! The lint rules over the repository's configs: the demo configs (`config/*.toml`) have
//! no unallowed error, and each fixture of `config/lint/` (`<rule id>.toml`, a valid
//! config) triggers its rule and no other error rule; `config/lint/allowed.toml` allows
//! the error it triggers.

use hactl_config::lint::{lint_file, rules, Level, Report};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

fn toml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn report(path: &Path) -> Report {
    lint_file(path).unwrap_or_else(|e| panic!("{}: not a valid config:\n{e}", path.display()))
}

/// (rule, field) of each finding.
fn found(r: &Report) -> Vec<(&str, &str)> {
    r.findings.iter().map(|f| (f.rule, f.field.as_str())).collect()
}

#[test]
fn the_demo_configs_have_no_error_and_only_the_known_warnings() {
    let files = toml_files(&config_dir());
    let names: Vec<String> =
        files.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["fargate-postgres.toml", "ha-stack.toml", "multi-region.toml", "two-region.toml"]);
    for path in &files {
        let r = report(path);
        assert_eq!(r.errors(), 0, "{}", r.to_text());
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // two-region.toml keeps costs down with one NAT gateway per region.
        let expected: &[(&str, &str)] = match name.as_str() {
            "two-region.toml" => &[("HL005", "network.nat"), ("HL005", "dr.network.nat")],
            _ => &[],
        };
        assert_eq!(found(&r), expected, "{}", r.to_text());
        assert_eq!(r.warnings(), expected.len());
    }
}

#[test]
fn each_fixture_triggers_its_rule_and_no_other_error_rule() {
    let dir = config_dir().join("lint");
    let mut covered = BTreeSet::new();
    for path in toml_files(&dir) {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if stem == "allowed" {
            continue;
        }
        let rule = rules().iter().find(|r| r.id == stem);
        let rule = rule.unwrap_or_else(|| panic!("{}: not named after a rule id", path.display()));
        let r = report(&path);
        let errors: BTreeSet<&str> =
            r.findings.iter().filter(|f| f.level == Level::Error).map(|f| f.rule).collect();
        let expected: BTreeSet<&str> = if rule.level == Level::Error { [rule.id].into() } else { [].into() };
        assert_eq!(errors, expected, "{}", r.to_text());
        let own: Vec<_> = r.findings.iter().filter(|f| f.rule == rule.id).collect();
        assert_eq!(own.len(), 1, "{}", r.to_text());
        assert!(own[0].allowed.is_none() && own[0].level == rule.level);
        // Each fixture marks the line its finding points at.
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let line = text.lines().nth(own[0].line - 1).unwrap_or_default();
        assert!(
            line.ends_with("# the finding points here"),
            "{}: line {}: {line}",
            path.display(),
            own[0].line
        );
        covered.insert(rule.id);
    }
    // HL003 and HL004 have no fixture: no valid config turns encryption or TLS 1.2 off
    // (validation refuses old TLS policies; hactl always encrypts), so they read the
    // expanded graph only, and the crate's unit tests trigger them on edited graphs.
    let all: BTreeSet<&str> =
        rules().iter().map(|r| r.id).filter(|id| !["HL003", "HL004"].contains(id)).collect();
    assert_eq!(covered, all);
}

#[test]
fn the_allowed_fixture_reports_its_error_as_allowed() {
    let r = report(&config_dir().join("lint/allowed.toml"));
    assert_eq!(found(&r), [("HL009", "services[0].task_role_statements[0].actions[0]")], "{}", r.to_text());
    assert_eq!((r.errors(), r.warnings(), r.allowed()), (0, 0, 1));
    let reason = r.findings[0].allowed.as_deref().unwrap_or_default();
    assert!(reason.contains("assets bucket"), "{reason}");
    assert!(r.to_text().contains(": allowed[HL009] "), "{}", r.to_text());
    let sarif = r.to_sarif("0.0.0");
    assert_eq!(sarif["runs"][0]["results"][0]["suppressions"][0]["justification"], reason);
}
