//! Property-level diff of a desired object against a live (or recorded) one.

use crate::schema::{KindSchema, UpdateMode};
use crate::value::{Props, Value};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropChange {
    pub name: String,
    /// The live (or recorded) value; `None` when the property is absent there.
    pub before: Option<Value>,
    /// The desired value; `Unknown` when it depends on something not yet created.
    pub after: Option<Value>,
    pub forces_replacement: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
}

/// Compares each desired property with the other side. Properties the desired side does
/// not mention are not compared (they are computed or not managed). Lists marked as sets
/// compare regardless of order; a desired `Unknown` always counts as a change.
pub fn diff_props(schema: &KindSchema, desired: &Props, other: &Props) -> Vec<PropChange> {
    let mut changes = Vec::new();
    for (name, want) in desired {
        let prop = schema.prop(name);
        if prop.is_some_and(|p| p.update == UpdateMode::CreateOnly) {
            continue;
        }
        let set = prop.is_some_and(|p| p.set);
        let have = other.get(name);
        let equal = match have {
            _ if want.has_unknown() => false,
            Some(have) if set => have.normalized_set() == want.normalized_set(),
            Some(have) => have == want,
            None => *want == Value::Null,
        };
        if !equal {
            changes.push(PropChange {
                name: name.clone(),
                before: have.cloned(),
                after: Some(want.clone()),
                // A property the schema does not know is treated as requiring replacement:
                // the safe answer when a provider forgot to declare it.
                forces_replacement: prop.is_none_or(|p| p.update == UpdateMode::Replace),
                sensitive: prop.is_some_and(|p| p.sensitive),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::PropSchema;

    static SCHEMA: KindSchema = KindSchema {
        kind: "test.thing",
        props: &[
            PropSchema::replace("cidr"),
            PropSchema::in_place("tags"),
            PropSchema::in_place("ids").as_set(),
            PropSchema::in_place("password").sensitive(),
            PropSchema::create_only("desired_count"),
        ],
    };

    #[test]
    fn create_only_properties_are_never_compared() {
        let live = props(&[("desired_count", Value::Int(5))]);
        let want = props(&[("desired_count", Value::Int(2))]);
        assert!(diff_props(&SCHEMA, &want, &live).is_empty());
    }

    fn props(pairs: &[(&str, Value)]) -> Props {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn no_change_when_equal() {
        let p = props(&[("cidr", "10.0.0.0/24".into()), ("tags", Value::from_string_map([("a", "b")]))]);
        assert!(diff_props(&SCHEMA, &p, &p).is_empty());
    }

    #[test]
    fn in_place_and_replace_changes_are_classified() {
        let live = props(&[("cidr", "10.0.0.0/24".into()), ("tags", Value::from_string_map([("a", "b")]))]);
        let want = props(&[("cidr", "10.0.1.0/24".into()), ("tags", Value::from_string_map([("a", "c")]))]);
        let ch = diff_props(&SCHEMA, &want, &live);
        assert_eq!(ch.len(), 2);
        assert!(ch.iter().find(|c| c.name == "cidr").unwrap().forces_replacement);
        assert!(!ch.iter().find(|c| c.name == "tags").unwrap().forces_replacement);
        assert_eq!(ch[0].before, Some("10.0.0.0/24".into()));
    }

    #[test]
    fn sets_ignore_order() {
        let live = props(&[("ids", Value::from_strings(["b", "a"]))]);
        let want = props(&[("ids", Value::from_strings(["a", "b"]))]);
        assert!(diff_props(&SCHEMA, &want, &live).is_empty());
        let want2 = props(&[("ids", Value::from_strings(["a", "c"]))]);
        assert_eq!(diff_props(&SCHEMA, &want2, &live).len(), 1);
    }

    #[test]
    fn unknown_always_differs_and_missing_live_prop_is_a_change() {
        let live = props(&[("cidr", "10.0.0.0/24".into())]);
        let want = props(&[("cidr", Value::Unknown), ("tags", Value::from_string_map([("a", "b")]))]);
        let ch = diff_props(&SCHEMA, &want, &live);
        assert_eq!(ch.len(), 2);
        assert_eq!(ch[1].before, None);
    }

    #[test]
    fn extra_live_props_are_ignored_and_unknown_schema_props_force_replacement() {
        let live = props(&[("cidr", "x".into()), ("computed", "y".into())]);
        let want = props(&[("cidr", "x".into())]);
        assert!(diff_props(&SCHEMA, &want, &live).is_empty());
        let want2 = props(&[("cidr", "x".into()), ("mystery", "z".into())]);
        assert!(diff_props(&SCHEMA, &want2, &live)[0].forces_replacement);
    }

    #[test]
    fn sensitive_flag_is_carried() {
        let want = props(&[("password", "s3cret".into())]);
        let ch = diff_props(&SCHEMA, &want, &Props::new());
        assert!(ch[0].sensitive);
    }
}
