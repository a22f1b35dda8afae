//! config/ha-stack.toml is the reference of the config format: it mentions every key the
//! config accepts, as a setting or as a commented-out `# key = default` line. The accepted
//! keys come from the parser's own structs (`hactl_config::schema::config_keys`), so a key
//! added to them fails this test until it is documented, and so does a key removed from
//! the file.

use hactl_config::schema::{config_keys, ConfigKey, Shape};
use std::collections::BTreeSet;
use std::path::Path;

fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/ha-stack.toml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn keys() -> Vec<ConfigKey> {
    config_keys().unwrap_or_else(|e| panic!("{e}"))
}

/// The keys of a dotted key or header path (`resource_tags."vpc.main"`), unquoted.
fn split_dotted(path: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = path.trim();
    loop {
        let (key, after) = if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"')?;
            (r[..end].to_string(), &r[end + 1..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            (rest[..end].to_string(), &rest[end..])
        };
        out.push(key);
        let after = after.trim_start();
        match after.strip_prefix('.') {
            Some(r) => rest = r.trim_start(),
            None if after.is_empty() => return Some(out),
            None => return None,
        }
    }
}

/// `[a.b]` / `[[a.b]]` (with an optional trailing comment): the header's keys.
fn header(line: &str) -> Option<Vec<String>> {
    let line = match line.find(" #") {
        Some(i) => line[..i].trim_end(),
        None => line,
    };
    let inner = match line.strip_prefix("[[") {
        Some(r) => r.strip_suffix("]]")?,
        None => line.strip_prefix('[')?.strip_suffix(']')?,
    };
    split_dotted(inner)
}

/// `key = value` (with an optional trailing comment): the key.
fn key_line(line: &str) -> Option<Vec<String>> {
    let (key, value) = line.split_once('=')?;
    if value.trim().is_empty() || (key.trim().contains(' ') && !key.trim().starts_with('"')) {
        return None;
    }
    split_dotted(key)
}

/// Keys as written mapped onto schema paths: the free-form keys of a map become `*`.
fn schema_path(keys: &[ConfigKey], written: &[String]) -> String {
    let mut path = String::new();
    for k in written {
        let parent_is_map = keys.iter().any(|c| c.path == path && c.shape == Shape::Map);
        let k = if parent_is_map { "*" } else { k.as_str() };
        path = if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
    }
    path
}

/// Every key path the text mentions, set or commented out. A commented-out header
/// (`# [state]`) holds the commented-out keys after it until the next line that is not a
/// comment; commented-out keys elsewhere belong to the table of the last real header.
fn mentioned(keys: &[ConfigKey], text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut table: Vec<String> = Vec::new();
    let mut commented_table: Option<Vec<String>> = None;
    for raw in text.lines() {
        let line = raw.trim();
        let (commented, body) = match line.strip_prefix('#') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        if !commented && !body.is_empty() {
            commented_table = None;
        }
        if let Some(h) = header(body) {
            for i in 1..=h.len() {
                out.insert(schema_path(keys, &h[..i]));
            }
            if commented {
                commented_table = Some(h);
            } else {
                table = h;
            }
        } else if let Some(k) = key_line(body) {
            let mut path = match (&commented_table, commented) {
                (Some(t), true) => t.clone(),
                _ => table.clone(),
            };
            path.extend(k);
            out.insert(schema_path(keys, &path));
        }
    }
    out
}

#[test]
fn the_reference_config_mentions_every_key() {
    let keys = keys();
    let documented = mentioned(&keys, &reference());
    let missing: Vec<&str> = keys
        .iter()
        .map(|k| k.path.as_str())
        .filter(|p| !p.split('.').any(|k| k == "*") && !documented.contains(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "config/ha-stack.toml does not mention these keys (add them, set or as a commented \
         `# key = default` line with a short explanation, under their table's header):\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_reference_config_mentions_no_unknown_key() {
    let keys = keys();
    let accepted: BTreeSet<&str> = keys.iter().map(|k| k.path.as_str()).collect();
    let unknown: Vec<String> =
        mentioned(&keys, &reference()).into_iter().filter(|p| !accepted.contains(p.as_str())).collect();
    assert!(unknown.is_empty(), "config/ha-stack.toml mentions keys the config does not take: {unknown:?}");
}

#[test]
fn the_reader_sees_set_and_commented_keys_in_their_tables() {
    let keys = keys();
    let text = "[stack]\nname = \"x\"   # a comment = not a key\n# region = \"us-east-1\"\n\n\
                # [state]\n# backend = \"s3\"\n[network]\n# nat = \"per-az\"\n\
                # [[services.task_role_statements]]\n# effect = \"Allow\"\n\n# Prose, e.g. min = 2.\n\
                [resource_tags.\"vpc.main\"]\nCostCenter = \"1\"\n";
    let found: Vec<String> = mentioned(&keys, text).into_iter().collect();
    assert_eq!(
        found,
        [
            "network",
            "network.nat",
            "resource_tags",
            "resource_tags.*",
            "resource_tags.*.*",
            "services",
            "services.task_role_statements",
            "services.task_role_statements.effect",
            "stack",
            "stack.name",
            "stack.region",
            "state",
            "state.backend",
        ]
    );
}

/// The check has teeth: the reference without one of its keys fails it.
#[test]
fn a_key_missing_from_the_reference_is_noticed() {
    let keys = keys();
    let text = reference();
    for (key, line_start) in
        [("stack.region", "region = "), ("drift.memory", "# memory = "), ("state.key", "# key = ")]
    {
        assert!(mentioned(&keys, &text).contains(key), "{key}");
        let without: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with(line_start))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!mentioned(&keys, &without).contains(key), "{key} is still found without its line");
    }
}
