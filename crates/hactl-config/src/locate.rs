//! Finding the field path (`services[1].autoscaling.min`) of a byte span: from a spanned,
//! schema-free parse of the document, or, when even that fails (syntax errors), from the
//! table headers and `key =` of the lines up to the span.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

// The protocol by which the TOML deserializer hands out spans (what `toml::Spanned` uses).
// `Spanned` itself fails on tables that have no span (tables only implied by a dotted key
// or a sub-table header); the `Node` below takes the span when there is one and the plain
// value otherwise.
pub(crate) const SPANNED: &str = "$__serde_spanned_private_Spanned";
pub(crate) const SPAN_START: &str = "$__serde_spanned_private_start";
pub(crate) const SPAN_END: &str = "$__serde_spanned_private_end";
pub(crate) const SPAN_VALUE: &str = "$__serde_spanned_private_value";
pub(crate) const SPAN_FIELDS: &[&str] = &[SPAN_START, SPAN_END, SPAN_VALUE];

/// Any TOML value with the spans of itself (when known) and, for tables, of its keys.
#[derive(Debug)]
pub(crate) struct Node {
    span: Option<Range<usize>>,
    kind: Kind,
}

#[derive(Debug)]
pub(crate) enum Kind {
    Table(Vec<Entry>),
    Array(Vec<Node>),
    Scalar,
}

#[derive(Debug)]
pub(crate) struct Entry {
    key: Key,
    value: Node,
}

/// A table key, or one of the span protocol's own keys.
#[derive(Debug)]
struct Key {
    name: String,
    span: Option<Range<usize>>,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED, SPAN_FIELDS, NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KindVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED, SPAN_FIELDS, KeyVisitor)
    }
}

/// Reads the rest of a span-protocol map (after its start key): start, end and the value.
fn read_spanned<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    mut map: A,
) -> Result<(Range<usize>, T), A::Error> {
    let start: usize = map.next_value()?;
    map.next_key::<de::IgnoredAny>()?;
    let end: usize = map.next_value()?;
    map.next_key::<de::IgnoredAny>()?;
    let value: T = map.next_value()?;
    Ok((start..end, value))
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key { name: v.to_string(), span: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        map.next_key::<de::IgnoredAny>()?;
        let (span, name) = read_spanned::<A, String>(map)?;
        Ok(Key { name, span: Some(span) })
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node { span: None, kind: Kind::Scalar })
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node { span: None, kind: Kind::Scalar })
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node { span: None, kind: Kind::Scalar })
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node { span: None, kind: Kind::Scalar })
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node { span: None, kind: Kind::Scalar })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Node, A::Error> {
        Ok(Node { span: None, kind: KindVisitor.visit_seq(seq)? })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        match map.next_key::<Key>()? {
            None => Ok(Node { span: None, kind: Kind::Table(Vec::new()) }),
            Some(k) if k.span.is_none() && k.name == SPAN_START => {
                let (span, kind) = read_spanned::<A, Kind>(map)?;
                Ok(Node { span: Some(span), kind })
            }
            Some(first) => {
                // A table without a span: `first` is its first real key.
                let value = map.next_value::<Node>()?;
                Ok(Node { span: None, kind: table_entries(Entry { key: first, value }, map)? })
            }
        }
    }
}

