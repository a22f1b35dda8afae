//! ECS's own blue/green deployments (`ecs.service`, issue 16), as properties:
//!
//! - a load balancer entry's `blue_green` = `{alternate_target_group_arn,
//!   production_listener_rule, test_listener_rule, role_arn}` (AdvancedConfiguration: the
//!   green target group, the rules whose weights ECS shifts, the role it shifts them with);
//! - the `deployment` map's `strategy` (`BLUE_GREEN`; absent = rolling), `bake_time`
//!   (minutes both revisions run after the shift) and `alarms` (`{names, rollback}`: a
//!   firing alarm stops the deployment and rolls it back).
//!
//! Read leaves these keys out for a rolling service, whatever AWS answers (`ROLLING`), so
//! services that never asked for blue/green compare as before. After a deployment the
//! service may report its two target groups swapped (the green one now serves):
//! [`normalize`] reads that as the configured pair.

use aws_sdk_ecs::types::{
    builders::DeploymentConfigurationBuilder, AdvancedConfiguration, DeploymentAlarms, DeploymentStrategy,
    LoadBalancer,
};
use hactl_core::{Props, Value};
use hactl_engine::ProviderError;
use std::collections::BTreeMap;

pub(crate) const BLUE_GREEN: &str = "BLUE_GREEN";

fn str_of<'a>(m: &'a BTreeMap<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

/// The AdvancedConfiguration of a desired load balancer entry, if it has `blue_green`.
pub(crate) fn advanced(entry: &BTreeMap<String, Value>) -> Option<AdvancedConfiguration> {
    let b = entry.get("blue_green")?.as_map()?;
    Some(
        AdvancedConfiguration::builder()
            .set_alternate_target_group_arn(str_of(b, "alternate_target_group_arn").map(String::from))
            .set_production_listener_rule(str_of(b, "production_listener_rule").map(String::from))
            .set_test_listener_rule(str_of(b, "test_listener_rule").map(String::from))
            .set_role_arn(str_of(b, "role_arn").map(String::from))
            .build(),
    )
}

/// A live load balancer entry's `blue_green`, when ECS reports an advanced configuration.
pub(crate) fn advanced_value(l: &LoadBalancer) -> Option<Value> {
    let a = l.advanced_configuration()?;
    let s = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
    Some(Value::Map(BTreeMap::from([
        ("alternate_target_group_arn".to_string(), s(a.alternate_target_group_arn())),
        ("production_listener_rule".to_string(), s(a.production_listener_rule())),
        ("test_listener_rule".to_string(), s(a.test_listener_rule())),
        ("role_arn".to_string(), s(a.role_arn())),
    ])))
}

/// The strategy, bake time and alarms of a desired `deployment` map. A rolling service
/// says ROLLING explicitly, so a service leaving blue/green goes back to it.
pub(crate) fn deployment(
    b: DeploymentConfigurationBuilder,
    m: &BTreeMap<String, Value>,
) -> Result<DeploymentConfigurationBuilder, ProviderError> {
    if str_of(m, "strategy") != Some(BLUE_GREEN) {
        return Ok(b.strategy(DeploymentStrategy::Rolling));
    }
    let bake = m.get("bake_time").and_then(Value::as_int).and_then(|i| i32::try_from(i).ok());
    let alarms = match m.get("alarms").and_then(Value::as_map) {
        Some(a) => Some(
            DeploymentAlarms::builder()
                .set_alarm_names(Some(a.get("names").map(Value::string_list).unwrap_or_default()))
                .enable(true)
                .rollback(a.get("rollback").and_then(Value::as_bool).unwrap_or(true))
                .build()
                .map_err(|e| ProviderError::fatal(format!("deployment alarms: {e}")))?,
        ),
        None => None,
    };
    Ok(b.strategy(DeploymentStrategy::BlueGreen).set_bake_time_in_minutes(bake).set_alarms(alarms))
}

/// The blue/green keys of a live `deployment` map (none for a rolling service).
pub(crate) fn deployment_value(
    d: &aws_sdk_ecs::types::DeploymentConfiguration,
    m: &mut BTreeMap<String, Value>,
) {
    if d.strategy().map(DeploymentStrategy::as_str) != Some(BLUE_GREEN) {
        return;
    }
    m.insert("strategy".to_string(), Value::str(BLUE_GREEN));
    m.insert("bake_time".to_string(), d.bake_time_in_minutes().map_or(Value::Null, |i| Value::Int(i.into())));
    let alarms = d.alarms().filter(|a| a.enable()).map_or(Value::Null, |a| {
        Value::Map(BTreeMap::from([
            ("names".to_string(), Value::from_strings(a.alarm_names().iter().cloned())),
            ("rollback".to_string(), Value::Bool(a.rollback())),
        ]))
    });
    m.insert("alarms".to_string(), alarms);
}

