//! Policy checks over a valid stack config (`hactl lint`): a fixed set of rules, each with
//! a stable id (`HL001`), a kebab-case name, a level and a one-line reason.
//!
//! Rules read the config as written where a key of it can trigger them, so a finding
//! points at that key's line (a default that triggers one points at its table's header,
//! or line 1 when the table is absent too). What no config key can turn on (hactl always
//! encrypts, always requires TLS, never makes the database public) is checked on the
//! expanded desired graph, so that a regression of the expansion is caught: such findings
//! point at the table the resource comes from.
//!
//! A stack allows a rule with a reason (`[[lint.allow]]`): its findings stay in the report,
//! marked allowed, and count as no error or warning.

mod config_rules;
mod graph_rules;
mod render;
#[cfg(test)]
mod tests;

use crate::error::{position, ConfigError, ConfigErrors};
use crate::expand::{expand, ExpandEnv};
use crate::locate::{headers, Header};
use crate::model::StackConfig;
use crate::raw::RawConfig;
use hactl_core::DesiredGraph;
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

/// How much a finding matters: an error fails `hactl lint`, a warning does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

impl Level {
    /// `"error"` or `"warning"` (also SARIF's names of the two levels).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

/// One policy rule. Ids and levels are stable: tools and `[[lint.allow]]` entries name
/// rules by id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// `HL001` ...
    pub id: &'static str,
    /// Kebab-case: `open-ingress-app-data`.
    pub name: &'static str,
    pub level: Level,
    /// One line: why it matters.
    pub reason: &'static str,
}

pub(crate) const HL001: Rule = Rule {
    id: "HL001",
    name: "open-ingress-app-data",
    level: Level::Error,
    reason: "the app and data tiers sit behind the load balancer; admitting 0.0.0.0/0 or ::/0 there \
             exposes tasks or data to the whole internet",
};
pub(crate) const HL002: Rule = Rule {
    id: "HL002",
    name: "database-outside-data-tier",
    level: Level::Error,
    reason: "only the app tier (and the RDS Proxy) should reach the database; any other source, or a \
             public endpoint, widens who can attack it",
};
pub(crate) const HL003: Rule = Rule {
    id: "HL003",
    name: "unencrypted-storage",
    level: Level::Error,
    reason: "data at rest without encryption can be read by anyone who gets a copy of the volume, \
             snapshot, bucket or repository",
};
pub(crate) const HL004: Rule = Rule {
    id: "HL004",
    name: "tls-below-1-2",
    level: Level::Error,
    reason: "TLS 1.0 and 1.1 have known weaknesses; endpoints and databases should accept TLS 1.2 \
             or later only",
};
pub(crate) const HL005: Rule = Rule {
    id: "HL005",
    name: "single-nat-gateway",
    level: Level::Warning,
    reason: "one NAT gateway is a single point of failure: when its zone fails, every private subnet \
             loses its way out",
};
pub(crate) const HL006: Rule = Rule {
    id: "HL006",
    name: "short-backup-retention",
    level: Level::Warning,
    reason: "fewer than 7 days of automated backups leaves little time to notice and undo data loss",
};
pub(crate) const HL007: Rule = Rule {
    id: "HL007",
    name: "deletion-protection-off",
    level: Level::Warning,
    reason: "without deletion protection, one mistaken destroy or console click deletes the database",
};
pub(crate) const HL008: Rule = Rule {
    id: "HL008",
    name: "single-task-service",
    level: Level::Warning,
    reason: "a service that can run with one task or none goes down with that task or its zone",
};
pub(crate) const HL009: Rule = Rule {
    id: "HL009",
    name: "wildcard-task-role-action",
    level: Level::Error,
    reason: "a wildcard action grants whatever the service offers now and later, beyond what the task \
             needs (least privilege)",
};

static RULES: [Rule; 9] = [HL001, HL002, HL003, HL004, HL005, HL006, HL007, HL008, HL009];

/// Every rule, by id.
pub fn rules() -> &'static [Rule] {
    &RULES
}

/// One thing a rule reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    pub level: Level,
    /// One line, naming the offending value.
    pub message: String,
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The config key it comes from, as a dotted path
    /// (`services[1].task_role_statements[0].actions[2]`), or the table.
    pub field: String,
    /// The reason the config gives in `[[lint.allow]]` when the rule is allowed.
    pub allowed: Option<String>,
}

impl Finding {
    /// The rule of this finding.
    pub fn rule(&self) -> Option<&'static Rule> {
        rules().iter().find(|r| r.id == self.rule)
    }
}

/// What the rules found in one config file, in source order.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub file: String,
    pub findings: Vec<Finding>,
}

impl Report {
    /// Error-level findings whose rule the config does not allow.
    pub fn errors(&self) -> usize {
        self.count(Level::Error)
    }

    /// Warning-level findings whose rule the config does not allow.
    pub fn warnings(&self) -> usize {
        self.count(Level::Warning)
    }

