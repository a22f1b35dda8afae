//! Property values of resources.
//!
//! Desired properties may hold references to another resource's outputs (`Ref`), which are
//! resolved once that resource exists; until then they resolve to `Unknown`
//! ("known after apply"). JSON form: plain values are plain JSON; a reference is
//! `{"$ref": "ADDRESS#OUTPUT"}` and an unknown value is `{"$unknown": true}`.

use crate::address::Address;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub type Props = BTreeMap<String, Value>;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    pub address: Address,
    pub output: String,
}

impl Ref {
    pub fn new(address: &Address, output: &str) -> Self {
        Ref { address: address.clone(), output: output.to_string() }
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.address, self.output)
    }
}

#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    /// A number with a fraction (target-tracking targets, thresholds).
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Ref(Ref),
    /// Strings and references joined into one string once every part is known
    /// (`"http://" + alb.internal#dns_name + ":3000"`). Serialised as `{"$concat": [...]}`.
    Concat(Vec<Value>),
    Unknown,
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// A map of string values, e.g. tags. Non-string entries are skipped.
    pub fn string_map(&self) -> BTreeMap<String, String> {
        self.as_map()
            .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect())
            .unwrap_or_default()
    }

    /// A list of strings, e.g. subnet ids. Non-string entries are skipped.
    pub fn string_list(&self) -> Vec<String> {
        self.as_list()
            .map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    }

    pub fn from_strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Value {
        Value::List(items.into_iter().map(|s| Value::Str(s.into())).collect())
    }

    pub fn from_string_map<I: IntoIterator<Item = (K, V)>, K: Into<String>, V: Into<String>>(
        items: I,
    ) -> Value {
        Value::Map(items.into_iter().map(|(k, v)| (k.into(), Value::Str(v.into()))).collect())
    }

    /// True when the value (or anything inside it) is still unknown.
    pub fn has_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(l) | Value::Concat(l) => l.iter().any(Value::has_unknown),
            Value::Map(m) => m.values().any(Value::has_unknown),
            _ => false,
        }
    }

    /// Every reference inside the value.
    pub fn refs(&self, out: &mut BTreeSet<Ref>) {
        match self {
            Value::Ref(r) => {
                out.insert(r.clone());
            }
            Value::List(l) | Value::Concat(l) => l.iter().for_each(|v| v.refs(out)),
            Value::Map(m) => m.values().for_each(|v| v.refs(out)),
            _ => {}
        }
    }

    /// Replaces references using `lookup`; a reference `lookup` cannot answer becomes
    /// `Unknown`.
    pub fn resolve(&self, lookup: &dyn Fn(&Ref) -> Option<Value>) -> Value {
        match self {
            Value::Ref(r) => lookup(r).unwrap_or(Value::Unknown),
            Value::List(l) => Value::List(l.iter().map(|v| v.resolve(lookup)).collect()),
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), v.resolve(lookup))).collect()),
            Value::Concat(parts) => {
                let parts: Vec<Value> = parts.iter().map(|v| v.resolve(lookup)).collect();
                let mut out = String::new();
                for p in &parts {
                    match p {
                        Value::Str(s) => out.push_str(s),
                        Value::Int(i) => out.push_str(&i.to_string()),
                        Value::Float(f) => out.push_str(&f.to_string()),
                        Value::Bool(b) => out.push_str(&b.to_string()),
                        _ => return Value::Unknown,
                    }
                }
                Value::Str(out)
            }
            other => other.clone(),
        }
    }

    /// Joins parts into one string value (see [`Value::Concat`]).
    pub fn concat<I: IntoIterator<Item = V>, V: Into<Value>>(parts: I) -> Value {
        Value::Concat(parts.into_iter().map(Into::into).collect())
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// Sorts lists recursively (by their JSON rendering) so that set-like values compare
    /// equal regardless of order.
    pub fn normalized_set(&self) -> Value {
        match self {
            Value::List(l) => {
                let mut items: Vec<Value> = l.iter().map(Value::normalized_set).collect();
                items.sort_by_cached_key(|v| v.to_json().to_string());
                items.dedup();
                Value::List(items)
            }
            Value::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), v.normalized_set())).collect()),
            other => other.clone(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::Str(s) => J::String(s.clone()),
            Value::List(l) => J::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Ref(r) => serde_json::json!({ "$ref": r.to_string() }),
            Value::Concat(parts) => {
                serde_json::json!({ "$concat": J::Array(parts.iter().map(Value::to_json).collect()) })
            }
            Value::Unknown => serde_json::json!({ "$unknown": true }),
        }
    }

    pub fn from_json(j: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match j {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(f)) => Value::Float(f),
                _ => Value::Str(n.to_string()),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            J::Object(o) => {
                if o.len() == 1 {
                    if let Some(J::String(r)) = o.get("$ref") {
                        if let Some((addr, output)) = r.split_once('#') {
                            if let Ok(address) = Address::parse(addr) {
                                return Value::Ref(Ref { address, output: output.to_string() });
                            }
                        }
                    }
                    if let Some(J::Array(parts)) = o.get("$concat") {
                        return Value::Concat(parts.iter().map(Value::from_json).collect());
                    }
                    if o.get("$unknown") == Some(&J::Bool(true)) {
                        return Value::Unknown;
                    }
                }
                Value::Map(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v))).collect())
            }
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = serde_json::Value::deserialize(d)?;
        Ok(Value::from_json(&j))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<i32> for Value {
    fn from(i: i32) -> Self {
        Value::Int(i64::from(i))
    }
}
impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}
impl From<Ref> for Value {
    fn from(r: Ref) -> Self {
        Value::Ref(r)
    }
}

