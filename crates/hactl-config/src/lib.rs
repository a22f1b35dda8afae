//! Stack config: a TOML file parsed into the validated [`StackConfig`] model, or into
//! errors that name file, line, column and field, each with a hint.
//!
//! Syntax, type and unknown-key errors come from the TOML deserializer (one at a time);
//! semantic checks then run over the whole file and report every problem they find.

mod de_error;
mod error;
pub mod expand;
mod locate;
pub mod model;
mod net;
mod raw;
mod suggest;
mod validate;

pub use error::{ConfigError, ConfigErrors};
pub use model::*;

use std::path::Path;

/// Reads and parses a config file. An unreadable file gives one error at line 0.
pub fn load(path: &Path) -> Result<StackConfig, ConfigErrors> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&file, &text),
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
    let raw: raw::RawConfig =
        toml::from_str(text).map_err(|e| ConfigErrors::from(de_error::convert(file_name, text, &e)))?;
    let mut collector = error::Collector::new(file_name, text);
    let config = validate::validate(&raw, &mut collector);
    let errors = collector.finish();
    match config {
        Some(config) if errors.is_empty() => Ok(config),
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
