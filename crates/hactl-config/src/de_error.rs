//! Turning the one error of the TOML deserializer (syntax, wrong type, unknown or missing
//! key) into a [`ConfigError`] with a field path and a hint.

use crate::error::ConfigError;
use crate::locate::{self, Match, Seg};
use crate::schema::{self, ConfigKey, Shape};
use crate::suggest;
use std::collections::HashMap;

pub(crate) fn convert(file: &str, text: &str, err: &toml::de::Error) -> ConfigError {
    let span = err.span().unwrap_or(0..0);
    let message = err.message().trim().replace('\n', ", ");
    let tree = locate::parse_tree(text);
    let path_at = |how: Match| -> Vec<Seg> {
        tree.as_ref().and_then(|t| locate::path_of(t, &span, how)).unwrap_or_default()
    };
    // The key or value the error names: one whose span is exactly the error's, else the
    // deepest one containing it (a header table's span also covers its parents' keys).
    let named = || match path_at(Match::Exact) {
        p if p.is_empty() => path_at(Match::Contains),
        p => p,
    };
    let at = |field: String, message: String, hint: String| {
        ConfigError::at(file, text, span.start, field, message, Some(hint))
    };

    let keys = schema::config_keys().unwrap_or_default();
    if tree.is_none() {
        // A misspelt header (`[[servicez]]`) lets a later `[services.autoscaling]` define
        // the previous service's table a second time: report the cause, not the symptom.
        if message.contains("duplicate key") {
            if let Some((offset, field, unknown, hint)) = unknown_header(text, span.start, &keys) {
                let (line, _, _) = crate::error::position(text, span.start);
                let hint = format!("{hint}; it also causes the TOML error at line {line}: {message}");
                return ConfigError::at(file, text, offset, field, unknown, Some(hint));
            }
        }
        // Not even schema-free parsing succeeds: a syntax error.
        let field = locate::path_from_lines(text, span.start);
        let hint = syntax_hint(&message);
        return at(field, format!("TOML syntax error: {message}"), hint);
    }

    if let Some(rest) = message.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default().to_string();
        let expected = backticked(rest.split_once("expected").map_or("", |(_, e)| e));
        let path = named();
        let table = match path.split_last() {
            Some((_, parent)) => locate::render(parent),
            None => String::new(),
        };
        let field = if path.is_empty() { name.clone() } else { locate::render(&path) };
        let names: Vec<&str> = expected.iter().map(String::as_str).collect();
        let (message, hint) = unknown_key(&name, &table_header(&table), &names);
        return at(field, message, hint);
    }

    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default().to_string();
        let table = locate::render(&path_at(Match::Exact));
        let (field, message, hint) = if table.is_empty() {
            (name.clone(), format!("missing required section [{name}]"), example(&name))
        } else {
            (
                format!("{table}.{name}"),
                format!("missing required key `{name}` in [{}]", table_header(&table)),
                example(&name),
            )
        };
        return at(field, message, hint);
    }

    let path = named();
    if let Some((at_path, message, hint)) = table_kind_mismatch(&keys, &path, &message) {
        return at(locate::render(at_path), message, hint);
    }
    let field = locate::render(&path);
    let key = last_key(&path);
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.rsplit_once(", expected ") {
                let (what, hint) = expected_hint(expected, key, found);
                return at(field, format!("wrong type: expected {what}, found {found}"), hint);
            }
        }
    }
    if message.contains("too large") || message.contains("too small") {
        return at(
            field,
            format!("number out of range: {message}"),
            "use a value within the documented range of this key".to_string(),
        );
    }
    at(field, message, "see config/ha-stack.toml for the expected format of every key".to_string())
}

/// The message and hint for an unknown key `name` of the table `table` (a header such as
/// `services.autoscaling`; empty for the document, whose keys are sections) whose keys are
/// `names`.
fn unknown_key(name: &str, table: &str, names: &[&str]) -> (String, String) {
    let mut hint = suggest::did_you_mean(name, names);
    if names.is_empty() {
        hint.push_str("this table takes no keys");
    } else if table.is_empty() {
        hint.push_str(&format!("the top-level sections are: {}", names.join(", ")));
    } else {
        hint.push_str(&format!("valid keys in [{table}]: {}", names.join(", ")));
    }
    let message = if table.is_empty() {
        format!("unknown section `{name}`")
    } else {
        format!("unknown key `{name}` in [{table}]")
    };
    (message, hint)
}