/// Human rendering used in plan output: strings quoted, references as `${addr#output}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                // Null entries (an absent optional field) are left out of the rendering.
                let shown: Vec<_> = m.iter().filter(|(_, v)| **v != Value::Null).collect();
                f.write_str("{")?;
                for (i, (k, v)) in shown.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, " {k} = {v}")?;
                }
                f.write_str(if shown.is_empty() { "}" } else { " }" })
            }
            Value::Ref(r) => write!(f, "${{{r}}}"),
            Value::Concat(parts) => {
                f.write_str("\"")?;
                for p in parts {
                    match p {
                        Value::Str(s) => f.write_str(s)?,
                        other => write!(f, "${{{other}}}")?,
                    }
                }
                f.write_str("\"")
            }
            Value::Unknown => f.write_str("(known after apply)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Address {
        Address::parse(s).unwrap()
    }

    #[test]
    fn concat_resolves_to_a_string_once_every_part_is_known() {
        let r = Ref::new(&addr("alb.internal"), "dns_name");
        let v =
            Value::concat([Value::str("http://"), Value::Ref(r.clone()), Value::str(":"), Value::Int(3000)]);
        let mut refs = BTreeSet::new();
        v.refs(&mut refs);
        assert_eq!(refs.into_iter().collect::<Vec<_>>(), vec![r.clone()]);
        assert_eq!(v.resolve(&|_| None), Value::Unknown);
        assert_eq!(v.resolve(&|_| Some(Value::str("int.elb"))), Value::str("http://int.elb:3000"));
        assert_eq!(v.to_string(), "\"http://${${alb.internal#dns_name}}:${3000}\"");
        let back = Value::from_json(&v.to_json());
        assert_eq!(back, v);
    }

    #[test]
    fn floats_round_trip_through_json() {
        let v = Value::Float(70.5);
        assert_eq!(Value::from_json(&v.to_json()), v);
        assert_eq!(Value::from_json(&serde_json::json!(3)), Value::Int(3));
        assert_eq!(v.as_f64(), Some(70.5));
    }

    #[test]
    fn json_round_trip_keeps_refs_and_unknowns() {
        let mut m = BTreeMap::new();
        m.insert("vpc_id".to_string(), Value::Ref(Ref::new(&addr("vpc.main"), "id")));
        m.insert("later".to_string(), Value::Unknown);
        m.insert("n".to_string(), Value::Int(3));
        m.insert("l".to_string(), Value::from_strings(["a", "b"]));
        let v = Value::Map(m);
        let text = serde_json::to_string(&v).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, back);
        assert!(text.contains("\"$ref\":\"vpc.main#id\""));
    }

    #[test]
    fn resolve_replaces_known_refs_and_marks_the_rest_unknown() {
        let v = Value::List(vec![
            Value::Ref(Ref::new(&addr("vpc.main"), "id")),
            Value::Ref(Ref::new(&addr("igw.main"), "id")),
        ]);
        let r = v.resolve(&|r: &Ref| (r.address.as_str() == "vpc.main").then(|| Value::str("vpc-123")));
        assert_eq!(r, Value::List(vec![Value::str("vpc-123"), Value::Unknown]));
        assert!(r.has_unknown());
    }

    #[test]
    fn normalized_set_ignores_order_and_duplicates() {
        let a = Value::from_strings(["b", "a", "b"]);
        let b = Value::from_strings(["a", "b"]);
        assert_eq!(a.normalized_set(), b.normalized_set());
    }

    #[test]
    fn display_is_readable() {
        let v = Value::from_string_map([("Name", "x")]);
        assert_eq!(v.to_string(), "{ Name = \"x\" }");
        assert_eq!(Value::Unknown.to_string(), "(known after apply)");
    }
}