/// A blue/green service whose two target groups ECS reports swapped after a deployment
/// (the green one now primary) reads as configured.
pub(crate) fn normalize(desired: &Props, live: &mut Props, key: &str) {
    let (Some(Value::List(want)), Some(Value::List(have))) = (desired.get(key), live.get_mut(key)) else {
        return;
    };
    for (w, h) in want.iter().zip(have.iter_mut()) {
        let (Some(w), Some(hm)) = (w.as_map(), h.as_map()) else { continue };
        let tg = |m: &BTreeMap<String, Value>| m.get("target_group_arn").cloned();
        let alt = |m: &BTreeMap<String, Value>| {
            m.get("blue_green")
                .and_then(Value::as_map)
                .and_then(|b| b.get("alternate_target_group_arn").cloned())
        };
        let swapped = alt(w).is_some() && tg(hm) == alt(w) && alt(hm) == tg(w);
        if !swapped {
            continue;
        }
        // Only the two groups swap back: any other difference still shows.
        if let Value::Map(hm) = h {
            if let Some(t) = tg(w) {
                hm.insert("target_group_arn".to_string(), t);
            }
            if let (Some(Value::Map(b)), Some(a)) = (hm.get_mut("blue_green"), alt(w)) {
                b.insert("alternate_target_group_arn".to_string(), a);
            }
        }
    }
}

/// What the plan says of a change that deploys: the strategy and, for blue/green, its
/// bake time and the alarms that roll it back.
pub(crate) fn deployment_note(deployment: Option<&Value>) -> String {
    let m = deployment.and_then(Value::as_map);
    if m.and_then(|m| str_of(m, "strategy")) != Some(BLUE_GREEN) {
        return "rolling deployment: new tasks replace the old ones, rolled back if they fail".to_string();
    }
    let bake = m.and_then(|m| m.get("bake_time")).and_then(Value::as_int).unwrap_or(0);
    let alarms = m
        .and_then(|m| m.get("alarms"))
        .and_then(Value::as_map)
        .and_then(|a| a.get("names"))
        .map(Value::string_list)
        .unwrap_or_default();
    format!(
        "blue/green deployment: green tasks take the test traffic, then all traffic; {bake} min bake; \
         rolled back if {} fires",
        if alarms.is_empty() { "an alarm".to_string() } else { alarms.join(", ") }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tg: &str, alt: &str) -> Value {
        Value::Map(BTreeMap::from([
            ("target_group_arn".to_string(), Value::str(tg)),
            ("container_name".to_string(), Value::str("web")),
            ("container_port".to_string(), Value::Int(80)),
            (
                "blue_green".to_string(),
                Value::Map(BTreeMap::from([
                    ("alternate_target_group_arn".to_string(), Value::str(alt)),
                    ("production_listener_rule".to_string(), Value::str("rule/p")),
                    ("test_listener_rule".to_string(), Value::str("rule/t")),
                    ("role_arn".to_string(), Value::str("role")),
                ])),
            ),
        ]))
    }

    #[test]
    fn the_note_names_the_strategy() {
        assert!(deployment_note(None).starts_with("rolling deployment"));
        let bg = Value::Map(BTreeMap::from([
            ("strategy".to_string(), Value::str(BLUE_GREEN)),
            ("bake_time".to_string(), Value::Int(10)),
            (
                "alarms".to_string(),
                Value::Map(BTreeMap::from([("names".to_string(), Value::from_strings(["a", "b"]))])),
            ),
        ]));
        let note = deployment_note(Some(&bg));
        assert!(
            note.starts_with("blue/green deployment")
                && note.contains("10 min bake")
                && note.contains("a, b"),
            "{note}"
        );
    }

    #[test]
    fn swapped_target_groups_after_a_deployment_read_as_configured() {
        let desired = Props::from([("lbs".to_string(), Value::List(vec![entry("blue", "green")]))]);
        let mut live = Props::from([("lbs".to_string(), Value::List(vec![entry("green", "blue")]))]);
        normalize(&desired, &mut live, "lbs");
        assert_eq!(live, desired);
        // Another group is drift.
        let mut live = Props::from([("lbs".to_string(), Value::List(vec![entry("other", "blue")]))]);
        normalize(&desired, &mut live, "lbs");
        assert_ne!(live, desired);
    }
}
