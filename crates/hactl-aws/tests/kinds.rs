//! The kinds contract (issue 12): every kind declared in `hactl_core::kinds` has a
//! provider registered under the same schema; every kind any config in config/ expands to
//! is declared and registered; every property an expansion sets is in its kind's schema.
//! No AWS call: the registry is built from an offline SDK configuration.

use hactl_core::kinds;
use hactl_core::{DesiredGraph, ResourceSpec};
use hactl_engine::Registry;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn registry() -> Registry {
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    hactl_aws::registry(&sdk, &hactl_aws::ApiCounter::default())
}

/// The desired graph of every config in config/ (not config/bad/), offline.
fn expanded() -> Vec<(String, DesiredGraph)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg = hactl_config::load(&path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            let graph =
                hactl_config::expand::expand(&cfg, &hactl_config::expand::ExpandEnv::offline()).unwrap();
            out.push((path.display().to_string(), graph));
        }
    }
    assert!(out.len() >= 3, "configs found: {}", out.len());
    out
}

/// What is wrong with `spec` against `registry`: an unregistered or undeclared kind, or
/// a property its schema lacks.
fn problems(registry: &Registry, file: &str, spec: &ResourceSpec) -> Vec<String> {
    let mut out = Vec::new();
    if kinds::info(&spec.kind).is_none() {
        out.push(format!(
            "{file}: {} is of kind {}, which hactl_core::kinds does not declare",
            spec.address, spec.kind
        ));
    }
    let Some(schema) = registry.schema(&spec.kind) else {
        out.push(format!(
            "{file}: {} is of kind {}, which no provider is registered for",
            spec.address, spec.kind
        ));
        return out;
    };
    for name in spec.props.keys() {
        if schema.prop(name).is_none() {
            out.push(format!(
                "{file}: {} sets `{name}`, which is not a property of {}",
                spec.address, spec.kind
            ));
        }
    }
    out
}

fn all_problems(registry: &Registry) -> Vec<String> {
    let mut out = Vec::new();
    for (file, graph) in expanded() {
        for spec in graph.specs() {
            out.extend(problems(registry, &file, spec));
        }
    }
    out
}

#[test]
fn every_expanded_kind_is_registered_and_sets_only_its_schemas_properties() {
    let r = registry();
    let problems = all_problems(&r);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The expansions cover most kinds (the others appear with other settings).
    let used: BTreeSet<String> =
        expanded().iter().flat_map(|(_, g)| g.specs().map(|s| s.kind.clone()).collect::<Vec<_>>()).collect();
    assert!(used.len() >= 35, "{used:?}");
}

#[test]
fn the_registry_serves_exactly_the_declared_kinds_with_their_schemas() {
    let r = registry();
    let registered: BTreeSet<&str> = r.kinds().map(|(k, _)| k).collect();
    let declared: BTreeSet<&str> = kinds::all().map(|k| k.schema.kind).collect();
    assert_eq!(registered, declared);
    for k in kinds::all() {
        let schema = r.schema(k.schema.kind).unwrap();
        let names = |s: &hactl_core::KindSchema| {
            s.props
                .iter()
                .map(|p| (p.name, format!("{:?}", p.update), p.set, p.sensitive))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(schema),
            names(k.schema),
            "{}: the provider's schema is not the declared one",
            k.schema.kind
        );
        assert_eq!(r.is_global(k.schema.kind), k.global, "{}", k.schema.kind);
    }
}

#[test]
fn a_kind_left_unregistered_is_reported() {
    // The full registry without ec2.vpc: every config's vpc.main is reported.
    let full = registry();
    let mut partial = Registry::new();
    for (kind, _) in full.kinds().filter(|(k, _)| *k != "ec2.vpc") {
        partial.register(full.get(kind).unwrap().clone());
    }
    let problems = all_problems(&partial);
    assert!(!problems.is_empty());
    assert!(
        problems
            .iter()
            .all(|p| p.contains("vpc.main is of kind ec2.vpc, which no provider is registered for")),
        "{problems:#?}"
    );
}
