//! docs/ci/github-actions.yml, the workflow a `[ci]` stack's repository copies: it is YAML
//! GitHub can read, its jobs assume the roles `[ci]` makes for what they do (the plan role
//! for pull requests and the drift schedule, the deploy role for pushes), and every
//! `hactl` command it runs exists with the flags it passes (clap parses each line with
//! `--help` appended: an unknown command or flag fails). No emulator needed.

mod common;

use common::*;
use serde_yaml::Value as Y;

fn workflow() -> (String, Y) {
    let text =
        std::fs::read_to_string(repo_root().join("docs/ci/github-actions.yml")).expect("workflow file");
    let doc: Y = serde_yaml::from_str(&text).expect("the workflow is valid YAML");
    (text, doc)
}

fn job<'a>(doc: &'a Y, name: &str) -> &'a Y {
    let job = &doc["jobs"][name];
    assert!(job.is_mapping(), "job `{name}` missing");
    job
}

/// The `run:` scripts of a job, in order.
fn scripts(job: &Y) -> Vec<String> {
    job["steps"]
        .as_sequence()
        .expect("steps")
        .iter()
        .filter_map(|s| s["run"].as_str().map(str::to_string))
        .collect()
}

/// The role a job's configure-aws-credentials step assumes.
fn role(job: &Y) -> String {
    let steps = job["steps"].as_sequence().expect("steps");
    let creds = steps
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@")))
        .expect("a configure-aws-credentials step");
    creds["with"]["role-to-assume"].as_str().expect("role-to-assume").to_string()
}

/// Each hactl command line of a script: from `hactl` to the end of the command (a pipe,
/// a redirection, `;` or `&&`), as words.
fn hactl_commands(script: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in script.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with("cargo install") {
            continue;
        }
        // A command, not words in a quoted string (`echo "### hactl plan"`).
        let Some(at) = line.find("hactl ").filter(|&i| {
            let before = &line[..i];
            (i == 0 || before.ends_with(' ')) && before.matches(['"', '\'']).count() % 2 == 0
        }) else {
            continue;
        };
        let words: Vec<String> = line[at..]
            .split_whitespace()
            .take_while(|w| !matches!(*w, "|" | ">" | ">>" | ";" | "&&" | "||" | "2>&1"))
            .map(str::to_string)
            .collect();
        out.push(words);
    }
    out
}

#[test]
fn the_workflow_parses_and_each_job_assumes_the_role_for_its_work() {
    let (_, doc) = workflow();
    assert_eq!(
        doc["permissions"]["id-token"].as_str(),
        Some("write"),
        "the OIDC token needs id-token: write"
    );
    let on = &doc["on"];
    for trigger in ["pull_request", "push", "schedule"] {
        assert!(on.get(trigger).is_some(), "no `{trigger}` trigger");
    }
    assert!(on["schedule"][0]["cron"].as_str().is_some_and(|c| c.split_whitespace().count() == 5));
    let plan = job(&doc, "plan");
    let deploy = job(&doc, "deploy");
    let drift = job(&doc, "drift");
    assert_eq!(role(plan), "${{ vars.HACTL_PLAN_ROLE_ARN }}");
    assert_eq!(role(drift), "${{ vars.HACTL_PLAN_ROLE_ARN }}");
    assert_eq!(role(deploy), "${{ vars.HACTL_DEPLOY_ROLE_ARN }}");
    assert!(plan["if"].as_str().is_some_and(|c| c.contains("pull_request")));
    assert!(deploy["if"].as_str().is_some_and(|c| c.contains("'push'")));
    assert!(drift["if"].as_str().is_some_and(|c| c.contains("schedule")));
    let has = |job: &Y, cmd: &str| scripts(job).iter().flat_map(|s| hactl_commands(s)).any(|w| w[1] == cmd);
    assert!(has(plan, "plan") && !has(plan, "apply"), "pull requests plan, never apply");
    assert!(scripts(plan).iter().any(|s| s.contains("--json") && s.contains("GITHUB_STEP_SUMMARY")));
    assert!(has(deploy, "apply"));
    assert!(scripts(deploy).iter().any(|s| s.contains("docker push")), "the deploy job pushes images");
    assert!(has(drift, "drift") && !has(drift, "apply"));
}

#[test]
fn every_hactl_command_of_the_workflow_exists_with_its_flags() {
    let (_, doc) = workflow();
    let mut checked = 0;
    for (name, job) in doc["jobs"].as_mapping().expect("jobs") {
        for script in scripts(job) {
            for words in hactl_commands(&script) {
                let out = std::process::Command::new(hactl_bin())
                    .args(&words[1..])
                    .arg("--help")
                    .output()
                    .expect("run hactl");
                assert!(
                    out.status.success(),
                    "job {name:?}: `{}` is not a hactl command line: {}",
                    words.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "only {checked} hactl commands found");
}

#[test]
fn the_command_finder_sees_what_a_script_runs() {
    let found = hactl_commands("set -e\nhactl plan --json --no-progress > plan.json\n# hactl nothing\necho \"### hactl plan\"\necho x | hactl drift\ncargo install hactl");
    assert_eq!(found, [vec!["hactl", "plan", "--json", "--no-progress"], vec!["hactl", "drift"]]);
    // A flag hactl does not have is refused by the same check.
    let out = std::process::Command::new(hactl_bin())
        .args(["plan", "--no-such-flag", "--help"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}