fn table_entries<'de, A: MapAccess<'de>>(first: Entry, mut map: A) -> Result<Kind, A::Error> {
    let mut entries = vec![first];
    while let Some(key) = map.next_key::<Key>()? {
        let value = map.next_value::<Node>()?;
        entries.push(Entry { key, value });
    }
    Ok(Kind::Table(entries))
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Kind, E> {
        Ok(Kind::Scalar)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = seq.next_element::<Node>()? {
            items.push(n);
        }
        Ok(Kind::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        match map.next_key::<Key>()? {
            None => Ok(Kind::Table(Vec::new())),
            Some(key) => {
                let value = map.next_value::<Node>()?;
                table_entries(Entry { key, value }, map)
            }
        }
    }
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// Renders `[Key(services), Index(1), Key(port)]` as `services[1].port`; keys that are not
/// bare TOML keys are quoted.
pub(crate) fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&render_key(k));
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

pub(crate) fn render_key(k: &str) -> String {
    let bare = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

/// Parses the document without a schema; `None` when it is not valid TOML.
pub(crate) fn parse_tree(text: &str) -> Option<Kind> {
    toml::from_str::<Kind>(text).ok()
}

/// How a node must relate to the searched span.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// The node's span (or a key's span) contains the searched span: the deepest such.
    Contains,
    /// The value's or the key's span is exactly the searched span (the key named by an
    /// unknown-key error; the table named by a missing-key error, by its key when the table
    /// itself has no span).
    Exact,
}

/// The path of the deepest key or value matching `span`; `None` when only the root does.
pub(crate) fn path_of(root: &Kind, span: &Range<usize>, how: Match) -> Option<Vec<Seg>> {
    let hit = |s: &Option<Range<usize>>| match (how, s) {
        (_, None) => false,
        (Match::Contains, Some(s)) => s.start <= span.start && span.end <= s.end,
        (Match::Exact, Some(s)) => s == span,
    };
    match root {
        Kind::Scalar => None,
        Kind::Table(entries) => entries.iter().find_map(|e| {
            let key = Seg::Key(e.key.name.clone());
            if let Some(mut p) = path_of(&e.value.kind, span, how) {
                p.insert(0, key);
                Some(p)
            } else if hit(&e.value.span) || hit(&e.key.span) {
                Some(vec![key])
            } else {
                None
            }
        }),
        Kind::Array(items) => items.iter().enumerate().find_map(|(i, n)| {
            if let Some(mut p) = path_of(&n.kind, span, how) {
                p.insert(0, Seg::Index(i));
                Some(p)
            } else if hit(&n.span) {
                Some(vec![Seg::Index(i)])
            } else {
                None
            }
        }),
    }
}

/// Best-effort field path of a byte offset from the text alone (for syntax errors): the
/// last table header before it (`[[x]]` headers counted, so `services[1]`) plus the key of
/// the offset's line when it has the form `key = ...`.
pub(crate) fn path_from_lines(text: &str, offset: usize) -> String {
    let (line_no, _, _) = crate::error::position(text, offset);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut table = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let header = if let Some(rest) = line.strip_prefix("[[") {
            let name = rest.split("]]").next().unwrap_or_default().trim().to_string();
            *counts.entry(name.clone()).or_default() += 1;
            Some(name)
        } else {
            line.strip_prefix('[').map(|rest| rest.split(']').next().unwrap_or_default().trim().to_string())
        };
        if let Some(name) = &header {
            table = header_path(name, &counts);
        }
        if i + 1 == line_no {
            if header.is_none() {
                if let Some((key, _)) = line.split_once('=') {
                    let key = key.trim().trim_matches('"');
                    if !key.is_empty() && !key.starts_with('#') {
                        return if table.is_empty() { key.to_string() } else { format!("{table}.{key}") };
                    }
                }
            }
            return table;
        }
    }
    table
}

fn header_path(name: &str, counts: &HashMap<String, usize>) -> String {
    let mut prefix = String::new();
    let mut out = String::new();
    for part in name.split('.').map(str::trim) {
        if !prefix.is_empty() {
            prefix.push('.');
            out.push('.');
        }
        prefix.push_str(part);
        out.push_str(part);
        if let Some(n) = counts.get(&prefix) {
            out.push_str(&format!("[{}]", n.saturating_sub(1)));
        }
    }
    out
}

/// A table header as written: `[a.b]` or `[[a."b.c"]]`, with each key and its byte offset.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub array: bool,
    pub keys: Vec<(String, usize)>,
}

/// The table headers of a document, read line by line (so also from text that is not valid
/// TOML); lines inside multi-line strings and malformed headers are skipped.
pub(crate) fn headers(text: &str) -> Vec<Header> {
    let mut out = Vec::new();
    let mut in_string: Option<&str> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let was_in_string = in_string.is_some();
        for quotes in ["\"\"\"", "'''"] {
            if in_string.is_none_or(|q| q == quotes) && line.matches(quotes).count() % 2 == 1 {
                in_string = if in_string.is_some() { None } else { Some(quotes) };
                break;
            }
        }
        if was_in_string || in_string.is_some() {
            continue;
        }
        let body = line.trim_start();
        if let Some(h) = parse_header(body, start + line.len() - body.len()) {
            out.push(h);
        }
    }
    out
}

