//! `hactl lint` as a user runs it: every rule a config can trigger has a fixture in
//! config/lint/ that triggers it; the demo configs pass with no error; the SARIF report
//! carries what SARIF 2.1.0 requires of a run; plan and apply refuse a config with an
//! unallowed error before any AWS request (a logging proxy in front of the emulator sees
//! none), and go on once the rule is allowed with a reason.

mod common;

use common::proxy::Proxy;
use common::*;
use serde_json::Value as J;

fn lint(config: &str, format: &str) -> (i32, String) {
    let out = std::process::Command::new(hactl_bin())
        .current_dir(repo_root())
        .args(["--config", config, "lint", "--format", format])
        .env("NO_COLOR", "1")
        .output()
        .expect("run hactl");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn report(config: &str) -> (i32, J) {
    let (code, out) = lint(config, "json");
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{config}: {e}: {out}")))
}

/// The rules each fixture triggers (unallowed), and the line of its `# the finding points
/// here` comment.
#[test]
fn each_fixture_triggers_its_rule_at_its_line_and_exits_by_its_level() {
    let levels: Vec<(&str, &str)> = vec![
        ("HL001", "error"),
        ("HL002", "error"),
        ("HL005", "warning"),
        ("HL006", "warning"),
        ("HL007", "warning"),
        ("HL008", "warning"),
        ("HL009", "error"),
    ];
    for (rule, level) in levels {
        let config = format!("config/lint/{rule}.toml");
        let text = std::fs::read_to_string(repo_root().join(&config)).expect("fixture");
        let line =
            text.lines().position(|l| l.contains("# the finding points here")).expect("marked line") + 1;
        let (code, doc) = report(&config);
        let findings = doc["findings"].as_array().expect("findings");
        let hit = findings
            .iter()
            .find(|f| f["rule"] == rule && f["line"].as_u64() == Some(line as u64))
            .unwrap_or_else(|| panic!("{config}: no {rule} at line {line}: {doc}"));
        assert_eq!(hit["level"], level, "{config}");
        assert_eq!(hit["allowed"], J::Null);
        assert_eq!(code, if level == "error" { 1 } else { 0 }, "{config}: exit code");
        let errors: Vec<&J> = findings.iter().filter(|f| f["level"] == "error").collect();
        assert!(errors.iter().all(|f| f["rule"] == rule), "{config}: other errors: {errors:?}");
    }
}

#[test]
fn the_demo_configs_have_no_errors() {
    for config in [
        "config/ha-stack.toml",
        "config/fargate-postgres.toml",
        "config/two-region.toml",
        "config/multi-region.toml",
    ] {
        let (code, doc) = report(config);
        assert_eq!(code, 0, "{config}: {doc}");
        assert_eq!(doc["errors"], J::from(0), "{config}: {doc}");
    }
    // two-region runs one NAT gateway a region: a warning in each.
    let (_, doc) = report("config/two-region.toml");
    let rules: Vec<&J> = doc["findings"].as_array().expect("findings").iter().map(|f| &f["rule"]).collect();
    assert_eq!(rules, [&J::from("HL005"), &J::from("HL005")]);
}

#[test]
fn sarif_carries_the_tool_its_rules_and_results_with_locations() {
    let (code, out) = lint("config/lint/allowed.toml", "sarif");
    assert_eq!(code, 0, "the only error is allowed");
    let sarif: J = serde_json::from_str(&out).expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    assert!(sarif["$schema"].as_str().is_some_and(|s| s.contains("sarif-2.1.0")), "{}", sarif["$schema"]);
    let runs = sarif["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let driver = &runs[0]["tool"]["driver"];
    assert_eq!(driver["name"], "hactl");
    assert!(driver["version"].as_str().is_some_and(|v| !v.is_empty()));
    let rules = driver["rules"].as_array().expect("rules");
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids, ["HL001", "HL002", "HL003", "HL004", "HL005", "HL006", "HL007", "HL008", "HL009"]);
    for r in rules {
        assert!(r["shortDescription"]["text"].as_str().is_some_and(|t| !t.is_empty()), "{r}");
        assert!(matches!(r["defaultConfiguration"]["level"].as_str(), Some("error" | "warning")), "{r}");
    }
    let results = runs[0]["results"].as_array().expect("results");
    let hit = results.iter().find(|r| r["ruleId"] == "HL009").expect("the HL009 result");
    assert_eq!(hit["level"], "error");
    assert_eq!(rules[hit["ruleIndex"].as_u64().expect("ruleIndex") as usize]["id"], "HL009");
    assert!(hit["message"]["text"].as_str().is_some_and(|t| t.contains("s3:*")), "{hit}");
    let loc = &hit["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "config/lint/allowed.toml");
    assert_eq!(loc["region"]["startLine"], J::from(34));
    assert!(loc["region"]["startColumn"].as_u64().is_some_and(|c| c >= 1));
    let suppression = &hit["suppressions"][0];
    assert!(suppression["justification"].as_str().is_some_and(|j| !j.is_empty()), "{hit}");
}

#[test]
fn plan_and_apply_stop_on_a_lint_error_before_any_request_and_go_on_once_allowed() {
    require_emulator();
    let proxy = Proxy::start(0.0, 1);
    let s = Stack::from_file("lint", "config/lint/HL009.toml");
    for args in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let r = s.command_at(&proxy.endpoint, args).output().expect("run hactl");
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error[HL009]") && stderr.contains("fails 1 policy check"), "{stderr}");
    }
    assert!(proxy.take_log().is_empty(), "no AWS request before the policy checks pass");
    // Allowed with a reason: the plan runs (and reaches AWS).
    s.edit(|t| {
        format!(
            "{t}\n[[lint.allow]]\nrule = \"HL009\"\nreason = \"the bucket is the app's own scratch space\"\n"
        )
    });
    let r = s.command_at(&proxy.endpoint, &["plan"]).output().expect("run hactl");
    assert_eq!(r.status.code(), Some(0), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(!proxy.take_log().is_empty(), "the allowed config's plan reads AWS");
}