/// The first table header before `before` that names a key the config does not have:
/// its key's offset, field path, message and hint.
fn unknown_header(text: &str, before: usize, keys: &[ConfigKey]) -> Option<(usize, String, String, String)> {
    if keys.is_empty() {
        return None;
    }
    // `[[x]]` headers seen so far, by the header's path: the index of the current entry.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for header in locate::headers(text) {
        if header.keys.first().is_none_or(|(_, at)| *at >= before) {
            break;
        }
        let written: Vec<String> = header.keys.iter().map(|(k, _)| locate::render_key(k)).collect();
        if header.array {
            *counts.entry(written.join(".")).or_default() += 1;
        }
        let mut schema_path = String::new();
        let mut field = Vec::new();
        for (i, (key, at)) in header.keys.iter().enumerate() {
            let parent = if i == 0 { Some(Shape::Table) } else { schema::shape_of(keys, &schema_path) };
            let name = match parent {
                Some(Shape::Map) => "*",
                Some(Shape::Table | Shape::TableArray) => key.as_str(),
                // Under a value or an unknown key: not this check's business.
                _ => break,
            };
            let candidate = if i == 0 { name.to_string() } else { format!("{schema_path}.{name}") };
            field.push(Seg::Key(key.clone()));
            match schema::shape_of(keys, &candidate) {
                None => {
                    let names = schema::children(keys, &schema_path);
                    let (message, hint) = unknown_key(key, &schema_path, &names);
                    return Some((*at, locate::render(&field), message, hint));
                }
                Some(Shape::TableArray) => {
                    if let Some(n) = counts.get(&written[..=i].join(".")) {
                        field.push(Seg::Index(n.saturating_sub(1)));
                    }
                }
                Some(_) => {}
            }
            schema_path = candidate;
        }
    }
    None
}

/// A table written as an array of tables (`[[compute]]`) or the other way round
/// (`[services.task_role_statements]`): serde reports these as a type error somewhere
/// inside (a struct also accepts a list of its fields' values), so they are told by the
/// key's shape. Returns the path to report at, the message and the hint.
fn table_kind_mismatch<'p>(
    keys: &[ConfigKey],
    path: &'p [Seg],
    message: &str,
) -> Option<(&'p [Seg], String, String)> {
    let mut schema_path = String::new();
    for (i, seg) in path.iter().enumerate() {
        let Seg::Key(key) = seg else { continue };
        let parent =
            if schema_path.is_empty() { Some(Shape::Table) } else { schema::shape_of(keys, &schema_path) };
        let name = if parent == Some(Shape::Map) { "*" } else { key.as_str() };
        schema_path = if schema_path.is_empty() { name.to_string() } else { format!("{schema_path}.{name}") };
        let shape = schema::shape_of(keys, &schema_path)?;
        let header = table_header(&locate::render(&path[..=i]));
        let shown = locate::render_key(key);
        let next = path.get(i + 1);
        let listed = match next {
            Some(Seg::Index(_)) => true,
            Some(Seg::Key(_)) => false,
            // `compute = []`: a struct asked for its fields' values in a list.
            None => message.starts_with("invalid length"),
        };
        match (shape, next) {
            (Shape::Table | Shape::Map, _) if listed => {
                let mut hint = format!("write its header with single brackets: `[{header}]`");
                if shape == Shape::Map {
                    hint.push_str(&format!(", or an inline table `{shown} = {{ KEY = \"value\" }}`"));
                }
                let message = format!("wrong type: `{shown}` is a table, not an array of tables");
                return Some((&path[..=i], message, hint));
            }
            (Shape::TableArray, None) if message.contains("map, expected") => {
                let hint = format!("write each entry as a `[[{header}]]` table (double brackets)");
                let message = format!("wrong type: `{shown}` is an array of tables, not a table");
                return Some((&path[..=i], message, hint));
            }
            (Shape::TableArray, Some(Seg::Index(_)))
                if i + 2 == path.len() && message.starts_with("invalid type: ") =>
            {
                let found = message.split(", expected").next().unwrap_or_default();
                let found = found.trim_start_matches("invalid type: ");
                let hint = format!("write each entry as a `[[{header}]]` table");
                return Some((path, format!("wrong type: expected a table, found {found}"), hint));
            }
            _ => {}
        }
    }
    None
}

/// The last key of a path: `services[1].port` → `port`.
fn last_key(path: &[Seg]) -> &str {
    path.iter()
        .rev()
        .find_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .unwrap_or_default()
}

