//! Config errors: each names the file, the 1-based line and column, the field path
//! (`network.app_subnets[1]`) and carries a hint. Rendered rustc-style.

use std::fmt;
use std::ops::Range;

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the error has no position (the file could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 when `line` is 0.
    pub column: usize,
    /// Field path such as `services[2].depends_on[0]`; empty when there is none.
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
    /// The text of line `line` (without its line terminator).
    pub source_line: Option<String>,
}

impl ConfigError {
    /// An error at a byte offset of `text`: line, column and source line are computed.
    pub(crate) fn at(
        file: &str,
        text: &str,
        offset: usize,
        field: impl Into<String>,
        message: impl Into<String>,
        hint: Option<String>,
    ) -> Self {
        let (line, column, source_line) = position(text, offset);
        ConfigError {
            file: file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
            hint,
            source_line: Some(source_line.to_string()),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error: {}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let (Some(src), true) = (&self.source_line, self.line > 0) {
            let number = self.line.to_string();
            let gutter = " ".repeat(number.len());
            // Keep tabs so the caret lines up with the source however tabs are rendered.
            let pad: String = src
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n{gutter} |\n{number} | {src}\n{gutter} | {pad}^")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {}", hint.replace('\n', "\n        "))?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config file (at least one), in source order.
#[derive(Debug)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// Every error, each ending with a newline, separated by blank lines (print it with
/// `eprint!`).
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based line, 1-based column (in characters) and the text of the line of a byte offset.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize, &str) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = before.matches('\n').count() + 1;
    let column = text[line_start..offset].chars().count() + 1;
    let source = text[line_start..line_end].trim_end_matches('\r');
    (line, column, source)
}

/// Collects the errors of one file during validation.
pub(crate) struct Collector<'a> {
    pub file: &'a str,
    pub text: &'a str,
    pub errors: Vec<ConfigError>,
}

impl<'a> Collector<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Collector { file, text, errors: Vec::new() }
    }

    pub fn push(
        &mut self,
        span: Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let e = ConfigError::at(self.file, self.text, span.start, field, message, Some(hint.into()));
        self.errors.push(e);
    }

    /// The errors sorted by position (stable: same-position errors keep their order).
    pub fn finish(mut self) -> Vec<ConfigError> {
        self.errors.sort_by_key(|e| (e.line, e.column));
        self.errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nb = \"é\" x\r\nc";
        assert_eq!(position(text, 0), (1, 1, "a = 1"));
        assert_eq!(position(text, 6), (2, 1, "b = \"é\" x"));
        let x = text.find('x').unwrap_or_default();
        assert_eq!(position(text, x), (2, 9, "b = \"é\" x"));
        assert_eq!(position(text, text.len()), (3, 2, "c"));
    }

    #[test]
    fn display_is_rustc_like() {
        let e = ConfigError::at(
            "f.toml",
            "[network]\nnat = \"x\"\n",
            16,
            "network.nat",
            "bad",
            Some("fix it".into()),
        );
        assert_eq!(
            e.to_string(),
            "error: f.toml:2:7: network.nat: bad\n  |\n2 | nat = \"x\"\n  |       ^\n  hint: fix it"
        );
    }
}
