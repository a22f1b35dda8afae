//! The keys the config file accepts, read from the raw serde structs themselves: the
//! structs are deserialized from a recording deserializer that answers every struct with
//! all of its fields (the `fields` serde hands to `deserialize_struct`), every map with one
//! free-form entry (`*`) and every list with one item, and notes the path and shape of
//! each. A field added to a `Raw*` struct is therefore a key here without further ado;
//! error hints use this to name unknown table headers, and a test checks that
//! config/ha-stack.toml documents every key.

use crate::locate::{SPANNED, SPAN_END, SPAN_FIELDS, SPAN_START, SPAN_VALUE};
use crate::raw::RawConfig;
use serde::de::value::{BorrowedStrDeserializer, Error};
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::cell::RefCell;

/// What a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A table with fixed keys: `[network.endpoints]`.
    Table,
    /// An array of tables with fixed keys: `[[services]]`.
    TableArray,
    /// A table with free-form keys (tags, environment variables, resource addresses); its
    /// entries are listed as the path `<map>.*`.
    Map,
    /// A value: string, number, boolean or a list of those.
    Value,
}

/// One key the config accepts, by its path without indices: `services.autoscaling.min`.
/// Free-form keys of a [`Shape::Map`] are written `*`: `stack.tags.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigKey {
    pub path: String,
    pub shape: Shape,
}

/// Every key the config accepts, parents before their children, in declaration order.
pub fn config_keys() -> Result<Vec<ConfigKey>, String> {
    let out = RefCell::new(Vec::new());
    let recorder = Recorder { out: &out, path: String::new(), in_list: false, silent: false };
    RawConfig::deserialize(recorder).map_err(|e| format!("cannot list the config keys: {e}"))?;
    Ok(out.into_inner())
}

/// The shape of `path` (without indices, `*` for free-form keys).
pub(crate) fn shape_of(keys: &[ConfigKey], path: &str) -> Option<Shape> {
    keys.iter().find(|k| k.path == path).map(|k| k.shape)
}

/// The names of the keys directly under `parent` ("" for the top-level sections).
pub(crate) fn children<'k>(keys: &'k [ConfigKey], parent: &str) -> Vec<&'k str> {
    keys.iter()
        .filter_map(|k| match parent {
            "" => Some(k.path.as_str()),
            p => k.path.strip_prefix(p).and_then(|rest| rest.strip_prefix('.')),
        })
        .filter(|rest| !rest.contains('.'))
        .collect()
}

/// A deserializer that produces a placeholder value of whatever is asked of it and records
/// the path and shape of every key on the way.
struct Recorder<'a> {
    out: &'a RefCell<Vec<ConfigKey>>,
    /// The key being deserialized, without indices; empty for the document itself.
    path: String,
    /// The value is an item of a list (so a struct here is an array of tables).
    in_list: bool,
    /// Records nothing (map keys, span positions).
    silent: bool,
}

impl<'a> Recorder<'a> {
    fn record(&self, shape: Shape) {
        if self.silent || self.path.is_empty() {
            return;
        }
        let mut out = self.out.borrow_mut();
        if !out.iter().any(|k| k.path == self.path) {
            out.push(ConfigKey { path: self.path.clone(), shape });
        }
    }

    fn child(&self, key: &str) -> Recorder<'a> {
        let path = if self.path.is_empty() { key.to_string() } else { format!("{}.{key}", self.path) };
        Recorder { out: self.out, path, in_list: false, silent: self.silent }
    }

    fn same(&self) -> Recorder<'a> {
        Recorder { out: self.out, path: self.path.clone(), in_list: self.in_list, silent: self.silent }
    }

    fn silent(&self) -> Recorder<'a> {
        Recorder { silent: true, ..self.same() }
    }
}

macro_rules! scalar {
    ($($method:ident => $visit:ident($value:expr)),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.record(Shape::Value);
            visitor.$visit($value)
        })*
    };
}