    /// Findings of allowed rules.
    pub fn allowed(&self) -> usize {
        self.findings.iter().filter(|f| f.allowed.is_some()).count()
    }

    fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level && f.allowed.is_none()).count()
    }
}

/// Lints config text: parses and validates it first (an invalid config gives its errors),
/// then runs every rule. `file_name` names the file in the report.
pub fn lint(file_name: &str, text: &str) -> Result<Report, ConfigErrors> {
    let (cfg, raw) = crate::parse_raw(file_name, text)?;
    let graph = expand(&cfg, &ExpandEnv::offline()).map_err(|e| ConfigError {
        file: file_name.to_string(),
        line: 1,
        column: 1,
        field: String::new(),
        message: format!("the stack cannot be expanded: {e}"),
        hint: Some("please report this as a hactl bug".into()),
        source_line: text.lines().next().map(str::to_string),
    })?;
    Ok(lint_graph(file_name, text, &cfg, &raw, &graph))
}

/// Reads and lints a config file (an unreadable file gives one error at line 0).
pub fn lint_file(path: &Path) -> Result<Report, ConfigErrors> {
    let (file, text) = crate::read(path)?;
    lint(&file, &text)
}

/// Every rule over the config and its desired graph.
fn lint_graph(file: &str, text: &str, cfg: &StackConfig, raw: &RawConfig, graph: &DesiredGraph) -> Report {
    let mut cx = Ctx::new(file, text, cfg, raw);
    config_rules::check(&mut cx);
    graph_rules::check(&mut cx, graph);
    cx.finish()
}

/// The config being linted and the findings so far.
pub(crate) struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    pub(crate) cfg: &'a StackConfig,
    pub(crate) raw: &'a RawConfig,
    /// Each table header's rendered path (`services[1].autoscaling`) and its offset.
    tables: Vec<(String, usize)>,
    findings: Vec<Finding>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a str, text: &'a str, cfg: &'a StackConfig, raw: &'a RawConfig) -> Self {
        let tables = table_paths(text, &headers(text));
        Ctx { file, text, cfg, raw, tables, findings: Vec::new() }
    }

    /// A finding of `rule` at byte `offset`.
    fn push(&mut self, rule: &Rule, offset: usize, field: String, message: String) {
        let (line, column, _) = position(self.text, offset);
        self.findings.push(Finding {
            rule: rule.id,
            level: rule.level,
            message,
            file: self.file.to_string(),
            line,
            column,
            field,
            allowed: self.cfg.lint.allowed(rule.id).map(str::to_string),
        });
    }

    /// A finding at the value `span` of the key `field`.
    pub(crate) fn at(&mut self, rule: &Rule, span: Range<usize>, field: impl Into<String>, message: String) {
        self.push(rule, span.start, field.into(), message);
    }

    /// A finding about the table `table` (`database.proxy`, `services[1]`): at its header,
    /// else at its closest written parent's, else at line 1.
    pub(crate) fn at_table(&mut self, rule: &Rule, table: &str, message: String) {
        let offset = self.table_offset(table).unwrap_or(0);
        self.push(rule, offset, table.to_string(), message);
    }

    /// Where the header of `table` or of its closest written parent starts.
    fn table_offset(&self, table: &str) -> Option<usize> {
        let mut path = table;
        loop {
            if let Some((_, at)) = self.tables.iter().find(|(p, _)| p == path) {
                return Some(*at);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }

    /// The findings in source order (then by rule).
    fn finish(mut self) -> Report {
        self.findings.sort_by(|a, b| (a.line, a.column, a.rule).cmp(&(b.line, b.column, b.rule)));
        Report { file: self.file.to_string(), findings: self.findings }
    }
}

/// Each header's path with array indices (`services[1].autoscaling.schedule[0]`), and the
/// offset of the line's `[`.
fn table_paths(text: &str, found: &[Header]) -> Vec<(String, usize)> {
    // Array tables seen so far, by rendered path: how many entries.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for h in found {
        let mut path = String::new();
        for (i, (key, _)) in h.keys.iter().enumerate() {
            let key = crate::locate::render_key(key);
            let plain = if path.is_empty() { key } else { format!("{path}.{key}") };
            let last = i + 1 == h.keys.len();
            path = match (last && h.array, counts.get(&plain)) {
                (true, n) => {
                    let n = n.copied().unwrap_or(0);
                    counts.insert(plain.clone(), n + 1);
                    format!("{plain}[{n}]")
                }
                (false, Some(n)) => format!("{plain}[{}]", n.saturating_sub(1)),
                (false, None) => plain,
            };
        }
        let first = h.keys.first().map_or(0, |(_, at)| *at);
        let line_start = text[..first.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
        let indent = text[line_start..].len() - text[line_start..].trim_start_matches([' ', '\t']).len();
        out.push((path, line_start + indent));
    }
    out
}
