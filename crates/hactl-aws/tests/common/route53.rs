//! Helpers of the Route 53 provider tests (tests/route53.rs, tests/route53_private.rs).

use hactl_core::{Address, Props, Value};
use hactl_engine::{LiveObject, ReadTarget};
use std::collections::BTreeMap;

pub fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

pub fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

pub fn props(pairs: Vec<(&str, Value)>) -> Props {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

pub fn bare(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

pub fn changed(p: &dyn hactl_engine::Provider, desired: &Props, live: &LiveObject) -> Vec<String> {
    p.diff(desired, &live.props).into_iter().map(|c| c.name).collect()
}

/// Calls of a read, without the service prefix.
pub fn ops(calls: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    calls.iter().map(|(k, n)| (k.trim_start_matches("Route 53:").to_string(), *n)).collect()
}
