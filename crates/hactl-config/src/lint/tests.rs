use super::*;
use hactl_core::{Address, ResourceSpec, Value};

/// A small valid stack without findings: one public Fargate service, PostgreSQL.
const BASE: &str = include_str!("../../../../config/fargate-postgres.toml");
const HA_STACK: &str = include_str!("../../../../config/ha-stack.toml");
const TWO_REGION: &str = include_str!("../../../../config/two-region.toml");

fn report(text: &str) -> Report {
    lint("t.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// BASE with `from` (which must be in it) replaced by `to` once.
fn edited(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from:?} is no longer in config/fargate-postgres.toml");
    BASE.replacen(from, to, 1)
}

/// The 1-based line of the only occurrence of `needle` (after its leading newlines).
fn line_of(text: &str, needle: &str) -> usize {
    assert_eq!(text.matches(needle).count(), 1, "{needle:?} is not in the text exactly once");
    let skip = needle.len() - needle.trim_start_matches('\n').len();
    let at = text.find(needle).unwrap_or_default() + skip;
    text[..at].matches('\n').count() + 1
}

/// The report's one finding, which must be of `rule` at `needle`'s line, for `field`.
fn assert_only(text: &str, rule: &Rule, needle: &str, field: &str) -> Finding {
    let r = report(text);
    assert_eq!(r.findings.len(), 1, "{}", r.to_text());
    let f = r.findings[0].clone();
    assert_eq!((f.rule, f.level, f.field.as_str()), (rule.id, rule.level, field), "{}", r.to_text());
    assert_eq!(f.line, line_of(text, needle), "{}", r.to_text());
    assert!(f.column >= 1 && f.allowed.is_none() && !f.message.contains('\n'), "{f:?}");
    f
}

fn assert_clean(text: &str) {
    let r = report(text);
    assert!(r.findings.is_empty(), "{}", r.to_text());
}

#[test]
fn rules_have_stable_ids_kebab_names_levels_and_one_line_reasons() {
    let got: Vec<(&str, &str, Level)> = rules().iter().map(|r| (r.id, r.name, r.level)).collect();
    assert_eq!(
        got,
        [
            ("HL001", "open-ingress-app-data", Level::Error),
            ("HL002", "database-outside-data-tier", Level::Error),
            ("HL003", "unencrypted-storage", Level::Error),
            ("HL004", "tls-below-1-2", Level::Error),
            ("HL005", "single-nat-gateway", Level::Warning),
            ("HL006", "short-backup-retention", Level::Warning),
            ("HL007", "deletion-protection-off", Level::Warning),
            ("HL008", "single-task-service", Level::Warning),
            ("HL009", "wildcard-task-role-action", Level::Error),
        ]
    );
    for r in rules() {
        assert!(r.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{r:?}");
        assert!(!r.reason.is_empty() && !r.reason.contains('\n') && !r.reason.contains("  "), "{r:?}");
    }
    assert_eq!(serde_json::to_value(Level::Warning).ok(), Some(serde_json::json!("warning")));
}

#[test]
fn the_base_config_has_no_findings() {
    assert_clean(BASE);
}

#[test]
fn hl001_the_world_into_the_app_or_data_tier() {
    let rule = |group: &str, cidr: &str| {
        format!("{BASE}\n[[security.extra_ingress]]\ngroup = \"{group}\"\nport = 22\ncidr = \"{cidr}\"\n")
    };
    let f = assert_only(
        &rule("app", "0.0.0.0/0"),
        &HL001,
        "cidr = \"0.0.0.0/0\"",
        "security.extra_ingress[0].cidr",
    );
    assert_eq!(f.column, 8);
    assert!(f.message.contains("0.0.0.0/0 (tcp 22)") && f.message.contains("app tier"), "{}", f.message);
    assert_clean(&rule("app", "10.20.0.0/16"));
    // The load balancer's group faces the world by design.
    assert_clean(&rule("alb", "0.0.0.0/0"));

    let acl = |tier: &str, ports: &str| {
        format!(
            "{BASE}\n[[network_acls.extra_rules]]\ntier = \"{tier}\"\nrule_number = 1000\n{ports}\n\
             cidr = \"0.0.0.0/0\"\n"
        )
    };
    let text = acl("app", "port = 22");
    assert_only(&text, &HL001, "cidr = \"0.0.0.0/0\"", "network_acls.extra_rules[0].cidr");
    // The tasks' answers (32768 up) from anywhere are how a stateless ACL lets them back in...
    assert_clean(&acl("app", "from_port = 40000\nto_port = 65535"));
    assert_clean(&acl("public", "port = 22"));
    // ...unless a service listens there (hactl closes such a port in its own entries).
    let text = acl("app", "from_port = 40000\nto_port = 65535").replacen("port = 80\n", "port = 50000\n", 1);
    assert_only(&text, &HL001, "cidr = \"0.0.0.0/0\"", "network_acls.extra_rules[0].cidr");
}

#[test]
fn hl002_the_database_port_from_outside_the_app_tier() {
    let rule_on = |port: u16, source: &str| {
        format!("{BASE}\n[[security.extra_ingress]]\ngroup = \"db\"\nport = {port}\n{source}\n")
    };
    let rule = |source: &str| rule_on(5432, source);
    let text = rule("cidr = \"10.20.0.0/24\"");
    let f = assert_only(&text, &HL002, "cidr = \"10.20.0.0/24\"", "security.extra_ingress[0].cidr");
    assert!(f.message.contains("database port 5432"), "{}", f.message);
    let text = rule("source_group = \"alb\"");
    assert_only(&text, &HL002, "source_group = \"alb\"", "security.extra_ingress[0].source_group");
    // The app tier itself, by group or by one of its subnets; another port of the group.
    assert_clean(&rule("source_group = \"app\""));
    assert_clean(&rule("cidr = \"10.20.10.0/24\""));
    assert_clean(&rule_on(9187, "cidr = \"10.20.0.0/24\""));

    let acl = format!(
        "{BASE}\n[[network_acls.extra_rules]]\ntier = \"data\"\nrule_number = 1000\nport = 5432\n\
         cidr = \"10.20.0.0/16\"\n"
    );
    assert_only(&acl, &HL002, "\ncidr = \"10.20.0.0/16\"", "network_acls.extra_rules[0].cidr");
    assert_clean(&acl.replace("\ncidr = \"10.20.0.0/16\"", "\ncidr = \"10.20.11.0/24\""));
    // The world on the database port: both rules.
    let r = report(&acl.replace("\ncidr = \"10.20.0.0/16\"", "\ncidr = \"0.0.0.0/0\""));
    let ids: Vec<&str> = r.findings.iter().map(|f| f.rule).collect();
    assert_eq!(ids, ["HL001", "HL002"], "{}", r.to_text());
}

#[test]
fn hl005_a_single_nat_gateway_in_either_region() {
    let text = edited("nat = \"per-az\"", "nat = \"single\"");
    let f = assert_only(&text, &HL005, "nat = \"single\"", "network.nat");
    assert!(f.message.contains("us-east-1a"), "{}", f.message);
    let r = report(TWO_REGION);
    let fields: Vec<(&str, &str)> = r.findings.iter().map(|f| (f.rule, f.field.as_str())).collect();
    assert_eq!(fields, [("HL005", "network.nat"), ("HL005", "dr.network.nat")], "{}", r.to_text());
    let per_az = TWO_REGION.replace("nat = \"single\"", "nat = \"per-az\"");
    assert_clean(&per_az);
}

#[test]
fn hl006_hl007_backups_and_deletion_protection() {
    let text = edited("backup_retention_days = 7", "backup_retention_days = 3");
    assert_only(&text, &HL006, "backup_retention_days = 3", "database.backup_retention_days");
    let text = edited("deletion_protection = true", "deletion_protection = false # off");
    assert_only(&text, &HL007, "false # off", "database.deletion_protection");
    // The defaults (7 days, protection on) are fine.
    let text = edited("backup_retention_days = 7\n", "").replacen("deletion_protection = true\n", "", 1);
    assert_clean(&text);
}

#[test]
fn hl008_services_that_can_run_one_task_or_none() {
    let text = edited("min = 2\nmax = 8", "min = 1\nmax = 8");
    assert_only(&text, &HL008, "min = 1", "services[0].autoscaling.min");
    let start = BASE.find("[services.autoscaling]").unwrap_or_default();
    let end = BASE.find("# PostgreSQL on RDS").unwrap_or_default();
    let no_scaling = format!("{}{}", &BASE[..start], &BASE[end..]);
    let text = no_scaling.replacen("desired_count = 2", "desired_count = 1", 1);
    let f = assert_only(&text, &HL008, "desired_count = 1", "services[0].desired_count");
    assert!(f.message.contains("\"api\""), "{}", f.message);
    assert_clean(&no_scaling);
    let night =
        "requests_per_target = 500\n\n[[services.autoscaling.schedule]]\nname = \"night\"\nat = \"20:00\"\n\
                 min = 0\nmax = 2\n";
    let text = edited("requests_per_target = 500\n", night);
    assert_only(&text, &HL008, "min = 0", "services[0].autoscaling.schedule[0].min");
    assert_clean(&text.replace("min = 0\nmax = 2", "min = 2\nmax = 4"));
    // The DR region's standby counts are meant to be low (two-region.toml: web = 1).
    assert!(TWO_REGION.contains("[dr.desired_counts]\nweb = 1"));
    assert!(report(TWO_REGION).findings.iter().all(|f| f.rule != HL008.id));
}

#[test]
fn hl009_wildcard_actions_in_a_task_role() {
    let statement = |effect: &str, actions: &str| {
        edited(
            "# PostgreSQL on RDS",
            &format!(
                "[[services.task_role_statements]]\neffect = \"{effect}\"\nactions = [{actions}]\n\
                 resources = [\"arn:aws:s3:::assets/*\"]\n\n# PostgreSQL on RDS"
            ),
        )
    };
    let text = statement("Allow", "\"s3:GetObject\", \"s3:Get*\"");
    let f = assert_only(&text, &HL009, "\"s3:Get*\"", "services[0].task_role_statements[0].actions[1]");
    assert_eq!(f.column, line_text(&text, f.line).find("\"s3:Get*\"").unwrap_or_default() + 1);
    for wildcard in ["\"*\"", "\"s3:*\"", "\"s3:?etObject\""] {
        let r = report(&statement("Allow", wildcard));
        assert_eq!(r.findings.len(), 1, "{wildcard}: {}", r.to_text());
    }
    assert_clean(&statement("Allow", "\"s3:GetObject\""));
    // Denying broadly takes nothing away from least privilege.
    assert_clean(&statement("Deny", "\"s3:*\""));
}

fn line_text(text: &str, line: usize) -> &str {
    text.lines().nth(line - 1).unwrap_or_default()
}

/// BASE with the ECR repository, RDS Proxy and log analytics domain that the graph rules
/// read too.
fn sink() -> String {
    edited("image = \"public.ecr.aws/nginx/nginx:1.27\"", "image = \"ecr:api:1.0\"")
        + "\n[database.proxy]\n\n[ecr]\nscan_on_push = true\n\n[log_analytics]\n"
}

/// The report of `text` whose expanded graph has `prop` of `address` set to `value`.
fn mutated(text: &str, address: &str, prop: &str, value: Value) -> Report {
    let (cfg, raw) = crate::parse_raw("t.toml", text).unwrap_or_else(|e| panic!("{e}"));
    let graph = expand(&cfg, &ExpandEnv::offline()).unwrap_or_else(|e| panic!("{e}"));
    let target = Address::parse(address).unwrap_or_else(|e| panic!("{e}"));
    assert!(graph.contains(&target), "no {address} in the graph");
    let specs: Vec<ResourceSpec> = graph
        .specs()
        .cloned()
        .map(|mut s| {
            if s.address == target {
                s.props.insert(prop.to_string(), value.clone());
            }
            s
        })
        .collect();
    let graph = DesiredGraph::build(specs).unwrap_or_else(|e| panic!("{e}"));
    lint_graph("t.toml", text, &cfg, &raw, &graph)
}

fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

/// A list property of `address` in `text`'s graph with `extra` appended.
fn appended(text: &str, address: &str, prop: &str, extra: Value) -> Value {
    let cfg = crate::parse("t.toml", text).unwrap_or_else(|e| panic!("{e}"));
    let graph = expand(&cfg, &ExpandEnv::offline()).unwrap_or_else(|e| panic!("{e}"));
    let spec = Address::parse(address).ok().and_then(|a| graph.get(&a).cloned());
    let mut list = spec
        .and_then(|s| s.props.get(prop).and_then(Value::as_list).map(<[Value]>::to_vec))
        .unwrap_or_default();
    list.push(extra);
    Value::List(list)
}

/// One mutation of the graph and the one finding it must give: (address, property, value,
/// rule, field, the line's needle: None for line 1).
type Case = (&'static str, &'static str, Value, Rule, &'static str, Option<&'static str>);

fn check_cases(text: &str, cases: Vec<Case>) {
    assert_clean(text);
    for (address, prop, value, rule, field, needle) in cases {
        let r = mutated(text, address, prop, value);
        let got: Vec<(&str, &str, usize)> =
            r.findings.iter().map(|f| (f.rule, f.field.as_str(), f.line)).collect();
        let line = needle.map_or(1, |n| line_of(text, n));
        assert_eq!(got, [(rule.id, field, line)], "{address}.{prop}: {}", r.to_text());
    }
}

#[test]
fn graph_rules_catch_what_no_config_can_turn_on_in_a_postgres_stack() {
    let text = sink();
    let world_sg = map(&[
        ("protocol", Value::str("tcp")),
        ("from_port", Value::Int(22)),
        ("to_port", Value::Int(22)),
        ("cidr_ipv6", Value::str("::/0")),
    ]);
    let world_acl = map(&[
        ("rule_number", Value::Int(400)),
        ("protocol", Value::str("tcp")),
        ("from_port", Value::Int(5432)),
        ("to_port", Value::Int(5432)),
        ("cidr", Value::str("0.0.0.0/0")),
        ("action", Value::str("allow")),
    ]);
    let not_action = policy_with(map(&[
        ("Effect", Value::str("Allow")),
        ("NotAction", Value::str("iam:*")),
        ("Resource", Value::str("*")),
    ]));
    let db = Some("[database]\n");
    let la = Some("[log_analytics]");
    let cases: Vec<Case> = vec![
        ("db_instance.main", "storage_encrypted", Value::Bool(false), HL003, "database", db),
        ("db_instance.main", "publicly_accessible", Value::Bool(true), HL002, "database", db),
        (
            "db_parameter_group.main",
            "parameters",
            map(&[("rds.force_ssl", Value::str("0"))]),
            HL004,
            "database",
            db,
        ),
        (
            "db_proxy.main",
            "require_tls",
            Value::Bool(false),
            HL004,
            "database.proxy",
            Some("[database.proxy]"),
        ),
        ("s3_bucket.log_failures", "encryption", Value::Null, HL003, "log_analytics", la),
        ("ecr_repository.api", "encryption_type", Value::Null, HL003, "ecr", Some("[ecr]")),
        ("opensearch_domain.logs", "node_to_node_encryption", Value::Bool(false), HL003, "log_analytics", la),
        (
            "opensearch_domain.logs",
            "tls_security_policy",
            Value::str("Policy-Min-TLS-1-0-2019-07"),
            HL004,
            "log_analytics",
            la,
        ),
        (
            "listener.public.https",
            "ssl_policy",
            Value::str("ELBSecurityPolicy-2016-08"),
            HL004,
            "load_balancer",
            Some("[load_balancer]"),
        ),
        ("listener.public.https", "ssl_policy", Value::Null, HL004, "load_balancer", Some("[load_balancer]")),
        (
            "subnet.data.us-east-1b",
            "map_public_ip_on_launch",
            Value::Bool(true),
            HL002,
            "network.data_subnets",
            Some("data_subnets"),
        ),
        (
            "sg_rules.db_proxy",
            "ingress",
            appended(&text, "sg_rules.db_proxy", "ingress", world_sg),
            HL001,
            "security",
            None,
        ),
        (
            "nacl.data",
            "ingress",
            appended(&text, "nacl.data", "ingress", world_acl),
            HL001,
            "network_acls",
            None,
        ),
        ("iam_role.task.api", "inline_policies", not_action, HL009, "services[0]", Some("[[services]]")),
    ];
    check_cases(&text, cases);
}

/// A role's inline policies: one policy holding `statement`.
fn policy_with(statement: Value) -> Value {
    map(&[(
        "extra",
        map(&[("Version", Value::str("2012-10-17")), ("Statement", Value::List(vec![statement]))]),
    )])
}

#[test]
fn graph_rules_catch_what_no_config_can_turn_on_in_a_documentdb_stack_on_ec2() {
    let wildcard = policy_with(map(&[
        ("Effect", Value::str("Allow")),
        ("Action", Value::str("dynamodb:*")),
        ("Resource", Value::str("*")),
    ]));
    let root = map(&[("device_name", Value::str("/dev/xvda")), ("encrypted", Value::Bool(false))]);
    let db = Some("[database]\n");
    let cases: Vec<Case> = vec![
        ("db_cluster.main", "storage_encrypted", Value::Bool(false), HL003, "database", db),
        (
            "db_cluster_parameter_group.main",
            "parameters",
            map(&[("tls", Value::str("disabled"))]),
            HL004,
            "database",
            db,
        ),
        ("launch_template.ecs", "root_volume", root, HL003, "compute", Some("[compute]\n")),
        // The config writes ssl_policy here: the finding points at it.
        (
            "listener.public.https",
            "ssl_policy",
            Value::str("ELBSecurityPolicy-FS-2018-06"),
            HL004,
            "load_balancer.ssl_policy",
            Some("ssl_policy = \"ELB"),
        ),
        (
            "iam_role.task.backend",
            "inline_policies",
            wildcard,
            HL009,
            "services[1]",
            Some("[[services]]  # backend"),
        ),
    ];
    // Marks the second [[services]] header, the backend's, so that it can be found.
    let text =
        HA_STACK.replace("[[services]]\nname = \"backend\"", "[[services]]  # backend\nname = \"backend\"");
    check_cases(&text, cases);
}

#[test]
fn graph_rules_leave_hactls_own_answers_and_closed_ports_alone() {
    // A service port among the tasks' answers: hactl denies it to the world first, so its
    // own answers entry from anywhere is fine.
    assert_clean(&sink().replacen("port = 80\n", "port = 50000\n", 1));
    // A task role wildcard the config wrote is reported once, at its key.
    let text = edited(
        "# PostgreSQL on RDS",
        "[[services.task_role_statements]]\nactions = [\"sqs:*\"]\nresources = [\"*\"]\n\n# PostgreSQL on RDS",
    );
    assert_only(&text, &HL009, "\"sqs:*\"", "services[0].task_role_statements[0].actions[0]");
}

#[test]
fn an_allowed_rule_is_reported_as_allowed_and_counts_as_no_error() {
    let world = "\n[[security.extra_ingress]]\ngroup = \"app\"\nport = 22\ncidr = \"0.0.0.0/0\"\n";
    let allow = "\n[[lint.allow]]\nrule = \"HL001\"\nreason = \"lab stack: SSH from anywhere\"\n";
    let text = format!("{}{world}{allow}", edited("nat = \"per-az\"", "nat = \"single\""));
    let r = report(&text);
    let got: Vec<(&str, Option<&str>)> = r.findings.iter().map(|f| (f.rule, f.allowed.as_deref())).collect();
    assert_eq!(got, [("HL005", None), ("HL001", Some("lab stack: SSH from anywhere"))]);
    assert_eq!((r.errors(), r.warnings(), r.allowed()), (0, 1, 1));
    let without = report(&format!("{}{world}", edited("nat = \"per-az\"", "nat = \"single\"")));
    assert_eq!((without.errors(), without.warnings(), without.allowed()), (1, 1, 0));
    let text_out = r.to_text();
    let line = line_of(&text, "cidr = \"0.0.0.0/0\"");
    let expected = format!(
        "t.toml:{line}:8: allowed[HL001] security.extra_ingress[0] admits 0.0.0.0/0 (tcp 22) to the app tier's \
         security group (reason: lab stack: SSH from anywhere)\n  = why: {}\n",
        HL001.reason
    );
    assert!(text_out.contains(&expected), "{text_out}");
    assert!(text_out.contains(&format!("t.toml:{}:7: warning[HL005] ", line_of(&text, "nat = \"single\""))));
    assert!(text_out.ends_with("t.toml: 0 errors, 1 warning, 1 allowed\n"), "{text_out}");
    assert!(without.to_text().contains(": error[HL001] security.extra_ingress[0] admits"));
    assert_eq!(report(BASE).to_text(), "t.toml: no findings\n");
}

/// The one validation error of BASE + `tail`: (line, field, message, hint).
fn allow_error(tail: &str) -> (usize, String, String, String) {
    let text = format!("{BASE}{tail}");
    let e = match lint("lint.toml", &text) {
        Ok(r) => panic!("validated: {}", r.to_text()),
        Err(e) => e,
    };
    assert_eq!(e.len(), 1, "{e}");
    let e = &e.0[0];
    assert_eq!(e.file, "lint.toml");
    (e.line, e.field.clone(), e.message.clone(), e.hint.clone().unwrap_or_default())
}

#[test]
fn bad_allow_entries_fail_validation_with_file_line_and_field() {
    let base_lines = BASE.lines().count();
    let (line, field, message, hint) = allow_error("\n[[lint.allow]]\nrule = \"HL05\"\nreason = \"dev\"\n");
    assert_eq!((line, field.as_str()), (base_lines + 3, "lint.allow[0].rule"));
    assert!(
        message.contains("unknown lint rule \"HL05\"") && hint.starts_with("did you mean `HL005`?"),
        "{hint}"
    );
    let (_, _, _, hint) = allow_error("\n[[lint.allow]]\nrule = \"single-nat-gateway\"\nreason = \"dev\"\n");
    assert!(hint.starts_with("did you mean `HL005`?"), "{hint}");
    let (line, field, message, _) = allow_error("\n[[lint.allow]]\nrule = \"HL005\"\nreason = \" \"\n");
    assert_eq!((line, field.as_str()), (base_lines + 4, "lint.allow[0].reason"));
    assert!(message.contains("empty"), "{message}");
    let (line, field, message, _) = allow_error("\n[[lint.allow]]\nrule = \"HL005\"\n");
    assert_eq!((line, field.as_str()), (base_lines + 3, "lint.allow[0].reason"));
    assert!(message.contains("needs a reason"), "{message}");
    let twice = "\n[[lint.allow]]\nrule = \"HL005\"\nreason = \"a\"\n\n[[lint.allow]]\nrule = \"HL005\"\nreason = \"b\"\n";
    let (line, field, message, _) = allow_error(twice);
    assert_eq!((line, field.as_str()), (base_lines + 7, "lint.allow[1].rule"));
    assert!(message.contains("allowed twice (also lint.allow[0])"), "{message}");
    // Valid entries parse into the model.
    let ok = format!("{BASE}\n[[lint.allow]]\nrule = \"HL005\"\nreason = \" dev stack \"\n");
    let cfg = crate::parse("t.toml", &ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.lint.allowed("HL005"), Some("dev stack"));
    assert_eq!(cfg.lint.allowed("HL001"), None);
}

/// A report with an error, a warning and an allowed finding.
fn mixed() -> (String, Report) {
    let text = format!(
        "{}\n[[security.extra_ingress]]\ngroup = \"app\"\nport = 22\ncidr = \"0.0.0.0/0\"\n\n\
         [[lint.allow]]\nrule = \"HL006\"\nreason = \"test data only\"\n",
        edited("nat = \"per-az\"", "nat = \"single\"")
            .replace("backup_retention_days = 7", "backup_retention_days = 1")
    );
    let r = lint("config\\lint\\mixed.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.findings.len(), 3, "{}", r.to_text());
    (text, r)
}

#[test]
fn json_is_a_stable_document() {
    let (text, r) = mixed();
    let j = r.to_json();
    let keys: Vec<&str> = j.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(keys, ["format_version", "file", "findings", "errors", "warnings"]);
    assert_eq!(j["format_version"], 1);
    assert_eq!(j["file"], "config\\lint\\mixed.toml");
    assert_eq!((j["errors"].as_u64(), j["warnings"].as_u64()), (Some(1), Some(1)));
    let f = &j["findings"][0];
    assert_eq!(f["rule"], "HL005");
    assert_eq!(f["name"], "single-nat-gateway");
    assert_eq!(f["level"], "warning");
    assert_eq!(f["line"].as_u64(), u64::try_from(line_of(&text, "nat = \"single\"")).ok());
    assert_eq!(f["column"], 7);
    assert_eq!(f["field"], "network.nat");
    assert!(f["allowed"].is_null());
    assert!(f["message"].as_str().is_some_and(|m| m.contains("single")));
    let allowed: Vec<&serde_json::Value> =
        j["findings"].as_array().into_iter().flatten().filter(|f| !f["allowed"].is_null()).collect();
    assert_eq!(allowed.len(), 1);
    assert_eq!(
        (allowed[0]["rule"].as_str(), allowed[0]["allowed"].as_str()),
        (Some("HL006"), Some("test data only"))
    );
}

#[test]
fn sarif_is_a_2_1_0_log_with_every_rule_and_suppressions() {
    let (text, r) = mixed();
    let s = r.to_sarif("0.1.0");
    assert_eq!(s["$schema"], "https://json.schemastore.org/sarif-2.1.0.json");
    assert_eq!(s["version"], "2.1.0");
    let run = &s["runs"][0];
    assert_eq!(s["runs"].as_array().map(Vec::len), Some(1));
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    let driver = &run["tool"]["driver"];
    assert_eq!((driver["name"].as_str(), driver["version"].as_str()), (Some("hactl"), Some("0.1.0")));
    assert_eq!(driver["informationUri"], "https://github.com/hactl/hactl");
    let descriptors = driver["rules"].as_array().cloned().unwrap_or_default();
    assert_eq!(descriptors.len(), 9);
    assert_eq!(descriptors[8]["id"], "HL009");
    assert_eq!(descriptors[8]["name"], "wildcard-task-role-action");
    assert_eq!(descriptors[8]["shortDescription"]["text"], HL009.reason);
    assert_eq!(descriptors[8]["defaultConfiguration"]["level"], "error");
    assert_eq!(descriptors[4]["defaultConfiguration"]["level"], "warning");
    let results = run["results"].as_array().cloned().unwrap_or_default();
    let ids: Vec<(&str, u64, &str)> = results
        .iter()
        .map(|x| {
            (
                x["ruleId"].as_str().unwrap_or(""),
                x["ruleIndex"].as_u64().unwrap_or(99),
                x["level"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(ids, [("HL005", 4, "warning"), ("HL006", 5, "warning"), ("HL001", 0, "error")]);
    let location = &results[2]["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "config/lint/mixed.toml");
    assert_eq!(
        location["region"]["startLine"].as_u64(),
        u64::try_from(line_of(&text, "cidr = \"0.0.0.0/0\"")).ok()
    );
    assert_eq!(location["region"]["startColumn"], 8);
    assert!(results[2]["message"]["text"].as_str().is_some_and(|m| m.contains("0.0.0.0/0")));
    assert!(results[0].get("suppressions").is_none() && results[2].get("suppressions").is_none());
    assert_eq!(
        results[1]["suppressions"],
        serde_json::json!([{"kind": "external", "justification": "test data only"}])
    );
}

#[test]
fn table_headers_are_found_by_path_with_array_indices() {
    let text =
        "[stack]\n[[services]]\n[[services]]\n  [services.autoscaling]\n[[services.autoscaling.schedule]]\n\
                [[services]]\n[services.autoscaling]\n[[services.autoscaling.schedule]]\n";
    let paths: Vec<(String, usize)> =
        table_paths(text, &headers(text)).into_iter().map(|(p, at)| (p, position(text, at).0)).collect();
    let want = [
        ("stack", 1),
        ("services[0]", 2),
        ("services[1]", 3),
        ("services[1].autoscaling", 4),
        ("services[1].autoscaling.schedule[0]", 5),
        ("services[2]", 6),
        ("services[2].autoscaling", 7),
        ("services[2].autoscaling.schedule[0]", 8),
    ];
    let want: Vec<(String, usize)> = want.iter().map(|(p, l)| (p.to_string(), *l)).collect();
    assert_eq!(paths, want);
    assert_eq!(position(text, table_paths(text, &headers(text))[3].1).1, 3, "at the `[`, after the indent");
}
