//! A report as text (for people), as JSON (hactl's own stable document) and as SARIF 2.1.0
//! (code scanning tools: GitHub, GitLab, IDEs).

use super::{rules, Finding, Report};
use serde_json::{json, Value};

/// The JSON document's format; raised when a field changes meaning or goes.
pub const JSON_FORMAT_VERSION: u32 = 1;
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
pub const SARIF_VERSION: &str = "2.1.0";
/// The tool's home page SARIF consumers link to.
pub const INFORMATION_URI: &str = "https://github.com/hactl/hactl";

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `error`, `warning` or `allowed`: how a finding is labelled.
fn label(f: &Finding) -> &'static str {
    if f.allowed.is_some() {
        "allowed"
    } else {
        f.level.as_str()
    }
}

impl Report {
    /// One line per finding, `file:line:column: error[HL001] message`, then an indented
    /// `= why: <rule's reason>` line; an allowed finding reads `allowed[HL005] message
    /// (reason: <config's reason>)`. A summary line ends it. Every line ends with `\n`.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "{}:{}:{}: {}[{}] {}",
                f.file,
                f.line,
                f.column,
                label(f),
                f.rule,
                f.message
            ));
            if let Some(reason) = &f.allowed {
                out.push_str(&format!(" (reason: {reason})"));
            }
            out.push('\n');
            if let Some(rule) = f.rule() {
                out.push_str(&format!("  = why: {}\n", rule.reason));
            }
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// `config/x.toml: 1 error, 2 warnings, 1 allowed` (`no findings` when clean).
    pub fn summary(&self) -> String {
        if self.findings.is_empty() {
            return format!("{}: no findings", self.file);
        }
        format!(
            "{}: {}, {}, {} allowed",
            self.file,
            plural(self.errors(), "error", "errors"),
            plural(self.warnings(), "warning", "warnings"),
            self.allowed()
        )
    }

    /// `{"format_version":1,"file":...,"findings":[...],"errors":N,"warnings":N}`; each
    /// finding has `rule`, `name`, `level`, `message`, `file`, `line`, `column`, `field`
    /// and `allowed` (the config's reason, or null).
    pub fn to_json(&self) -> Value {
        let findings: Vec<Value> = self
            .findings
            .iter()
            .map(|f| {
                json!({
                    "rule": f.rule,
                    "name": f.rule().map(|r| r.name),
                    "level": f.level,
                    "message": f.message,
                    "file": f.file,
                    "line": f.line,
                    "column": f.column,
                    "field": f.field,
                    "allowed": f.allowed,
                })
            })
            .collect();
        json!({
            "format_version": JSON_FORMAT_VERSION,
            "file": self.file,
            "findings": findings,
            "errors": self.errors(),
            "warnings": self.warnings(),
        })
    }

    /// A SARIF 2.1.0 log of one run: every rule in `tool.driver.rules`, one result per
    /// finding (an allowed one with an external suppression carrying the config's
    /// reason). Columns count Unicode code points.
    pub fn to_sarif(&self, tool_version: &str) -> Value {
        let descriptors: Vec<Value> = rules()
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "name": r.name,
                    "shortDescription": {"text": r.reason},
                    "defaultConfiguration": {"level": r.level.as_str()},
                })
            })
            .collect();
        let results: Vec<Value> = self.findings.iter().map(sarif_result).collect();
        json!({
            "$schema": SARIF_SCHEMA,
            "version": SARIF_VERSION,
            "runs": [{
                "tool": {"driver": {
                    "name": "hactl",
                    "version": tool_version,
                    "informationUri": INFORMATION_URI,
                    "rules": descriptors,
                }},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }],
        })
    }
}

fn sarif_result(f: &Finding) -> Value {
    let index = rules().iter().position(|r| r.id == f.rule);
    let mut result = json!({
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": f.level.as_str(),
        "message": {"text": f.message},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": f.file.replace('\\', "/")},
            "region": {"startLine": f.line.max(1), "startColumn": f.column.max(1)},
        }}],
    });
    if let (Some(reason), Some(map)) = (&f.allowed, result.as_object_mut()) {
        map.insert("suppressions".into(), json!([{"kind": "external", "justification": reason}]));
    }
    result
}
