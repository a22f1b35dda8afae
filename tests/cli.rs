//! The commands a Terraform user reaches for: `output`, `show PLANFILE`, `version`,
//! `completions`, `man`, `validate --json`, `state list --json`, `state rm`,
//! `plan --refresh-only`, and the command-line checks around them. Effects are verified
//! with the SDK; what a command prints is compared with what AWS says.

mod common;

use common::*;
use serde_json::Value as J;
use std::process::Command;

fn hactl_offline(args: &[&str]) -> Run {
    let out = Command::new(hactl_bin())
        .args(args)
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env_remove("HACTL_CONFIG")
        .env_remove("HACTL_STATE_DIR")
        .output()
        .expect("run hactl");
    Run::from(out)
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let r = hactl_offline(&["version"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let head =
        Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(repo_root()).output();
    match head {
        Ok(o) if o.status.success() => {
            let commit = String::from_utf8_lossy(&o.stdout).trim().to_string();
            assert!(r.stdout.contains(&format!("(commit {commit}")), "{} lacks {commit}", r.stdout);
        }
        // Built outside a git checkout: the commit is unknown and says so.
        _ => assert!(r.stdout.contains("(commit unknown"), "{}", r.stdout),
    }
    assert!(r.stdout.starts_with(&format!("hactl {}", env!("CARGO_PKG_VERSION"))), "{}", r.stdout);
    assert_eq!(hactl_offline(&["--version"]).stdout, r.stdout, "--version says the same");
}

#[test]
fn completions_are_scripts_the_shells_accept_and_the_man_page_renders() {
    let r = hactl_offline(&["completions", "bash"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hactl.bash");
    std::fs::write(&script, &r.stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&script).output().expect("bash");
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
    // The script completes the subcommands and their flags.
    for word in ["output", "refresh-only", "completions", "state"] {
        assert!(r.stdout.contains(word), "`{word}` missing from the bash completions");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let r = hactl_offline(&["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("refresh-only"), "{shell} completions lack plan's flags");
    }
    assert_eq!(hactl_offline(&["completions", "tcsh"]).code, 64, "an unknown shell is a usage error");

    let man = hactl_offline(&["man"]);
    assert_eq!(man.code, 0, "{}", man.stderr);
    assert!(man.stdout.contains(".TH hactl 1"), "{}", &man.stdout[..man.stdout.len().min(300)]);
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS"] {
        assert!(man.stdout.contains(section), "man page lacks {section}");
    }
}

/// Every bad config's `validate --json`: one JSON document on stdout, exit 1, its first
/// error at the line and field config/bad/expected.txt names.
#[test]
fn validate_json_gives_file_line_column_field_message_and_hint() {
    let expected = std::fs::read_to_string(repo_root().join("config/bad/expected.txt")).unwrap();
    let mut checked = 0;
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, want_line, field, message) = (cols[0], cols[1], cols[2], cols[3]);
        let path = format!("config/bad/{file}");
        let r = hactl_offline(&["--config", &path, "validate", "--json"]);
        assert_eq!(r.code, 1, "{file}: {}", r.stderr);
        assert!(r.stderr.is_empty(), "{file}: nothing on stderr with --json: {}", r.stderr);
        let doc: J = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{file}: not JSON ({e}): {}", r.stdout));
        assert_eq!(doc["valid"], false, "{file}");
        let errors = doc["errors"].as_array().expect("errors");
        let e = errors
            .iter()
            .find(|e| e["field"] == field)
            .unwrap_or_else(|| panic!("{file}: no error on {field}: {errors:?}"));
        assert_eq!(e["line"].to_string(), want_line, "{file}: line");
        assert!(e["column"].as_u64().is_some_and(|c| c > 0), "{file}: column {e}");
        assert_eq!(e["file"], path.as_str(), "{file}");
        assert!(e["message"].as_str().is_some_and(|m| m.contains(message)), "{file}: message {e}");
        assert!(e.get("hint").is_some(), "{file}: hint key");
        checked += 1;
    }
    assert!(checked >= 70, "only {checked} bad configs checked");
    for good in ["config/ha-stack.toml", "config/fargate-postgres.toml"] {
        let r = hactl_offline(&["--config", good, "validate", "--json"]);
        assert_eq!(r.code, 0, "{good}: {}", r.stdout);
        let doc: J = serde_json::from_str(&r.stdout).expect("json");
        assert_eq!(doc["valid"], true, "{good}");
        assert!(doc["resources"].as_u64().is_some_and(|n| n > 50), "{doc}");
    }
}

#[test]
fn graph_is_clustered_by_tier_and_zone_and_says_which_way_edges_point() {
    let r = hactl_offline(&["graph"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let dot = &r.stdout;
    assert!(dot.starts_with("digraph hactl {"), "{dot}");
    assert!(dot.contains("An edge A -> B means A depends on B"), "{dot}");
    for tier in ["network", "public", "app", "data", "observability", "identity"] {
        assert!(dot.contains(&format!("subgraph \"cluster_{tier}\"")), "no {tier} cluster");
    }
    for zone in ["us-east-1a", "us-east-1b"] {
        for tier in ["public", "app", "data"] {
            assert!(dot.contains(&format!("subgraph \"cluster_{tier}_{zone}\"")), "no {tier}/{zone} cluster");
        }
    }
    // Every resource of the stack is one node; the zone clusters hold that zone's subnets.
    let nodes: Vec<&str> =
        dot.lines().filter(|l| l.contains("[label=")).filter_map(|l| l.trim().split('"').nth(1)).collect();
    let unique: std::collections::BTreeSet<&str> = nodes.iter().copied().collect();
    assert_eq!(nodes.len(), unique.len(), "a node drawn twice");
    let valid: J = serde_json::from_str(&hactl_offline(&["validate", "--json"]).stdout).unwrap();
    assert_eq!(Some(nodes.len() as u64), valid["resources"].as_u64());
    let zone_a = dot.split("subgraph \"cluster_data_us-east-1a\"").nth(1).and_then(|t| t.split('}').next());
    assert!(zone_a.is_some_and(|t| t.contains("\"subnet.data.us-east-1a\"")), "{zone_a:?}");
    // Braces balance (Graphviz is not installed here to parse it).
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
}

/// The crash tests' fault switch is no part of what hactl offers: not in its help, not in
/// the user's docs (CONTRIBUTING.md documents it), and a release build ignores it
/// (`cfg!(debug_assertions)` in fault.rs).
#[test]
fn the_fault_switch_is_not_in_the_documented_surface() {
    let mut help = hactl_offline(&["--help"]).stdout;
    for command in ["plan", "apply", "destroy", "drift"] {
        help.push_str(&hactl_offline(&[command, "--help"]).stdout);
    }
    help.push_str(&hactl_offline(&["man"]).stdout);
    assert!(help.contains("Usage"), "{help}");
    assert!(!help.contains("HACTL_FAULT"), "HACTL_FAULT in the help or man page");
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(!readme.contains("HACTL_FAULT"), "HACTL_FAULT in README.md");
    let main = std::fs::read_to_string(repo_root().join("crates/hactl/src/fault.rs")).unwrap();
    let guard = main.find("fn fault_spec()").and_then(|i| main[i..].find("cfg!(debug_assertions)"));
    assert!(guard.is_some_and(|d| d < 200), "fault_spec() is not guarded by cfg!(debug_assertions)");
}

#[test]
fn command_line_slips_are_refused_with_a_message() {
    // --parallelism 0 would run nothing.
    let r = hactl_offline(&["apply", "--parallelism", "0"]);
    assert_eq!(r.code, 64, "{}", r.stderr);
    assert!(r.stderr.contains("from 1 to 256"), "{}", r.stderr);
    // A global flag a command would otherwise ignore.
    let r = hactl_offline(&["validate", "--region", "mars-1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("--region mars-1 differs from stack.region"), "{}", r.stderr);
    // A state directory with no state in it.
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("stat");
    for args in [vec!["state", "list"], vec!["output"], vec!["state", "rm", "vpc.main"]] {
        let mut a = vec!["--state-dir", typo.to_str().unwrap()];
        a.extend(args.iter().copied());
        let r = hactl_offline(&a);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("no state for stack `ha-demo`"), "{args:?}: {}", r.stderr);
        assert!(!typo.exists(), "{args:?} created the state directory");
    }
    // A config path from HACTL_CONFIG is named as such.
    let out = Command::new(hactl_bin())
        .args(["validate"])
        .current_dir(repo_root())
        .env("HACTL_CONFIG", "config/no-such-file.toml")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("config/no-such-file.toml (from HACTL_CONFIG)"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn output_show_state_json_state_rm_and_refresh_only_on_the_full_stack() {
    let s = Stack::from_file("cli-out", "config/ha-stack.toml");
    let conf = sdk().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let docdb = aws_sdk_docdb::Client::new(&conf);
    let sm = aws_sdk_secretsmanager::Client::new(&conf);
    let sns = aws_sdk_sns::Client::new(&conf);
    let ec2 = ec2().await;
    s.ok(&["apply", "--auto-approve"], 0);

    // output: the URL and the database endpoints as AWS has them.
    let lbs = elb.describe_load_balancers().names(format!("{}-public", s.name)).send().await.expect("lb");
    let dns = lbs.load_balancers()[0].dns_name().expect("dns").to_string();
    assert_eq!(s.ok(&["output", "url"], 0).stdout.trim(), format!("https://{dns}/"));
    let cluster = docdb
        .describe_db_clusters()
        .db_cluster_identifier(format!("{}-docdb", s.name))
        .send()
        .await
        .expect("cluster");
    let cluster = &cluster.db_clusters()[0];
    assert_eq!(s.ok(&["output", "db_endpoint"], 0).stdout.trim(), cluster.endpoint().expect("endpoint"));
    // The secret DocumentDB manages the master password in.
    let managed = cluster.master_user_secret().and_then(|m| m.secret_arn()).expect("a managed secret");
    let secret = sm.describe_secret().secret_id(managed).send().await.unwrap();
    let all: J = serde_json::from_str(&s.ok(&["output", "--json"], 0).stdout).expect("output json");
    assert_eq!(all["db_reader_endpoint"].as_str(), cluster.reader_endpoint());
    assert_eq!(all["db_secret_arn"].as_str(), secret.arn());
    assert_eq!(all["db_port"], 27017);
    assert_eq!(
        all["internal_service_urls"]["backend"],
        format!("http://backend.{}.internal", s.name),
        "{all}"
    );
    let text = s.ok(&["output"], 0).stdout;
    assert!(text.contains(&format!("url = \"https://{dns}/\"")), "{text}");
    assert!(!text.contains("password"), "{text}");
    let r = s.ok(&["output", "nope"], 1);
    assert!(r.stderr.contains("has no output `nope`") && r.stderr.contains("url"), "{}", r.stderr);

    // show: a saved plan reads as plan printed it.
    s.edit(|t| t.replace("Environment = \"dev\"", "Environment = \"test\""));
    let plan_file = s.dir.path().join("p.json");
    let p = plan_file.to_str().unwrap();
    let planned = s.ok(&["plan", "--out", p], 0);
    assert!(planned.stdout.contains("Environment"), "{}", planned.stdout);
    let shown = s.ok(&["show", p], 0);
    assert_eq!(shown.stdout, planned.stdout, "show prints what plan printed");
    let file: J = serde_json::from_slice(&std::fs::read(&plan_file).unwrap()).unwrap();
    let shown_json: J = serde_json::from_str(&s.ok(&["show", p, "--json"], 0).stdout).unwrap();
    assert_eq!(shown_json, file);
    // A plan of another format (an older hactl's: no locations) is refused by its format.
    let mut old = file.clone();
    old["format_version"] = J::from(1);
    let old_file = s.dir.path().join("p1.json");
    std::fs::write(&old_file, serde_json::to_vec(&old).unwrap()).unwrap();
    let r = s.ok(&["show", old_file.to_str().unwrap()], 1);
    assert!(r.stderr.contains("the saved plan has format 1; this hactl reads format 2"), "{}", r.stderr);
    // graph --plan: exactly the plan's updated resources are coloured as updates.
    let dot = s.ok(&["graph", "--plan", p], 0).stdout;
    let updates: std::collections::BTreeSet<String> = file["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "update")
        .map(|a| a["address"].as_str().unwrap().to_string())
        .collect();
    assert!(updates.contains("vpc.main"), "{updates:?}");
    let coloured: std::collections::BTreeSet<String> = dot
        .lines()
        .filter(|l| l.contains("fillcolor=khaki"))
        .filter_map(|l| l.trim().split('"').nth(1).map(str::to_string))
        .collect();
    assert_eq!(coloured, updates, "{dot}");
    s.edit(|t| t.replace("Environment = \"test\"", "Environment = \"dev\""));

    // state list --json: the same entries as the text listing.
    let listed: J = serde_json::from_str(&s.ok(&["state", "list", "--json"], 0).stdout).unwrap();
    let lines = s.ok(&["state", "list"], 0).stdout;
    assert_eq!(listed.as_array().map(Vec::len), Some(lines.lines().count()));
    assert!(listed.as_array().unwrap().iter().any(|e| e["address"] == "vpc.main" && e["kind"] == "ec2.vpc"));

    // refresh-only: an out-of-band tag change is shown, nothing is changed anywhere.
    let vpc = state_id(&s, "vpc.main");
    ec2.create_tags()
        .resources(&vpc)
        .tags(aws_sdk_ec2::types::Tag::builder().key("Owner").value("someone-else").build())
        .send()
        .await
        .unwrap();
    let serial = s.state_serial();
    let r = s.ok(&["plan", "--refresh-only", "--detailed-exitcode"], 2);
    assert!(r.stdout.contains("Refresh only") && r.stdout.contains("vpc.main"), "{}", r.stdout);
    assert!(r.stdout.contains("someone-else"), "{}", r.stdout);
    assert_eq!(s.state_serial(), serial, "refresh-only wrote state");
    let tags = ec2.describe_vpcs().vpc_ids(&vpc).send().await.unwrap().vpcs()[0].tags().to_vec();
    assert!(tags.iter().any(|t| t.key() == Some("Owner") && t.value() == Some("someone-else")), "{tags:?}");
    s.ok(&["apply", "--auto-approve"], 0);
    s.ok(&["plan", "--refresh-only", "--detailed-exitcode"], 0);

    // state rm: forgotten, not deleted; its tags bring it back at the next plan.
    let topic = state_id(&s, "sns_topic.alarms");
    let r = s.ok(&["state", "rm", "sns_topic.alarms"], 0);
    assert!(r.stderr.contains("Removed sns_topic.alarms"), "{}", r.stderr);
    assert!(s.state()["resources"].get("sns_topic.alarms").is_none());
    sns.get_topic_attributes().topic_arn(&topic).send().await.expect("the topic is still in AWS");
    assert_eq!(plan_actions(&s), pairs(&[("sns_topic.alarms", "adopt")]));
    let r = s.ok(&["state", "rm", "sns_topic.alarms", "no.such"], 1);
    assert!(r.stderr.contains("nothing was removed"), "{}", r.stderr);

    s.ok(&DESTROY_ALL, 0);
    assert_eq!(counts(&ec2, &s).await, Counts::default());
}