/// `services[1].autoscaling` → `services.autoscaling` (the header as written in the file).
fn table_header(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut skipping = false;
    for c in path.chars() {
        match c {
            '[' => skipping = true,
            ']' => skipping = false,
            _ if !skipping => out.push(c),
            _ => {}
        }
    }
    out
}

fn backticked(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// What a serde "expected ..." means in config terms, and how to write one (reusing the
/// found value when it is a quoted number).
fn expected_hint(expected: &str, key: &str, found: &str) -> (String, String) {
    let key = if key.is_empty() { "key" } else { key };
    let quoted = found.strip_prefix("string \"").and_then(|f| f.strip_suffix('"')).map(str::trim);
    if expected.starts_with('i') || expected.starts_with('u') {
        let n = quoted.and_then(|q| q.parse::<i64>().ok()).unwrap_or(1);
        ("an integer".into(), format!("write a whole number without quotes, e.g. `{key} = {n}`"))
    } else if expected.starts_with('f') {
        let n = quoted.and_then(|q| q.parse::<f64>().ok()).unwrap_or(80.0);
        ("a number".into(), format!("write a number without quotes, e.g. `{key} = {n:?}`"))
    } else if expected.contains("bool") {
        ("a boolean".into(), format!("write `{key} = true` or `{key} = false` (without quotes)"))
    } else if expected.contains("string") {
        ("a string".into(), format!("put the value in double quotes, e.g. `{key} = \"value\"`"))
    } else if expected.contains("sequence") {
        ("an array".into(), format!("write a list in square brackets, e.g. `{key} = [\"a\", \"b\"]`"))
    } else {
        ("a table".into(), format!("write a `[{key}]` section (or an inline table `{key} = {{ ... }}`)"))
    }
}

fn example(name: &str) -> String {
    let sample = match name {
        "stack" => {
            return "add a [stack] section with `name = \"ha-demo\"` and `region = \"us-east-1\"`".into();
        }
        "network" => {
            return "add a [network] section with vpc_cidr, availability_zones, public_subnets, app_subnets \
                    and data_subnets (see config/ha-stack.toml)"
                .into();
        }
        "name" => "name = \"ha-demo\"",
        "region" => "region = \"us-east-1\"",
        "vpc_cidr" => "vpc_cidr = \"10.0.0.0/16\"",
        "availability_zones" => "availability_zones = [\"us-east-1a\", \"us-east-1b\"]",
        "public_subnets" => "public_subnets = [\"10.0.0.0/24\", \"10.0.1.0/24\"]",
        "app_subnets" => "app_subnets = [\"10.0.10.0/24\", \"10.0.11.0/24\"]",
        "data_subnets" => "data_subnets = [\"10.0.20.0/24\", \"10.0.21.0/24\"]",
        "image" => "image = \"public.ecr.aws/nginx/nginx:1.27\"",
        "engine" => return "add it: `engine = \"docdb\"` or `engine = \"postgres\"`".into(),
        "group" => {
            return "add the group receiving the rule: `group = \"alb\"`, `\"app\"` or `\"db\"`".into();
        }
        "min" => "min = 2",
        "max" => "max = 6",
        _ => return format!("add `{name} = ...`; see config/ha-stack.toml for an example"),
    };
    format!("add it, e.g. `{sample}`")
}

fn syntax_hint(message: &str) -> String {
    if message.contains("duplicate key") {
        "each key may appear only once per table; remove or rename one of them".into()
    } else if message.contains("string") {
        "strings are written in double quotes and must be closed on the same line".into()
    } else if message.contains("array") {
        "arrays are written `[a, b, c]`: items separated by commas, closed with `]`".into()
    } else if message.contains("table") {
        "table headers are written `[name]` or `[[name]]` on a line of their own".into()
    } else {
        "each line is `key = value`, a `[table]` header or a comment starting with `#` \
         (see https://toml.io/en/v1.0.0)"
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_backticked_names() {
        assert_eq!(backticked(" one of `a`, `b_c`, `d`"), ["a", "b_c", "d"]);
        assert_eq!(backticked(" `a` or `b`"), ["a", "b"]);
        assert!(backticked("").is_empty());
    }

    #[test]
    fn renders_table_headers() {
        assert_eq!(table_header("services[1].autoscaling"), "services.autoscaling");
        assert_eq!(table_header("network"), "network");
    }
}