impl<'de> Deserializer<'de> for Recorder<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(de::Error::custom(format!("`{}` has a type the key listing does not know", self.path)))
    }

    scalar! {
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i8(0),
        deserialize_i16 => visit_i16(0),
        deserialize_i32 => visit_i32(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u8(0),
        deserialize_u16 => visit_u16(0),
        deserialize_u32 => visit_u32(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f32(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('*'),
        deserialize_str => visit_borrowed_str("*"),
        deserialize_string => visit_borrowed_str("*"),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(OneItem { item: Some(Recorder { in_list: true, ..self.same() }) })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.record(Shape::Map);
        visitor.visit_map(OneEntry { key: Some(self.silent()), value: Some(self.child("*")) })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if name == SPANNED {
            // `toml::Spanned<T>`: a span (placeholder positions) around the value itself.
            return visitor.visit_map(Fields { fields: SPAN_FIELDS, next: 0, of: self, spanned: true });
        }
        self.record(if self.in_list { Shape::TableArray } else { Shape::Table });
        visitor.visit_map(Fields { fields, next: 0, of: self, spanned: false })
    }

    serde::forward_to_deserialize_any! {
        bytes byte_buf unit unit_struct newtype_struct tuple tuple_struct enum identifier ignored_any
    }
}

/// The fields of a struct, each with a placeholder value.
struct Fields<'a> {
    fields: &'static [&'static str],
    next: usize,
    of: Recorder<'a>,
    /// The span protocol's fields: positions are silent, the value is `of` itself.
    spanned: bool,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.fields.get(self.next) {
            None => Ok(None),
            Some(field) => seed.deserialize(BorrowedStrDeserializer::new(field)).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let field = self.fields.get(self.next).copied().unwrap_or_default();
        self.next += 1;
        if !self.spanned {
            return seed.deserialize(self.of.child(field));
        }
        match field {
            SPAN_START | SPAN_END => seed.deserialize(0usize.into_deserializer()),
            SPAN_VALUE => seed.deserialize(self.of.same()),
            other => Err(de::Error::unknown_field(other, SPAN_FIELDS)),
        }
    }
}

/// A list of one item.
struct OneItem<'a> {
    item: Option<Recorder<'a>>,
}

impl<'de> SeqAccess<'de> for OneItem<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.item.take().map(|r| seed.deserialize(r)).transpose()
    }
}

/// A map of one free-form entry.
struct OneEntry<'a> {
    key: Option<Recorder<'a>>,
    value: Option<Recorder<'a>>,
}

impl<'de> MapAccess<'de> for OneEntry<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        self.key.take().map(|r| seed.deserialize(r)).transpose()
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(r) => seed.deserialize(r),
            None => Err(de::Error::custom("a map entry's value was asked twice")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_key_with_its_shape() {
        let keys = config_keys().expect("keys");
        let shape = |p: &str| shape_of(&keys, p);
        assert_eq!(shape("stack"), Some(Shape::Table));
        assert_eq!(shape("stack.name"), Some(Shape::Value));
        assert_eq!(shape("stack.tags"), Some(Shape::Map));
        assert_eq!(shape("stack.tags.*"), Some(Shape::Value));
        assert_eq!(shape("stack.allowed_account_ids"), Some(Shape::Value));
        assert_eq!(shape("network.endpoints"), Some(Shape::Table));
        assert_eq!(shape("network.endpoints.interface"), Some(Shape::Value));
        assert_eq!(shape("security.extra_ingress"), Some(Shape::TableArray));
        assert_eq!(shape("services"), Some(Shape::TableArray));
        assert_eq!(shape("services.autoscaling"), Some(Shape::Table));
        assert_eq!(shape("services.autoscaling.cpu_target"), Some(Shape::Value));
        assert_eq!(shape("services.task_role_statements"), Some(Shape::TableArray));
        assert_eq!(shape("services.task_role_statements.actions"), Some(Shape::Value));
        assert_eq!(shape("services.environment"), Some(Shape::Map));
        assert_eq!(shape("resource_tags"), Some(Shape::Map));
        assert_eq!(shape("resource_tags.*"), Some(Shape::Map));
        assert_eq!(shape("resource_tags.*.*"), Some(Shape::Value));
        assert_eq!(shape("state.region"), Some(Shape::Value));
        assert_eq!(shape("services.nope"), None);
        // Parents come before their children.
        for (i, k) in keys.iter().enumerate() {
            if let Some((parent, _)) = k.path.rsplit_once('.') {
                assert!(keys[..i].iter().any(|p| p.path == parent), "{} before its parent", k.path);
            }
        }
    }

    #[test]
    fn lists_the_keys_of_a_table() {
        let keys = config_keys().expect("keys");
        assert_eq!(
            children(&keys, ""),
            [
                "stack",
                "network",
                "security",
                "network_acls",
                "compute",
                "load_balancer",
                "services",
                "database",
                "alarms",
                "drift",
                "state",
                "resource_tags",
                "dr",
                "ecr",
                "dns",
                "ci",
                "log_analytics",
                "lint"
            ]
        );
        assert_eq!(shape_of(&keys, "lint.allow"), Some(Shape::TableArray));
        assert_eq!(children(&keys, "lint.allow"), ["rule", "reason"]);
        assert_eq!(
            children(&keys, "services.autoscaling"),
            ["min", "max", "cpu_target", "memory_target", "requests_per_target", "schedule"]
        );
        assert_eq!(children(&keys, "stack.tags"), ["*"]);
    }
}
