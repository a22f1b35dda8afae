//! `[lint]`: the lint rules a stack allows (`[[lint.allow]]`), each a known rule id, once,
//! with a reason. A child module of `validate`.

use crate::error::Collector;
use crate::model::{LintAllow, LintConfig};
use crate::raw::RawLint;
use crate::suggest::closest;

pub(super) fn lint(r: Option<&RawLint>, c: &mut Collector<'_>) -> Option<LintConfig> {
    let errors_before = c.errors.len();
    let rules = crate::lint::rules();
    let ids: Vec<&str> = rules.iter().map(|r| r.id).collect();
    let mut allow: Vec<LintAllow> = Vec::new();
    // Each known rule id with where it was first allowed, for duplicates.
    let mut seen: Vec<(&str, String)> = Vec::new();
    for (i, a) in r.map(|r| r.allow.as_slice()).unwrap_or_default().iter().enumerate() {
        let prefix = format!("lint.allow[{i}]");
        let id = a.rule.get_ref();
        let known = ids.contains(&id.as_str());
        if !known {
            let by_name = rules.iter().find(|r| r.name == id.as_str()).map(|r| r.id);
            let guess = by_name.or_else(|| closest(id, &ids));
            let listing: Vec<String> = rules.iter().map(|r| format!("{} ({})", r.id, r.name)).collect();
            let hint = match guess {
                Some(g) => format!("did you mean `{g}`? rules: {}", listing.join(", ")),
                None => format!("rules: {}", listing.join(", ")),
            };
            c.push(a.rule.span(), format!("{prefix}.rule"), format!("unknown lint rule \"{id}\""), hint);
        }
        let reason = match &a.reason {
            None => {
                let msg = format!("allowing {id} needs a reason");
                let hint = "add `reason = \"...\"`: one line on why this stack accepts what the rule reports";
                c.push(a.rule.span(), format!("{prefix}.reason"), msg, hint);
                None
            }
            Some(v) if v.get_ref().trim().is_empty() => {
                let msg = format!("the reason for allowing {id} is empty");
                let hint = "say in one line why this stack accepts what the rule reports, \
                            e.g. \"dev stack: one NAT gateway is enough\"";
                c.push(v.span(), format!("{prefix}.reason"), msg, hint);
                None
            }
            Some(v) => Some(v.get_ref().trim().to_string()),
        };
        if let Some((_, first)) = seen.iter().find(|(x, _)| *x == id.as_str()) {
            let msg = format!("rule {id} is allowed twice (also {first})");
            let hint = "allow each rule once; put every reason into one entry";
            c.push(a.rule.span(), format!("{prefix}.rule"), msg, hint);
            continue;
        }
        if known {
            seen.push((id.as_str(), prefix));
        }
        if let (true, Some(reason)) = (known, reason) {
            allow.push(LintAllow { rule: id.clone(), reason });
        }
    }
    (c.errors.len() == errors_before).then_some(LintConfig { allow })
}
