//! Stack config: a TOML file parsed into the validated [`StackConfig`] model, or into
//! errors that name file, line, column and field, each with a hint.
//!
//! Syntax, type and unknown-key errors come from the TOML deserializer (one at a time);
//! semantic checks then run over the whole file and report every problem they find.

mod de_error;
mod error;
pub mod expand;
mod expand_ci;
mod expand_compute;
mod expand_data;
pub mod expand_drift;
mod expand_levers;
mod expand_log_analytics;
mod expand_nacl;
pub mod expand_observability;
mod expand_redeploy;
mod expand_regional;
mod expand_rotation_job;
mod limits;
pub mod lint;
mod locate;
pub mod model;
mod net;
mod raw;
pub mod schema;
mod suggest;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;

use std::path::Path;

/// Reads and parses a config file. An unreadable file gives one error at line 0.
pub fn load(path: &Path) -> Result<StackConfig, ConfigErrors> {
    let (file, text) = read(path)?;
    parse(&file, &text)
}

/// The file's name as given and its text; one error at line 0 when it cannot be read.
pub(crate) fn read(path: &Path) -> Result<(String, String), ConfigErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(e) => Err(ConfigError {
            file,
            line: 0,
            column: 0,
            field: String::new(),
            message: format!("cannot read the config file: {e}"),
            hint: Some("check the path (relative paths are resolved from the current directory)".into()),
            source_line: None,
        }
        .into()),
    }
}

/// Parses config text; `file_name` is only used in the errors.
pub fn parse(file_name: &str, text: &str) -> Result<StackConfig, ConfigErrors> {
    parse_raw(file_name, text).map(|(config, _)| config)
}

/// [`parse`], keeping the config as written too (its spans locate lint findings).
pub(crate) fn parse_raw(file_name: &str, text: &str) -> Result<(StackConfig, raw::RawConfig), ConfigErrors> {
    let raw: raw::RawConfig =
        toml::from_str(text).map_err(|e| ConfigErrors::from(de_error::convert(file_name, text, &e)))?;
    let mut collector = error::Collector::new(file_name, text);
    let config = validate::validate(&raw, &mut collector);
    if let Some(cfg) = &config {
        check_against_graph(cfg, &raw, &mut collector);
    }
    let errors = collector.finish();
    match config {
        Some(config) if errors.is_empty() => Ok((config, raw)),
        _ if errors.is_empty() => {
            // Unreachable in practice: every rejected value records an error.
            let e = ConfigError {
                file: file_name.to_string(),
                line: 1,
                column: 1,
                field: String::new(),
                message: "the config could not be validated".into(),
                hint: Some("please report this as a hactl bug".into()),
                source_line: text.lines().next().map(str::to_string),
            };
            Err(e.into())
        }
        _ => Err(ConfigErrors(errors)),
    }
}

/// Checks what only the expanded graph can tell: that `[resource_tags]` names
/// resources that exist and carry tags, and AWS's quotas on what the stack creates.
fn check_against_graph(cfg: &StackConfig, raw: &raw::RawConfig, c: &mut error::Collector<'_>) {
    let graph = match expand::expand(cfg, &expand::ExpandEnv::offline()) {
        Ok(g) => g,
        Err(e) => {
            let hint = "the stack's resources cannot be ordered; this is a hactl bug unless the message names your config";
            c.push(raw.stack.name.span(), "stack", e.to_string(), hint);
            return;
        }
    };
    for addr in raw.resource_tags.iter().flat_map(|m| m.keys()) {
        let Ok(a) = hactl_core::Address::parse(addr.get_ref()) else { continue };
        let field = format!("resource_tags.{}", locate::render_key(addr.get_ref()));
        match graph.get(&a) {
            Some(spec) if spec.props.contains_key("tags") => {}
            Some(spec) => c.push(
                addr.span(),
                field,
                format!("`{a}` ({}) cannot carry tags", spec.kind),
                "only taggable resources (VPC, subnets, gateways, route tables, security groups, ...) take tags",
            ),
            None => {
                let names: Vec<&str> = graph.topo_order().iter().map(|x| x.as_str()).collect();
                let hint = match suggest::closest(a.as_str(), &names) {
                    Some(s) => format!("did you mean `{s}`? `hactl graph` lists every address"),
                    None => "`hactl graph` lists every address".to_string(),
                };
                c.push(addr.span(), field, format!("no resource has the address `{a}`"), hint);
            }
        }
    }
    limits::check(cfg, raw, &graph, c);
}
