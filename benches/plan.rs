//! Benchmark (not a test): wall time, AWS API calls and peak memory of hactl against the
//! local emulator, for config/ha-stack.toml over 2 and 4 availability zones and for the
//! scale sizes of issue 14 (about 78, 330 and 1,000 resources: the demo plus generated
//! internal services, tests/common/stackgen.rs). For each stack: apply from scratch, a
//! no-change plan (median of 5, each must exit 0 with --detailed-exitcode), drift (must
//! exit 0 on the untouched stack) and destroy; each with its API calls and the peak
//! resident memory of the hactl process (`/usr/bin/time -f %M`; "n/a" without it). A size
//! that `hactl validate` refuses (an AWS quota) is printed as `refused: <hactl's error>`.
//! Then the API calls of the largest stack's no-change plan by operation (next to the
//! demo's, so reads that grow with the stack stand out) and by AWS service and kind.
//! Each stack is measured on a freshly reset emulator, and the no-change plans after two
//! unmeasured ones (see [`WARM_PLANS`]).
//! Prints markdown, ready for CONTRIBUTING.md; exits 1 when a check failed.
//!
//! Run with `bash scripts/bench.sh` (starts the emulator, builds hactl in release mode,
//! then `cargo bench --profile dev --bench plan`: the harness in the dev profile, reusing
//! the tests' dependencies). Environment:
//! - `HACTL_BENCH_BIN`: the hactl binary to measure (default `target/release/hactl`),
//!   e.g. a debug build while working on the bench:
//!   `HACTL_BENCH_BIN=$PWD/target/debug/hactl cargo bench --profile dev --bench plan` with
//!   the emulator's environment (`eval "$(bash scripts/emulator.sh env)"`); bench.sh then
//!   skips the release build.
//! - `HACTL_BENCH_SIZES`: the sizes in resources, comma-separated (default `78,330,1000`);
//!   each becomes the demo plus the internal services closest to it.

#[path = "../tests/common/stackgen.rs"]
mod stackgen;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PLAN_RUNS: usize = 5;
/// Unmeasured plans between apply and the measured ones. The emulator answers slower for
/// a while after a large apply (its Python process collecting the garbage of a thousand
/// creates: a 1,005-resource plan takes 1.0-1.2 s right after apply, 0.9 s some seconds
/// later, with the same calls), which AWS does not do; the first one's time is printed
/// next to the median.
const WARM_PLANS: usize = 2;
const DEFAULT_SIZES: &str = "78,330,1000";
const TIME: &str = "/usr/bin/time";
const DESTROY: [&str; 5] = [
    "destroy",
    "--auto-approve",
    "--allow-delete-protected",
    "--skip-final-snapshot",
    "--force-delete-secrets",
];

