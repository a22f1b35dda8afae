//! Listing the same zones (with their subnets) or the same services in another order is a
//! cosmetic edit: the expanded graph is the same, address for address, so a plan after
//! such an edit replaces, deletes and updates nothing.

use hactl_config::expand::{expand, AccountId, ExpandEnv};
use hactl_config::parse;
use hactl_core::DesiredGraph;
use std::collections::BTreeSet;
use std::path::Path;

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn graph(name: &str, text: &str) -> DesiredGraph {
    let cfg = parse(name, text).unwrap_or_else(|e| panic!("{name}:\n{e}"));
    let env = ExpandEnv::account(AccountId::parse("123456789012").expect("account id"));
    expand(&cfg, &env).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The text with the one-line array of `key = [...]` (first occurrence) reversed.
fn reverse_array(text: &str, key: &str) -> String {
    let start = text.find(&format!("\n{key} = [")).unwrap_or_else(|| panic!("no `{key} = [` line"));
    let open = start + text[start..].find('[').unwrap_or_default() + 1;
    let close = open + text[open..].find(']').unwrap_or_else(|| panic!("`{key}` is not closed"));
    let items: Vec<&str> = text[open..close].split(',').map(str::trim).collect();
    assert!(items.len() >= 2, "{key}: {items:?}");
    let reversed: Vec<&str> = items.into_iter().rev().collect();
    format!("{}{}{}", &text[..open], reversed.join(", "), &text[close..])
}

fn zones_reversed(text: &str) -> String {
    ["availability_zones", "public_subnets", "app_subnets", "data_subnets"]
        .iter()
        .fold(text.to_string(), |t, key| reverse_array(&t, key))
}

/// Every difference between two graphs: addresses, kinds, properties, dependencies.
fn differences(a: &DesiredGraph, b: &DesiredGraph) -> Vec<String> {
    let addrs = |g: &DesiredGraph| g.specs().map(|s| s.address.clone()).collect::<BTreeSet<_>>();
    let (left, right) = (addrs(a), addrs(b));
    let mut out: Vec<String> =
        left.symmetric_difference(&right).map(|x| format!("{x}: only in one")).collect();
    for x in left.intersection(&right) {
        let (sa, sb) = (a.get(x).expect("listed"), b.get(x).expect("listed"));
        if sa.kind != sb.kind {
            out.push(format!("{x}: kind {} vs {}", sa.kind, sb.kind));
        }
        let keys: BTreeSet<&String> = sa.props.keys().chain(sb.props.keys()).collect();
        for k in keys {
            if sa.props.get(k) != sb.props.get(k) {
                out.push(format!("{x}.{k}: {:?} vs {:?}", sa.props.get(k), sb.props.get(k)));
            }
        }
        let deps = |g: &DesiredGraph| g.dependencies(x).into_iter().collect::<BTreeSet<_>>();
        if deps(a) != deps(b) {
            out.push(format!("{x}: dependencies {:?} vs {:?}", deps(a), deps(b)));
        }
    }
    out
}

fn assert_same_graph(name: &str, edited: &str) {
    let text = read(name);
    assert_ne!(text, edited, "{name}: the edit changed nothing");
    let (a, b) = (graph(name, &text), graph(name, edited));
    assert!(a.len() > 30, "{name}: only {} resources", a.len());
    let diff = differences(&a, &b);
    assert!(diff.is_empty(), "{name}: {} differences:\n{}", diff.len(), diff.join("\n"));
}

#[test]
fn reversed_zones_expand_to_the_same_graph_ha_stack() {
    let text = read("ha-stack.toml");
    let edited = zones_reversed(&text);
    assert!(edited.contains("availability_zones = [\"us-east-1b\", \"us-east-1a\"]"), "{edited}");
    assert!(edited.contains("data_subnets = [\"10.0.21.0/24\", \"10.0.20.0/24\"]"), "{edited}");
    assert_same_graph("ha-stack.toml", &edited);
}

#[test]
fn reversed_zones_expand_to_the_same_graph_fargate_postgres() {
    let edited = zones_reversed(&read("fargate-postgres.toml"));
    assert!(edited.contains("availability_zones = [\"us-east-1b\", \"us-east-1a\"]"), "{edited}");
    assert_same_graph("fargate-postgres.toml", &edited);
}

#[test]
fn reversed_zones_with_three_docdb_instances_and_a_single_nat() {
    // Three instances over two zones and one shared NAT gateway: what depended on the
    // first listed zone now depends on the zones' names.
    let text = read("ha-stack.toml")
        .replace("instances = 2", "instances = 3")
        .replace("\nnat = \"per-az\"", "\nnat = \"single\"");
    assert!(text.contains("instances = 3") && text.contains("nat = \"single\""));
    let a = graph("ha-stack.toml", &text);
    let b = graph("ha-stack.toml", &zones_reversed(&text));
    let diff = differences(&a, &b);
    assert!(diff.is_empty(), "{} differences:\n{}", diff.len(), diff.join("\n"));
}

#[test]
fn reversed_services_expand_to_the_same_graph() {
    // Services are `[[services]]` tables; move the first one (frontend) to the end.
    let text = read("ha-stack.toml");
    let first = text.find("\n[[services]]").expect("a service");
    let second = first + 1 + text[first + 1..].find("\n[[services]]").expect("two services");
    let end = second + text[second..].find("\n# --- Database").expect("database section");
    let edited = format!("{}{}{}{}", &text[..first], &text[second..end], &text[first..second], &text[end..]);
    let cfg = parse("ha-stack.toml", &edited).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.services[0].name, "backend", "the edit reorders the services");
    assert_same_graph("ha-stack.toml", &edited);
}
