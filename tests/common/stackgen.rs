//! Synthetic stacks for scale runs (issue 14): config/ha-stack.toml, its own services and
//! database kept, with its stack renamed and N extra internal services (`public = false`)
//! appended: `svc001`, `svc002`, ... on ports 8001, 8002, ..., each small (128 CPU units,
//! 256 MiB), one task, a health check path and a log retention.
//!
//! Every generated service has a port of its own (internal services share the internal load
//! balancer's listener through host-header rules, so any ports do; distinct ones exercise
//! the app tier's one port-range rule). AWS's quota of 100 rules per load balancer refuses
//! a stack with more than 99 extra services (the demo's backend is internal too;
//! `hactl validate` says so).
//!
//! Pure text work: the only I/O is reading config/ha-stack.toml. Used by tests/scale.rs
//! (through tests/common/mod.rs) and by benches/plan.rs (`#[path]`).
#![allow(dead_code)]

use std::path::Path;

/// Resources `hactl validate` counts for config/ha-stack.toml (2 zones), measured
/// 2026-12-03 with `hactl validate --json`. Sizing needs it only to within half a service:
/// tests/scale.rs checks that.
pub const DEMO_RESOURCES: usize = 85;

/// Resources each extra internal service adds, measured the same way (0, 1, 2, 10, 20, 25
/// and 49 services: 82 + 10 N): an ECS service, a task definition, a task role, a log
/// group, a target group, a rule of the internal load balancer's listener and four alarms (CPU,
/// memory, unhealthy targets, response time). tests/scale.rs checks both constants.
pub const RESOURCES_PER_SERVICE: usize = 10;

/// The first generated service's port; service `i` (from 1) listens on `BASE_PORT + i`.
pub const BASE_PORT: u16 = 8000;

/// The marker in config/ha-stack.toml before which the services are inserted (after the
/// demo's own `[[services]]`, so they stay one array of tables).
const DATABASE_MARKER: &str = "# --- Database";

/// How many extra services bring the demo stack closest to `resources` (0 at or below the
/// demo's own size): `services_for(330)` is 25 (332 resources), `services_for(1000)` 92 (1,002).
pub fn services_for(resources: usize) -> usize {
    let extra = resources.saturating_sub(DEMO_RESOURCES);
    (extra + RESOURCES_PER_SERVICE / 2) / RESOURCES_PER_SERVICE
}

/// The resources `internal_services` extra services give (as `hactl validate` counts them).
pub fn resources_for(internal_services: usize) -> usize {
    DEMO_RESOURCES + RESOURCES_PER_SERVICE * internal_services
}

/// The name of the `i`-th generated service (from 1): `svc001`, ..., `svc1000`.
pub fn service_name(i: usize) -> String {
    format!("svc{i:03}")
}

/// config/ha-stack.toml as stack `stack_name` with `internal_services` extra internal
/// services.
pub fn generate(stack_name: &str, internal_services: usize) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ha-stack.toml");
    let base = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    generate_from(&base, stack_name, internal_services)
}

/// [`generate`] over the text of a config (`base`) rather than the demo's.
pub fn generate_from(base: &str, stack_name: &str, internal_services: usize) -> String {
    // The stack's name is the first `name = "..."` line (the one of [stack]); the domains
    // named after the stack follow it, as their defaults would.
    let line = base.lines().find(|l| l.starts_with("name = \"")).expect("the config names its stack");
    let old = line.trim_start_matches("name = \"").trim_end_matches('"');
    let text: String = base
        .replacen(line, &format!("name = \"{stack_name}\""), 1)
        .lines()
        .map(|l| {
            let domain = l.starts_with("domain = \"") || l.starts_with("internal_domain = \"");
            let l = if domain {
                l.replacen(&format!("\"{old}."), &format!("\"{stack_name}."), 1)
            } else {
                l.to_string()
            };
            l + "\n"
        })
        .collect();
    let at = text.find(DATABASE_MARKER).expect("the database marker in ha-stack.toml");
    let mut out = String::with_capacity(text.len() + internal_services * 260);
    out.push_str(&text[..at]);
    if internal_services > 0 {
        out.push_str(&format!(
            "# --- Generated: {internal_services} internal services (tests/common/stackgen.rs) ---\n"
        ));
    }
    for i in 1..=internal_services {
        out.push_str(&service(i));
    }
    out.push_str(&text[at..]);
    out
}

/// The `[[services]]` table of the `i`-th generated service.
fn service(i: usize) -> String {
    let port = usize::from(BASE_PORT) + i;
    assert!(port <= usize::from(u16::MAX), "service {i}: no port left above {BASE_PORT}");
    format!(
        "[[services]]\n\
         name = \"{name}\"\n\
         image = \"public.ecr.aws/docker/library/httpd:2.4-alpine\"\n\
         port = {port}\n\
         public = false\n\
         cpu = 128\n\
         memory = 256\n\
         desired_count = 1\n\
         health_check_path = \"/\"\n\
         log_retention_days = 7\n\n",
        name = service_name(i)
    )
}