fn hactl_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("HACTL_BENCH_BIN") {
        let bin = PathBuf::from(bin);
        assert!(bin.exists(), "HACTL_BENCH_BIN={} does not exist", bin.display());
        return bin;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("release").join("hactl");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build --release -p hactl` (scripts/bench.sh does) or set HACTL_BENCH_BIN",
        bin.display()
    );
    bin
}

/// `text` (a stack config) over `azs` zones, with a /24 per zone and tier.
fn with_azs(text: &str, azs: usize) -> String {
    let zones: Vec<String> = "abcdef".chars().take(azs).map(|c| format!("\"us-east-1{c}\"")).collect();
    let cidrs =
        |base: usize| (0..azs).map(|i| format!("\"10.0.{}.0/24\"", base + i)).collect::<Vec<_>>().join(", ");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = if line.starts_with("availability_zones =") {
            format!("availability_zones = [{}]", zones.join(", "))
        } else if line.starts_with("public_subnets =") {
            format!("public_subnets = [{}]", cidrs(0))
        } else if line.starts_with("app_subnets =") {
            format!("app_subnets = [{}]", cidrs(10))
        } else if line.starts_with("data_subnets =") {
            format!("data_subnets = [{}]", cidrs(20))
        } else {
            line.to_string()
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// One hactl process.
struct Run {
    elapsed: Duration,
    api_calls: u64,
    by_operation: BTreeMap<String, u64>,
    code: i32,
    /// Peak resident set size in KiB (`None` without /usr/bin/time).
    max_rss_kib: Option<u64>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The first line of hactl's error, the config's path left out.
    fn error_line(&self, cfg: &Path) -> String {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .or_else(|| self.stderr.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or("(no message)");
        let line = line.strip_prefix("error: ").unwrap_or(line);
        let path = format!("{}:", cfg.display());
        line.strip_prefix(&path)
            .map_or(line, |rest| rest.split_once(' ').map_or(rest, |(_, r)| r))
            .to_string()
    }
}

/// Runs hactl on `cfg` (under /usr/bin/time when there is one), whatever its exit code.
fn hactl(cfg: &Path, state: &Path, args: &[&str]) -> Run {
    let rss_file = state.with_extension("rss");
    let timed = Path::new(TIME).exists();
    let mut c = if timed {
        let mut c = Command::new(TIME);
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(hactl_bin());
        c
    } else {
        Command::new(hactl_bin())
    };
    c.arg("--config").arg(cfg).arg("--state-dir").arg(state).arg("--stats").arg("--no-progress").args(args);
    let t0 = Instant::now();
    let out = c.output().expect("run hactl");
    let elapsed = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stats: serde_json::Value = stderr
        .lines()
        .find_map(|l| l.strip_prefix("hactl-stats "))
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let by_operation = stats["by_operation"]
        .as_object()
        .map(|m| m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect())
        .unwrap_or_default();
    // GNU time writes "Command exited with non-zero status N" first, then the figure.
    let max_rss_kib = timed
        .then(|| std::fs::read_to_string(&rss_file).ok())
        .flatten()
        .and_then(|t| t.lines().rev().find(|l| !l.trim().is_empty()).and_then(|l| l.trim().parse().ok()));
    Run {
        elapsed,
        api_calls: stats["api_calls"].as_u64().unwrap_or(0),
        by_operation,
        code: out.status.code().unwrap_or(-1),
        max_rss_kib,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "n/a".to_string(), |k| format!("{:.0} MiB", k as f64 / 1024.0))
}

/// A stack to measure: the demo over `azs` zones with `services` generated services.
struct Case {
    azs: usize,
    services: usize,
}

impl Case {
    fn label(&self) -> String {
        match self.services {
            0 => "demo".to_string(),
            n => format!("demo + {n} internal services"),
        }
    }
}

/// What one case measured.
struct Measured {
    resources: usize,
    /// Resources by kind, from the state file after apply.
    kinds: BTreeMap<String, usize>,
    apply: Run,
    /// The first no-change plan after apply (not in `plans`, see [`WARM_PLANS`]).
    first_plan: Option<Duration>,
    /// The no-change plans, fastest first.
    plans: Vec<Run>,
    drift: Run,
    destroy: Run,
}

impl Measured {
    fn median(&self) -> &Run {
        &self.plans[self.plans.len() / 2]
    }
}

enum Outcome {
    Refused {
        planned: Option<usize>,
        error: String,
    },
    /// Apply failed (what it created is destroyed again): hactl's error.
    Failed {
        planned: Option<usize>,
        error: String,
    },
    Measured(Box<Measured>),
}

/// A stack name of at most 28 characters, unique across runs (the emulator outlives them).
fn stack_name(case: &Case) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("bench{}az{}-{}", case.azs, case.services, (nanos ^ std::process::id()) % 1_000_000)
}

/// Validates, applies, plans, drifts and destroys one stack; `failures` collects the
/// checks that did not hold (the stack is destroyed anyway).
fn run_case(dir: &Path, case: &Case, failures: &mut Vec<String>) -> Outcome {
    let name = stack_name(case);
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, with_azs(&stackgen::generate(&name, case.services), case.azs))
        .expect("write config");
    let state = dir.join(format!("state-{name}"));
    let valid = hactl(&cfg, &state, &["validate", "--json"]);
    let planned = serde_json::from_str::<serde_json::Value>(&valid.stdout)
        .ok()
        .and_then(|v| v["resources"].as_u64())
        .map(|n| n as usize);
    if valid.code != 0 {
        return Outcome::Refused { planned, error: hactl(&cfg, &state, &["validate"]).error_line(&cfg) };
    }
    // Warm the emulator's services so the first measured call is not their start-up.
    hactl(&cfg, &state, &["plan"]);
    let apply = hactl(&cfg, &state, &["apply", "--auto-approve"]);
    if apply.code != 0 {
        let error = apply.error_line(&cfg);
        failures.push(format!("{}: apply failed (exit {}): {error}", case.label(), apply.code));
        let destroy = hactl(&cfg, &state, &DESTROY);
        if destroy.code != 0 {
            failures.push(format!(
                "{}: destroy after the failed apply: {}",
                case.label(),
                destroy.error_line(&cfg)
            ));
        }
        return Outcome::Failed { planned, error };
    }
    let state_json: serde_json::Value = std::fs::read_to_string(state.join(format!("{name}.json")))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let mut kinds = BTreeMap::new();
    for r in state_json["resources"].as_object().into_iter().flat_map(|m| m.values()) {
        *kinds.entry(r["kind"].as_str().unwrap_or("?").to_string()).or_insert(0) += 1;
    }
    let mut check = |ok: bool, what: &str, run: &Run| {
        if !ok {
            failures.push(format!("{}: {what} (exit {}): {}", case.label(), run.code, run.error_line(&cfg)));
        }
    };
    let warm: Vec<Run> =
        (0..WARM_PLANS).map(|_| hactl(&cfg, &state, &["plan", "--detailed-exitcode"])).collect();
    for p in &warm {
        check(p.code == 0, "the first plans after apply found changes or failed", p);
    }
    let mut plans: Vec<Run> =
        (0..PLAN_RUNS).map(|_| hactl(&cfg, &state, &["plan", "--detailed-exitcode"])).collect();
    for p in &plans {
        check(p.code == 0, "the no-change plan found changes or failed", p);
    }
    plans.sort_by_key(|p| p.elapsed);
    let drift = hactl(&cfg, &state, &["drift"]);
    check(drift.code == 0, "drift on the untouched stack", &drift);
    let destroy = hactl(&cfg, &state, &DESTROY);
    check(destroy.code == 0, "destroy failed", &destroy);
    Outcome::Measured(Box::new(Measured {
        resources: kinds.values().sum(),
        kinds,
        apply,
        first_plan: warm.first().map(|p| p.elapsed),
        plans,
        drift,
        destroy,
    }))
}

fn row(case: &Case, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Refused { planned, error } | Outcome::Failed { planned, error } => {
            let what = if matches!(outcome, Outcome::Refused { .. }) { "refused" } else { "FAILED" };
            // A refused config has no count from hactl: the generator's estimate.
            let resources = planned.map_or_else(
                || format!("~{}", stackgen::resources_for(case.services)),
                |n| format!("{n} (planned)"),
            );
            format!("| {} | {} | {resources} | {what}: {error} | | | |", case.label(), case.azs)
        }
        Outcome::Measured(m) => {
            let plan = m.median();
            let plan_rss = m.plans.iter().filter_map(|p| p.max_rss_kib).max();
            format!(
                "| {} | {} | {} | {}, {} calls, {} | {} (min {}, first after apply {}), {} calls, {} | {}, {} calls, exit {}, {} | {}, {} calls, {} |",
                case.label(),
                case.azs,
                m.resources,
                secs(m.apply.elapsed),
                m.apply.api_calls,
                mib(m.apply.max_rss_kib),
                secs(plan.elapsed),
                secs(m.plans[0].elapsed),
                m.first_plan.map_or_else(|| "-".to_string(), secs),
                plan.api_calls,
                mib(plan_rss),
                secs(m.drift.elapsed),
                m.drift.api_calls,
                m.drift.code,
                mib(m.drift.max_rss_kib),
                secs(m.destroy.elapsed),
                m.destroy.api_calls,
                mib(m.destroy.max_rss_kib),
            )
        }
    }
}

/// The AWS service (as `--stats` names it) that serves a resource kind.
fn service_of(kind: &str) -> String {
    let prefix = kind.split('.').next().unwrap_or(kind);
    match prefix {
        "ec2" => "EC2",
        "ecs" => "ECS",
        "elbv2" => "Elastic Load Balancing v2",
        "autoscaling" => "Auto Scaling",
        "appautoscaling" => "Application Auto Scaling",
        "iam" => "IAM",
        "logs" => "CloudWatch Logs",
        "acm" => "ACM",
        "secretsmanager" => "Secrets Manager",
        "docdb" => "DocDB",
        "rds" => "RDS",
        "sns" => "SNS",
        "cloudwatch" => "CloudWatch",
        "scheduler" => "Scheduler",
        "ecr" => "ECR",
        "route53" => "Route 53",
        "s3" => "S3",
        other => other,
    }
    .to_string()
}

/// The calls of the largest stack's no-change plan by AWS service, against the kinds and
/// resources that service holds.
fn print_by_service(m: &Measured) {
    // service -> (kinds, resources, calls)
    let mut t: BTreeMap<String, (usize, usize, u64)> = BTreeMap::new();
    for (kind, n) in &m.kinds {
        let e = t.entry(service_of(kind)).or_default();
        e.0 += 1;
        e.1 += n;
    }
    for (op, n) in &m.median().by_operation {
        let service = op.split_once(':').map_or(op.as_str(), |(s, _)| s);
        t.entry(service.to_string()).or_default().2 += n;
    }
    println!("| AWS service | kinds | resources | calls | calls per kind |");
    println!("|---|---|---|---|---|");
    for (service, (kinds, resources, calls)) in &t {
        let per_kind =
            if *kinds == 0 { "-".to_string() } else { format!("{:.1}", *calls as f64 / *kinds as f64) };
        println!("| {service} | {kinds} | {resources} | {calls} | {per_kind} |");
    }
    let calls: u64 = t.values().map(|v| v.2).sum();
    println!(
        "| all | {} | {} | {calls} | {:.1} |",
        m.kinds.len(),
        m.resources,
        calls as f64 / m.kinds.len().max(1) as f64
    );
}

/// The calls of the largest stack's no-change plan by operation, next to the demo's, most
/// first, with the calls each generated service adds: 1 or more is a read per object, a
/// fraction a batched read (so many objects per call).
fn print_by_operation(demo: &Measured, largest: &Measured, services: usize) {
    let (d, l) = (&demo.median().by_operation, &largest.median().by_operation);
    let mut ops: Vec<&String> = d.keys().chain(l.keys()).collect::<BTreeSet<_>>().into_iter().collect();
    ops.sort_by_key(|op| (std::cmp::Reverse(l.get(*op).copied().unwrap_or(0)), op.as_str()));
    println!(
        "| operation | demo ({} resources) | {} resources | added per generated service |",
        demo.resources, largest.resources
    );
    println!("|---|---|---|---|");
    let per_service = |a: u64, b: u64| match b.checked_sub(a) {
        Some(0) | None => String::new(),
        Some(added) => format!("{:.2}", added as f64 / services.max(1) as f64),
    };
    for op in ops {
        let (a, b) = (d.get(op).copied().unwrap_or(0), l.get(op).copied().unwrap_or(0));
        println!("| {op} | {a} | {b} | {} |", per_service(a, b));
    }
    let (a, b) = (demo.median().api_calls, largest.median().api_calls);
    println!("| total | {a} | {b} | {} |", per_service(a, b));
}

fn cases() -> Vec<Case> {
    let sizes = std::env::var("HACTL_BENCH_SIZES").unwrap_or_else(|_| DEFAULT_SIZES.to_string());
    let mut services: Vec<usize> = sizes
        .split(',')
        .map(|s| {
            s.trim().parse::<usize>().unwrap_or_else(|_| panic!("HACTL_BENCH_SIZES: `{s}` is not a number"))
        })
        .map(stackgen::services_for)
        .collect();
    services.dedup();
    // The demo over 2 and 4 zones first (the AZ comparison), then the scale sizes.
    let mut out = vec![Case { azs: 2, services: 0 }, Case { azs: 4, services: 0 }];
    out.extend(services.into_iter().filter(|n| *n > 0).map(|n| Case { azs: 2, services: n }));
    out
}

/// Restarts the emulator empty (`scripts/emulator.sh reset`), so each stack is measured on
/// a fresh one: moto keeps records of deleted objects (EC2 tags, for one), which a stack
/// measured after others would read through.
fn reset_emulator() {
    let out = Command::new("bash")
        .arg("scripts/emulator.sh")
        .arg("reset")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run scripts/emulator.sh");
    if !out.status.success() {
        eprintln!("bench: scripts/emulator.sh reset failed:\n{}", String::from_utf8_lossy(&out.stderr));
        std::process::exit(1);
    }
}

fn main() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        eprintln!("AWS_ENDPOINT_URL is not set: run through scripts/bench.sh (it starts the emulator)");
        std::process::exit(1);
    }
    // `cargo bench` passes --bench; nothing else to parse.
    let bin = hactl_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for case in cases() {
        eprintln!("bench: {} over {} AZs ...", case.label(), case.azs);
        reset_emulator();
        let outcome = run_case(dir.path(), &case, &mut failures);
        results.push((case, outcome));
    }
    let build = match std::env::var_os("HACTL_BENCH_BIN") {
        Some(_) => format!("HACTL_BENCH_BIN={}", bin.display()),
        None => "release build".to_string(),
    };
    println!(
        "\nhactl on LocalStack ({build}, wall time of the whole command; plan = median of {PLAN_RUNS}; \
         memory = peak RSS of the hactl process, of the largest of the {PLAN_RUNS} plans)\n"
    );
    println!("| stack | AZs | resources | apply from scratch | no-change plan | drift | destroy |");
    println!("|---|---|---|---|---|---|---|");
    for (case, outcome) in &results {
        println!("{}", row(case, outcome));
    }
    let measured: Vec<(&Case, &Measured)> = results
        .iter()
        .filter_map(|(c, o)| match o {
            Outcome::Measured(m) => Some((c, &**m)),
            Outcome::Refused { .. } | Outcome::Failed { .. } => None,
        })
        .collect();
    let demo: Vec<&Measured> = measured.iter().filter(|(c, _)| c.services == 0).map(|(_, m)| *m).collect();
    let same = demo.windows(2).all(|w| w[0].median().api_calls == w[1].median().api_calls);
    if let [two, four] = demo[..] {
        println!(
            "\nAPI calls of the demo's no-change plan: {} for 2 AZs, {} for 4 AZs: {}",
            two.median().api_calls,
            four.median().api_calls,
            if same { "the same (reads do not grow with zones)" } else { "DIFFERENT: reads grow with zones" }
        );
    }
    if let (Some(first), Some((case, largest))) =
        (demo.first(), measured.iter().max_by_key(|(_, m)| m.resources))
    {
        println!("\nThe no-change plan of the largest stack applied ({}, {} resources), API calls by AWS service:\n", case.label(), largest.resources);
        print_by_service(largest);
        println!("\nThe same plan by operation, next to the demo's (2 AZs):\n");
        print_by_operation(first, largest, case.services);
    }
    println!("\nDESIGN targets (network tier alone): apply < 1.5 s, no-change plan < 0.3 s and <= 10 calls, destroy < 1.5 s.");
    if !same {
        failures.push("the demo's no-change plan makes more calls over 4 AZs than over 2".to_string());
    }
    for f in &failures {
        eprintln!("bench: FAILED: {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
