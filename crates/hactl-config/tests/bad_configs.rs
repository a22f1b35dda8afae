//! The config files under `config/`: the demo stack parses into the expected model, and
//! every file under `config/bad/` fails with the error listed in `config/bad/expected.txt`
//! (`file<TAB>line<TAB>field<TAB>message substring`).

use hactl_config::{load, parse, ConfigError, DbEngine, LaunchType, NatMode, RuleSource, Tier};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
}

struct Expected {
    file: String,
    line: usize,
    field: String,
    message: String,
}

fn expected() -> Vec<Expected> {
    let path = config_dir().join("bad/expected.txt");
    let text = std::fs::read_to_string(&path).expect("read config/bad/expected.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert_eq!(cols.len(), 4, "expected.txt: 4 tab-separated columns in {l:?}");
            Expected {
                file: cols[0].to_string(),
                line: cols[1].parse().expect("line number"),
                field: cols[2].to_string(),
                message: cols[3].to_string(),
            }
        })
        .collect()
}

/// The small valid stack that every bad config is a copy of.
const BASE: &str = r#"
[stack]
name = "bad-demo"
region = "us-east-1"

[network]
vpc_cidr = "10.0.0.0/16"
availability_zones = ["us-east-1a", "us-east-1b"]
public_subnets = ["10.0.0.0/24", "10.0.1.0/24"]
app_subnets = ["10.0.10.0/24", "10.0.11.0/24"]
data_subnets = ["10.0.20.0/24", "10.0.21.0/24"]

[[services]]
name = "frontend"
image = "public.ecr.aws/nginx/nginx:1.27"
depends_on = ["backend"]

[[services]]
name = "backend"
image = "public.ecr.aws/docker/library/node:20-alpine"
public = false

[database]
engine = "docdb"
"#;

fn only_error(file: &str, text: &str) -> ConfigError {
    match parse(file, text) {
        Ok(_) => panic!("{file}: parsed without error"),
        Err(errors) => {
            assert_eq!(errors.len(), 1, "{file}: expected one error, got:\n{errors}");
            errors.0[0].clone()
        }
    }
}

#[test]
fn the_base_of_the_bad_configs_is_valid() {
    let config = parse("base.toml", BASE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.services.len(), 2);
}