fn parse_header(line: &str, offset: usize) -> Option<Header> {
    let array = line.starts_with("[[");
    let mut pos = if array { 2 } else { line.strip_prefix('[').map(|_| 1)? };
    let bytes = line.as_bytes();
    let skip_ws = |mut p: usize| {
        while bytes.get(p).is_some_and(|b| *b == b' ' || *b == b'\t') {
            p += 1;
        }
        p
    };
    let mut keys = Vec::new();
    loop {
        pos = skip_ws(pos);
        let key_start = pos;
        let key = match *bytes.get(pos)? {
            quote @ (b'"' | b'\'') => {
                let mut key = String::new();
                let mut chars = line[pos + 1..].char_indices();
                loop {
                    let (i, ch) = chars.next()?;
                    match ch {
                        '\\' if quote == b'"' => key.push(chars.next()?.1),
                        c if c == char::from(quote) => {
                            pos += i + 2;
                            break;
                        }
                        c => key.push(c),
                    }
                }
                key
            }
            _ => {
                let len = line[pos..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                    .unwrap_or(line.len() - pos);
                if len == 0 {
                    return None;
                }
                pos += len;
                line[key_start..pos].to_string()
            }
        };
        keys.push((key, offset + key_start));
        pos = skip_ws(pos);
        match bytes.get(pos)? {
            b'.' => pos += 1,
            b']' => {
                let close = if array { "]]" } else { "]" };
                let rest = line[pos..].strip_prefix(close)?.trim_start();
                return (rest.is_empty() || rest.starts_with('#')).then_some(Header { array, keys });
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "[stack]\nname = \"x\"\n\n[[services]]\nname = \"a\"\n\n[[services]]\nname = \"b\"\n\
                       depends_on = [\"a\",\n  \"c\"]\n[services.autoscaling]\nmin = 1\n";

    fn path(text: &str, needle: &str, how: Match) -> String {
        let root = parse_tree(text).expect("valid toml");
        let start = text.find(needle).expect("needle");
        render(&path_of(&root, &(start..start + needle.len()), how).unwrap_or_default())
    }

    #[test]
    fn finds_the_deepest_path_of_a_span() {
        assert_eq!(path(DOC, "\"x\"", Match::Contains), "stack.name");
        assert_eq!(path(DOC, "\"c\"", Match::Contains), "services[1].depends_on[1]");
        assert_eq!(path(DOC, "min", Match::Contains), "services[1].autoscaling.min");
        assert_eq!(path(DOC, "[services.autoscaling]\nmin = 1", Match::Exact), "services[1].autoscaling");
    }

    #[test]
    fn guesses_the_path_from_lines() {
        let at = |needle: &str| path_from_lines(DOC, DOC.find(needle).unwrap_or_default());
        assert_eq!(at("\"x\""), "stack.name");
        assert_eq!(at("\"b\""), "services[1].name");
        assert_eq!(at("  \"c\""), "services[1]");
        assert_eq!(at("min"), "services[1].autoscaling.min");
    }

    #[test]
    fn quotes_non_bare_keys() {
        let p = [Seg::Key("stack".into()), Seg::Key("tags".into()), Seg::Key("aws:x".into())];
        assert_eq!(render(&p), "stack.tags.\"aws:x\"");
    }

    #[test]
    fn reads_table_headers() {
        let text = "[stack]\nname = \"\"\"\n[not.a.header]\n\"\"\"\n  [[ services ]] # x\n\
                    [resource_tags.\"vpc.main\"]\n[bad header]\n[a.'b'.c]\nx = '''\n[no]'''\n[[a.b]]x\n";
        let found = headers(text);
        let keys: Vec<(bool, Vec<&str>)> =
            found.iter().map(|h| (h.array, h.keys.iter().map(|(k, _)| k.as_str()).collect())).collect();
        assert_eq!(
            keys,
            [
                (false, vec!["stack"]),
                (true, vec!["services"]),
                (false, vec!["resource_tags", "vpc.main"]),
                (false, vec!["a", "b", "c"]),
            ]
        );
        let (_, at) = &found[1].keys[0];
        assert_eq!(&text[*at..*at + 8], "services");
        let (_, at) = &found[2].keys[1];
        assert_eq!(&text[*at..*at + 10], "\"vpc.main\"");
    }
}