#[test]
fn every_bad_config_fails_with_the_expected_error() {
    let mut failures = Vec::new();
    for e in expected() {
        let text = std::fs::read_to_string(config_dir().join("bad").join(&e.file))
            .unwrap_or_else(|err| panic!("read {}: {err}", e.file));
        let name = format!("config/bad/{}", e.file);
        let errors = match parse(&name, &text) {
            Ok(_) => {
                failures.push(format!("{}: parsed without error", e.file));
                continue;
            }
            Err(errors) => errors,
        };
        let display = errors.to_string();
        if errors.len() != 1 {
            failures.push(format!("{}: expected exactly one error, got:\n{display}", e.file));
            continue;
        }
        let got = &errors.0[0];
        let mut problems = Vec::new();
        if got.file != name {
            problems.push(format!("file {:?}", got.file));
        }
        if got.line != e.line {
            problems.push(format!("line {} instead of {}", got.line, e.line));
        }
        if got.column == 0 {
            problems.push("column 0".to_string());
        }
        if got.field != e.field {
            problems.push(format!("field {:?} instead of {:?}", got.field, e.field));
        }
        if !got.message.contains(&e.message) {
            problems.push(format!("message {:?} lacks {:?}", got.message, e.message));
        }
        if got.hint.as_deref().is_none_or(|h| h.trim().is_empty()) {
            problems.push("no hint".to_string());
        }
        let source_line = text.lines().nth(e.line.saturating_sub(1)).map(str::to_string);
        if got.source_line != source_line {
            problems.push(format!("source line {:?}", got.source_line));
        }
        let location = format!("{name}:{}:{}", got.line, got.column);
        for needle in [format!("error: {location}: {}: ", e.field), "\n  hint: ".to_string()] {
            if !display.contains(&needle) {
                problems.push(format!("display lacks {needle:?}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}\n{display}", e.file, problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn every_bad_config_is_listed_in_expected_txt() {
    let listed: BTreeSet<String> = expected().into_iter().map(|e| e.file).collect();
    let present: BTreeSet<String> = std::fs::read_dir(config_dir().join("bad"))
        .expect("read config/bad")
        .map(|entry| entry.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    assert_eq!(listed, present);
    assert!(present.len() >= 14);
}

#[test]
fn display_is_rustc_like() {
    let text = std::fs::read_to_string(config_dir().join("bad/unknown-key.toml")).expect("read");
    let errors = parse("config/bad/unknown-key.toml", &text).expect_err("bad config");
    assert_eq!(
        errors.to_string(),
        "error: config/bad/unknown-key.toml:14:1: network.nat_mode: unknown key `nat_mode` in [network]\n\
         \x20  |\n\
         14 | nat_mode = \"single\"\n\
         \x20  | ^\n\
         \x20 hint: did you mean `nat`? valid keys in [network]: vpc_cidr, availability_zones, \
         public_subnets, app_subnets, data_subnets, nat, endpoints\n"
    );
}

#[test]
fn the_demo_stack_parses_into_the_model() {
    let c = load(&config_dir().join("ha-stack.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.stack.name, "ha-demo");
    assert_eq!(c.stack.region, "us-east-1");
    let tags: Vec<(&str, &str)> = c.stack.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(tags, [("Environment", "dev"), ("Owner", "platform"), ("Project", "hactl-demo")]);

    let n = &c.network;
    assert_eq!(n.vpc_cidr.to_string(), "10.0.0.0/16");
    assert_eq!(n.zones.len(), 2);
    let subnets: Vec<String> =
        n.zones.iter().flat_map(|z| [z.public, z.app, z.data]).map(|s| s.to_string()).collect();
    assert_eq!(
        subnets,
        ["10.0.0.0/24", "10.0.10.0/24", "10.0.20.0/24", "10.0.1.0/24", "10.0.11.0/24", "10.0.21.0/24"]
    );
    assert_eq!(n.zones[0].az, "us-east-1a");
    assert_eq!(n.zones[1].az, "us-east-1b");
    assert_eq!(n.nat, NatMode::PerAz);
    assert!(n.s3_gateway_endpoint);
    assert!(n.interface_endpoints.is_empty());

    assert_eq!(c.security.alb_ports, [80, 443]);
    assert_eq!(c.security.alb_ingress_cidrs.len(), 1);
    assert_eq!(c.security.alb_ingress_cidrs[0].to_string(), "0.0.0.0/0");
    assert!(c.security.extra_ingress.is_empty());

    assert_eq!(c.compute.launch_type, LaunchType::Ec2);
    assert_eq!(c.compute.instance_type, "t3.medium");
    assert_eq!((c.compute.min_size, c.compute.desired_capacity, c.compute.max_size), (2, 2, 4));

    assert_eq!(c.services.len(), 2);
    let frontend = &c.services[0];
    assert_eq!(frontend.name, "frontend");
    assert_eq!(frontend.image, "public.ecr.aws/nginx/nginx:1.27");
    assert_eq!(frontend.port, 80);
    assert_eq!(frontend.health_check_path, "/");
    assert_eq!(frontend.health_check.interval, 30);
    assert!(frontend.public);
    assert_eq!(frontend.depends_on, ["backend"]);
    let scaling = frontend.autoscaling.as_ref().expect("frontend autoscaling");
    assert_eq!((scaling.min, scaling.max), (2, 6));
    let backend = &c.services[1];
    assert_eq!(backend.name, "backend");
    assert_eq!(backend.image, "public.ecr.aws/docker/library/httpd:2.4-alpine");
    assert_eq!(backend.port, 80);
    assert!(!backend.public);
    assert!(backend.depends_on.is_empty());
    assert!(backend.autoscaling.is_none());
    assert_eq!(c.app_ports(), [80]);
    assert_eq!(c.internal_ports(), [80]);
    assert!(c.load_balancer.https);
    assert_eq!(c.load_balancer.domain, "ha-demo.example.com");
    assert!(c.load_balancer.certificate_arn.is_none());

    let db = c.database.as_ref().expect("database");
    assert_eq!(db.engine, DbEngine::Docdb);
    assert_eq!(db.instances, 2);
    assert_eq!(db.instance_class, "db.r5.large");
    assert_eq!(db.port, 27017);
    assert_eq!(c.db_port(), 27017);
    assert!(db.deletion_protection);

    assert_eq!(c.alarms.email, None);
    assert!(!c.drift.alarm);
}

#[test]
fn defaults_fill_the_optional_sections() {
    let text = BASE.replace("[database]\nengine = \"docdb\"\n", "[database]\nengine = \"postgres\"\n");
    let c = parse("defaults.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.network.nat, NatMode::PerAz);
    assert_eq!(c.security.alb_ports, [80, 443]);
    assert_eq!((c.compute.min_size, c.compute.max_size, c.compute.desired_capacity), (2, 4, 2));
    let s = &c.services[1];
    assert_eq!((s.port, s.cpu, s.memory, s.desired_count), (3000, 256, 512, 2));
    assert_eq!((s.health_check_path.as_str(), s.log_retention_days), ("/api/health", 30));
    let db = c.database.as_ref().expect("database");
    assert_eq!((db.instances, db.port, db.instance_class.as_str()), (1, 5432, "db.t3.medium"));
    assert_eq!((db.username.as_str(), db.db_name.as_str()), ("hactladmin", "app"));
    assert_eq!((db.backup_retention_days, db.secret_recovery_window_days), (7, 7));
    assert_eq!((c.alarms.cpu_threshold, c.alarms.memory_threshold), (80.0, 80.0));
    assert_eq!(c.drift.schedule, None);
}

#[test]
fn extra_ingress_rules_are_parsed() {
    let text = format!(
        "{BASE}\n[[security.extra_ingress]]\ngroup = \"app\"\nport = 22\ncidr = \"10.0.0.0/16\"\n\
         description = \"ssh\"\n\n[[security.extra_ingress]]\ngroup = \"db\"\nprotocol = \"tcp\"\n\
         from_port = 5000\nto_port = 5010\nsource_group = \"app\"\n\n[[security.extra_ingress]]\n\
         group = \"alb\"\nprotocol = \"-1\"\nsource_group = \"alb\"\n"
    );
    let c = parse("rules.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let rules = &c.security.extra_ingress;
    assert_eq!(rules.len(), 3);
    assert_eq!((rules[0].group, rules[0].from_port, rules[0].to_port), (Tier::App, 22, 22));
    assert_eq!(rules[0].source, RuleSource::Cidr("10.0.0.0/16".parse().expect("cidr")));
    assert_eq!(rules[0].description.as_deref(), Some("ssh"));
    assert_eq!((rules[1].group, rules[1].from_port, rules[1].to_port), (Tier::Db, 5000, 5010));
    assert_eq!(rules[1].source, RuleSource::Group(Tier::App));
    assert_eq!((rules[2].protocol.as_str(), rules[2].from_port, rules[2].to_port), ("-1", -1, -1));
}

#[test]
fn a_config_with_many_mistakes_reports_all_of_them() {
    let text = BASE
        .replace("name = \"bad-demo\"", "name = \"Bad Demo\"")
        .replace("vpc_cidr = \"10.0.0.0/16\"", "vpc_cidr = \"10.0.0.1/16\"")
        .replace("[\"us-east-1a\", \"us-east-1b\"]", "[\"us-east-1a\", \"us-east-1a\"]")
        .replace("[\"10.0.20.0/24\", \"10.0.21.0/24\"]", "[\"10.0.20.0/24\", \"10.0.0.0/23\"]")
        .replace("depends_on = [\"backend\"]", "depends_on = [\"backnd\"]\nport = 0")
        .replace("public = false", "public = false\nenvironment = { DB_HOST = \"x\" }")
        .replace("engine = \"docdb\"", "engine = \"mongo\"\nbackup_retention_days = 90");
    let errors = parse("multi.toml", &text).expect_err("many mistakes");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "stack.name",
            "network.vpc_cidr",
            "network.availability_zones[1]",
            "network.data_subnets[1]",
            "network.data_subnets[1]",
            "services[0].depends_on[0]",
            "services[0].port",
            "services[1].environment.DB_HOST",
            "database.engine",
            "database.backup_retention_days",
        ],
        "\n{errors}"
    );
    // In source order, each with a position and a hint, all in the display.
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    assert!(errors.iter().all(|e| e.line > 0 && e.column > 0 && e.hint.is_some()));
    let display = errors.to_string();
    for e in &errors {
        assert!(display.contains(&format!("multi.toml:{}:{}: {}: ", e.line, e.column, e.field)));
    }
    assert_eq!(display.matches("error: multi.toml:").count(), 10, "{display}");
    assert!(display.ends_with('\n') && !display.ends_with("\n\n"), "{display}");
    // The overlap names both subnets; the unknown dependency suggests the right one.
    assert!(errors.0[3].message.contains("overlaps network.public_subnets[0] (10.0.0.0/24)"), "{display}");
    assert!(errors.0[4].message.contains("overlaps network.public_subnets[1] (10.0.1.0/24)"), "{display}");
    assert!(errors.0[5].hint.as_deref().unwrap_or_default().contains("did you mean `backend`?"));
}

#[test]
fn partially_overlapping_blocks_are_reported_with_both_names() {
    let text = BASE.replace("[\"10.0.10.0/24\", \"10.0.11.0/24\"]", "[\"10.0.10.0/23\", \"10.0.11.0/24\"]");
    let e = only_error("overlap.toml", &text);
    assert_eq!(e.field, "network.app_subnets[1]");
    assert_eq!(e.message, "10.0.11.0/24 overlaps network.app_subnets[0] (10.0.10.0/23)");
    assert!(e.hint.as_deref().unwrap_or_default().contains("is free"));
}

#[test]
fn unknown_keys_get_a_did_you_mean_hint() {
    let cases = [
        ("vpc_cidr = \"10.0.0.0/16\"", "vpc_cdir = \"10.0.0.0/16\"", "network.vpc_cdir", "`vpc_cidr`"),
        ("public = false", "pubic = false", "services[1].pubic", "`public`"),
        ("engine = \"docdb\"", "engine = \"docdb\"\ninstance = 2", "database.instance", "`instances`"),
        ("[database]", "[databse]", "databse", "`database`"),
    ];
    for (from, to, field, suggestion) in cases {
        let e = only_error("typo.toml", &BASE.replace(from, to));
        assert_eq!(e.field, field);
        let hint = e.hint.unwrap_or_default();
        assert!(hint.starts_with(&format!("did you mean {suggestion}?")), "{field}: {hint}");
    }
    // Nothing close: no suggestion, but the list of valid keys.
    let e = only_error("typo.toml", &BASE.replace("public = false", "colour = \"blue\""));
    let hint = e.hint.unwrap_or_default();
    assert!(!hint.contains("did you mean") && hint.contains("health_check_path"), "{hint}");
}

#[test]
fn misspelt_and_misshapen_table_headers_are_named() {
    let services = "[[services]]\nname = \"frontend\"\nimage = \"public.ecr.aws/nginx/nginx:1.27\"\n";
    let with = |tail: &str| format!("{}{tail}", BASE.split("[[services]]").next().unwrap_or_default());
    // (text, line, field, message, hint start)
    let cases = [
        (
            with("[servicez]\nname = \"a\"\n"),
            13,
            "servicez",
            "unknown section `servicez`",
            "did you mean `services`?",
        ),
        (
            with("[[servicez]]\nname = \"a\"\n"),
            13,
            "servicez",
            "unknown section `servicez`",
            "did you mean `services`?",
        ),
        (
            with(&format!("{services}[services.autoscalng]\nmin = 1\nmax = 2\n")),
            16,
            "services[0].autoscalng",
            "unknown key `autoscalng` in [services]",
            "did you mean `autoscaling`?",
        ),
        // A misspelt `[[x]]` header makes the next sub-table a duplicate in TOML's eyes.
        (
            with(&format!(
                "{services}[services.environment]\nA = \"1\"\n[[servicez]]\nname = \"b\"\n\
                 [services.environment]\nB = \"2\"\n"
            )),
            18,
            "servicez",
            "unknown section `servicez`",
            "did you mean `services`?",
        ),
        (
            with(&format!(
                "{services}[services.autoscaling]\nmin = 1\nmax = 2\n[[services]]\nname = \"b\"\n\
                 [services.autoscalng]\nmin = 1\n[services.autoscalng]\nmax = 2\n"
            )),
            21,
            "services[1].autoscalng",
            "unknown key `autoscalng` in [services]",
            "did you mean `autoscaling`?",
        ),
        (
            with(&format!("{services}\n[[compute]]\nlaunch_type = \"ec2\"\n")),
            17,
            "compute",
            "`compute` is a table, not an array of tables",
            "write its header with single brackets: `[compute]`",
        ),
        (
            with(&format!("{services}[[services.environment]]\nA = \"1\"\n")),
            16,
            "services[0].environment",
            "`environment` is a table, not an array of tables",
            "write its header with single brackets: `[services.environment]`",
        ),
        (
            with(&format!("{services}[[resource_tags.\"vpc.main\"]]\nA = \"1\"\n")),
            16,
            "resource_tags.\"vpc.main\"",
            "`\"vpc.main\"` is a table, not an array of tables",
            "write its header with single brackets: `[resource_tags.\"vpc.main\"]`",
        ),
        (
            with(&format!("{services}[security.extra_ingress]\ngroup = \"app\"\n")),
            16,
            "security.extra_ingress",
            "`extra_ingress` is an array of tables, not a table",
            "write each entry as a `[[security.extra_ingress]]` table",
        ),
        (
            format!("services = [\"frontend\"]\n{}", with("")),
            1,
            "services[0]",
            "wrong type: expected a table, found string \"frontend\"",
            "write each entry as a `[[services]]` table",
        ),
    ];
    for (text, line, field, message, hint) in &cases {
        let e = only_error("headers.toml", text);
        assert_eq!((e.line, e.field.as_str()), (*line, *field), "{e}");
        assert!(e.message.contains(message), "{e}");
        assert!(e.hint.as_deref().unwrap_or_default().starts_with(hint), "{e}");
    }
    // The duplicate the misspelt header caused is named in the hint.
    let e = only_error("headers.toml", &cases[3].0);
    assert!(e.hint.as_deref().unwrap_or_default().contains("the TOML error at line 20"), "{e}");
}

/// Every range-checked key, out of range at once: each message has the one wording
/// "KEY N is out of range: use a whole number from LO to HI" (or "use a number from LO to
/// HI", "use a number greater than LO and at most HI", "use a prefix length from /LO to
/// /HI"), and no message or hint writes a range as `lo..=hi`, `[lo, hi]` or `(lo, hi]`.
#[test]
fn range_errors_share_one_wording() {
    let text = r#"
[stack]
name = "bad-demo"
region = "us-east-1"

[network]
vpc_cidr = "10.0.0.0/8"
availability_zones = ["us-east-1a", "us-east-1b"]
public_subnets = ["10.0.0.0/29", "10.0.1.0/24"]
app_subnets = ["10.0.10.0/24", "10.0.11.0/24"]
data_subnets = ["10.0.20.0/24", "10.0.21.0/24"]

[security]
alb_ports = [0, 443]

[[security.extra_ingress]]
group = "app"
port = 70000
cidr = "10.0.0.0/16"

[[security.extra_ingress]]
group = "app"
protocol = "icmp"
from_port = -2
to_port = 256
cidr = "10.0.0.0/16"

[compute]
min_size = -1
max_size = 5000000000
desired_capacity = -2
service_stable_timeout = 10
root_volume_size = 8

[load_balancer]
idle_timeout = 0

[[services]]
name = "frontend"
image = "public.ecr.aws/nginx/nginx:1.27"
port = 0
cpu = 64
memory = 64
desired_count = 5001
health_check_interval = 400
health_check_timeout = 1
healthy_threshold = 1
unhealthy_threshold = 11
health_check_grace_period = -1
deregistration_delay = 3601

[services.autoscaling]
min = -1
max = 0
cpu_target = 0.5
memory_target = 101.0
requests_per_target = 0

[database]
engine = "docdb"
instances = 17
port = 65536
backup_retention_days = 36
secret_recovery_window_days = 6

[alarms]
cpu_threshold = 0.0
memory_threshold = 100.5
period = 30
evaluation_periods = 0
http_5xx_threshold = -1.0
response_time_threshold = 3601.0
db_connections_threshold = 0.0
replica_lag_threshold = 0.0
free_storage_threshold = 65537.0
"#;
    let errors = parse("ranges.toml", text).expect_err("out of range");
    let fields: Vec<&str> =
        errors.iter().filter(|e| e.message.contains("out of range")).map(|e| e.field.as_str()).collect();
    let expected = [
        "network.vpc_cidr",
        "network.public_subnets[0]",
        "security.alb_ports[0]",
        "security.extra_ingress[0].port",
        "security.extra_ingress[1].from_port",
        "security.extra_ingress[1].to_port",
        "compute.min_size",
        "compute.max_size",
        "compute.desired_capacity",
        "compute.service_stable_timeout",
        "compute.root_volume_size",
        "load_balancer.idle_timeout",
        "services[0].port",
        "services[0].cpu",
        "services[0].memory",
        "services[0].desired_count",
        "services[0].health_check_interval",
        "services[0].health_check_timeout",
        "services[0].healthy_threshold",
        "services[0].unhealthy_threshold",
        "services[0].health_check_grace_period",
        "services[0].deregistration_delay",
        "services[0].autoscaling.min",
        "services[0].autoscaling.max",
        "services[0].autoscaling.cpu_target",
        "services[0].autoscaling.memory_target",
        "services[0].autoscaling.requests_per_target",
        "database.instances",
        "database.port",
        "database.backup_retention_days",
        "database.secret_recovery_window_days",
        "alarms.cpu_threshold",
        "alarms.memory_threshold",
        "alarms.period",
        "alarms.evaluation_periods",
        "alarms.http_5xx_threshold",
        "alarms.response_time_threshold",
        "alarms.db_connections_threshold",
        "alarms.replica_lag_threshold",
        "alarms.free_storage_threshold",
    ];
    assert_eq!(fields, expected, "\n{errors}");
    let number = |s: &str| s.parse::<f64>().is_ok();
    let whole = |s: &str| s.parse::<i64>().is_ok();
    let prefix = |s: &str| s.strip_prefix('/').is_some_and(whole);
    let two = |rest: &str, sep: &str, ok: &dyn Fn(&str) -> bool| {
        rest.split_once(sep).is_some_and(|(lo, hi)| ok(lo) && ok(hi))
    };
    for e in errors.iter().filter(|e| e.message.contains("out of range")) {
        let key = e.field.rsplit('.').next().unwrap_or_default().split('[').next().unwrap_or_default();
        let rest = e.message.split_once(" is out of range: ").map(|(_, r)| r).unwrap_or_default();
        let wording = if let Some(r) = rest.strip_prefix("use a whole number from ") {
            two(r, " to ", &whole)
        } else if let Some(r) = rest.strip_prefix("use a number from ") {
            two(r, " to ", &number)
        } else if let Some(r) = rest.strip_prefix("use a number greater than ") {
            two(r, " and at most ", &number)
        } else if let Some(r) = rest.strip_prefix("use a prefix length from ") {
            two(r, " to ", &prefix)
        } else {
            false
        };
        let named = e.message.starts_with(&format!("{key} "))
            || e.field == "network.vpc_cidr"
            || key == "public_subnets";
        assert!(wording && named, "{e}");
    }
    for e in &errors {
        for text in [e.message.as_str(), e.hint.as_deref().unwrap_or_default()] {
            assert!(!text.contains("..") && !text.contains(", 100]") && !text.contains("(0,"), "{e}");
        }
    }
}

#[test]
fn ec2_only_keys_are_refused_on_fargate() {
    let keys = [
        ("instance_type", "\"t3.large\""),
        ("ami", "\"ami-0123456789abcdef0\""),
        ("min_size", "1"),
        ("max_size", "3"),
        ("desired_capacity", "1"),
        ("root_volume_size", "40"),
        ("root_device_name", "\"/dev/xvda\""),
    ];
    let compute = |launch_type: &str| {
        let lines: Vec<String> = keys.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        format!("{BASE}\n[compute]\nlaunch_type = \"{launch_type}\"\n{}\n", lines.join("\n"))
    };
    // On EC2 (and by default) every one of them is used.
    parse("ec2.toml", &compute("ec2")).unwrap_or_else(|e| panic!("{e}"));
    let text = compute("fargate");
    let errors = parse("fargate.toml", &text).expect_err("EC2-only keys on Fargate");
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    let expected: Vec<String> = keys.iter().map(|(k, _)| format!("compute.{k}")).collect();
    assert_eq!(fields, expected, "\n{errors}");
    for (e, (key, _)) in errors.iter().zip(keys) {
        let line = text.lines().position(|l| l.starts_with(&format!("{key} = "))).map(|i| i + 1);
        assert_eq!(Some(e.line), line, "{e}");
        assert!(e.message.contains(&format!("compute.{key} is set but launch_type is \"fargate\"")), "{e}");
        assert!(e.message.contains("only applies to launch_type = \"ec2\""), "{e}");
        assert!(
            e.hint.as_deref().unwrap_or_default().contains("remove it, or set launch_type = \"ec2\""),
            "{e}"
        );
    }
    // Keys both launch types use stay accepted on Fargate.
    let text = format!(
        "{BASE}\n[compute]\nlaunch_type = \"fargate\"\ncontainer_insights = false\nservice_stable_timeout = 600\n"
    )
    .replace("public = false", "public = false\ncpu = 512\nmemory = 1024");
    parse("fargate.toml", &text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_fargate_demo_stack_is_valid() {
    let c = load(&config_dir().join("fargate-postgres.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.compute.launch_type, LaunchType::Fargate);
    assert_eq!(c.database.as_ref().map(|d| d.engine), Some(DbEngine::Postgres));
}

#[test]
fn enum_values_list_the_allowed_ones() {
    let text = BASE.replace("public = false", "public = false\n\n[compute]\nlaunch_type = \"farget\"");
    let e = only_error("enum.toml", &text);
    assert_eq!(e.field, "compute.launch_type");
    assert_eq!(e.hint.as_deref(), Some("did you mean `fargate`? allowed values: \"ec2\" or \"fargate\""));
}

#[test]
fn tables_implied_by_sub_table_headers_are_located() {
    // `[[security.extra_ingress]]` without `[security]`, and a key missing from a table that
    // only exists through its sub-table.
    let text = format!(
        "{BASE}\n[[security.extra_ingress]]\ngroup = \"app\"\nport = 22\ncidr = \"10.0.0.0/16\"\nfoo = 1\n"
    );
    let e = only_error("implicit.toml", &text);
    assert_eq!(
        (e.field.as_str(), e.message.as_str()),
        ("security.extra_ingress[0].foo", "unknown key `foo` in [security.extra_ingress]")
    );
    let e =
        only_error("implicit.toml", "[stack]\nname = \"a\"\nregion = \"us-east-1\"\n[network.endpoints]\n");
    assert_eq!((e.line, e.field.as_str()), (4, "network.vpc_cidr"));
}

#[test]
fn rule_and_dependency_mistakes() {
    let rule = |body: &str| format!("{BASE}\n[[security.extra_ingress]]\ngroup = \"app\"\n{body}\n");
    let cases = [
        (rule("cidr = \"10.0.0.0/8\""), "security.extra_ingress[0].port", "a tcp rule needs a port"),
        (rule("port = 22"), "security.extra_ingress[0].cidr", "the rule has no source"),
        (
            rule("protocol = \"-1\"\nport = 22\ncidr = \"10.0.0.0/8\""),
            "security.extra_ingress[0].port",
            "takes no `port`",
        ),
        (
            rule("from_port = 90\nto_port = 80\ncidr = \"10.0.0.0/8\""),
            "security.extra_ingress[0].from_port",
            "from_port (90) is greater than to_port (80)",
        ),
        (
            rule("protocol = \"sctp\"\nport = 1\ncidr = \"10.0.0.0/8\""),
            "security.extra_ingress[0].protocol",
            "\"sctp\"",
        ),
        (
            BASE.replace("depends_on = [\"backend\"]", "depends_on = [\"backend\", \"backend\"]"),
            "services[0].depends_on[1]",
            "duplicate dependency",
        ),
    ];
    for (text, field, message) in cases {
        let e = only_error("rule.toml", &text);
        assert_eq!(e.field, field, "{e}");
        assert!(e.message.contains(message), "{e}");
    }
}

#[test]
fn syntax_errors_locate_the_key() {
    let e = only_error("syntax.toml", &BASE.replace("public = false", "public = false\nport = 30 00"));
    assert_eq!(e.field, "services[1].port");
    assert!(e.message.starts_with("TOML syntax error"), "{e}");
    let e = only_error("dup.toml", &BASE.replace("public = false", "public = false\npublic = true"));
    assert_eq!(e.field, "services[1].public");
    assert!(e.message.contains("duplicate key"), "{e}");
}

#[test]
fn load_names_the_path_and_reports_unreadable_files() {
    let path = config_dir().join("bad/wrong-type.toml");
    let errors = load(&path).expect_err("bad config");
    assert_eq!(errors.0[0].file, path.display().to_string());
    assert!(errors.to_string().contains(&format!("{}:18:8: services[0].port", path.display())));

    let missing = config_dir().join("bad/does-not-exist.toml");
    let errors = load(&missing).expect_err("missing file");
    assert_eq!(errors.len(), 1);
    let e = &errors.0[0];
    assert_eq!((e.line, e.column, e.source_line.as_deref()), (0, 0, None));
    assert!(e.message.contains("cannot read"));
    assert!(errors.to_string().starts_with(&format!("error: {}: cannot read", missing.display())));
}
