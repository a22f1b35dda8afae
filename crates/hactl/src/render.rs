//! Human rendering of plans, drift reports and engine events. Plans and drift go to
//! stdout (the caller picks); progress and logs go to stderr.

use crate::cli::LogFormat;
use hactl_core::plan::{PlanMode, Unmanaged};
use hactl_core::{ActionType, Plan, PropChange, Value};
use hactl_engine::{DriftReport, Event, EventSink};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour only on a terminal, and never with NO_COLOR set.
    pub fn detect(no_color_flag: bool, terminal: bool) -> Style {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { color: terminal && !no_color_flag && !no_color_env }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn action(&self, a: ActionType) -> String {
        let sym = a.symbol();
        match a {
            ActionType::Create => self.green(sym),
            ActionType::Update => self.yellow(sym),
            ActionType::Replace | ActionType::Delete => self.red(sym),
            _ => self.dim(sym),
        }
    }
}

/// Text of several lines longer than this (a function's source) shows as its size and
/// digest: the plan stays readable, and two versions still differ on screen. The JSON
/// plan keeps the whole text.
const LONG_TEXT: usize = 200;

fn show(v: &Option<Value>, sensitive: bool) -> String {
    match v {
        _ if sensitive => "(sensitive)".to_string(),
        None => "(none)".to_string(),
        Some(Value::Str(s)) if s.len() > LONG_TEXT && s.contains('\n') => {
            use sha2::Digest;
            let digest = hex::encode(sha2::Sha256::digest(s.as_bytes()));
            format!("({} lines, {} bytes, sha256 {})", s.lines().count(), s.len(), &digest[..12])
        }
        Some(v) => v.to_string(),
    }
}

/// Lines describing one property change: scalars as `before → after`; lists as the
/// elements added and removed; maps as the keys added, changed and removed.
pub fn change_lines(
    st: &Style,
    name: &str,
    before: &Option<Value>,
    after: &Option<Value>,
    sensitive: bool,
    note: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    match (before, after) {
        (Some(Value::List(b)), Some(Value::List(a))) if !sensitive => {
            out.push(format!("~ {name}:{note}"));
            for x in a.iter().filter(|x| !b.contains(x)) {
                out.push(format!("    {} {x}", st.green("+")));
            }
            for x in b.iter().filter(|x| !a.contains(x)) {
                out.push(format!("    {} {x}", st.red("-")));
            }
        }
        (Some(Value::Map(b)), Some(Value::Map(a))) if !sensitive => {
            out.push(format!("~ {name}:{note}"));
            for (k, v) in a {
                match b.get(k) {
                    None => out.push(format!("    {} {k} = {v}", st.green("+"))),
                    Some(old) if old != v => out.push(format!("    {} {k}: {old} → {v}", st.yellow("~"))),
                    _ => {}
                }
            }
            for (k, v) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                out.push(format!("    {} {k} = {v}", st.red("-")));
            }
        }
        (None, Some(a)) => out.push(format!("  {name} = {}{note}", show(&Some(a.clone()), sensitive))),
        _ => out.push(format!("~ {name}: {} → {}{note}", show(before, sensitive), show(after, sensitive))),
    }
    out
}

fn change_block(st: &Style, c: &PropChange, out: &mut String) {
    let note =
        if c.forces_replacement { format!(" {}", st.red("(forces replacement)")) } else { String::new() };
    for l in change_lines(st, &c.name, &c.before, &c.after, c.sensitive, &note) {
        let _ = writeln!(out, "        {l}");
    }
}

/// A plan limited by `--target` / `--exclude` says so, as Terraform does: what it leaves
/// out may be left out of date.
fn targeting_note(st: &Style, plan: &Plan, out: &mut String) {
    let Some(t) = plan.targeting.as_ref().filter(|t| t.limits()) else { return };
    let mut given: Vec<String> = t.target.iter().map(|p| format!("--target {p}")).collect();
    given.extend(t.exclude.iter().map(|p| format!("--exclude {p}")));
    let _ = writeln!(
        out,
        "{} this plan is limited by {}: changes outside it are not shown, and what depends on what it changes may be left out of date. Run a full plan afterwards.",
        st.yellow("Targeted:"),
        given.join(" ")
    );
}

pub fn plan_text(st: &Style, plan: &Plan, region: &str) -> String {
    let mut out = String::new();
    if !plan.has_changes() {
        let what = match plan.mode {
            PlanMode::Destroy => "Nothing to destroy: stack {} ({region}) has no resources.",
            PlanMode::Apply => "No changes. Stack {} ({region}) matches the configuration.",
        };
        let _ =
            writeln!(out, "{}", what.replacen("{}", &st.bold(&plan.stack), 1).replace("{region}", region));
        targeting_note(st, plan, &mut out);
        if let Some(cost) = &plan.cost {
            crate::cost::cost_text(st, cost, &mut out);
        }
        unmanaged_text(st, &plan.unmanaged, region, &mut out);
        return out;
    }
    let verb = if plan.mode == PlanMode::Destroy { "destroy" } else { "change" };
    let _ = writeln!(out, "hactl will {verb} stack {} ({region}):\n", st.bold(&plan.stack));
    // Listed by address, so a long plan is easy to scan (the execution order comes from
    // the dependency graph, not from this list).
    let mut listed: Vec<_> = plan.actions.iter().collect();
    listed.sort_by(|x, y| x.address.cmp(&y.address).then(x.kind.cmp(&y.kind)));
    for a in listed {
        let id = a.id.as_deref().map(|i| format!(" {}", st.dim(i))).unwrap_or_default();
        let reason =
            a.reason.as_deref().map(|r| format!("  {}", st.dim(&format!("# {r}")))).unwrap_or_default();
        // Outside the home region a resource says where it lives.
        let at = match a.location.region_name() {
            Some(r) if r != region => format!(" in {r}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {} {} ({}{at}){id}{reason}",
            st.action(a.action),
            st.bold(a.address.as_str()),
            a.kind
        );
        match a.action {
            ActionType::Create => {
                for c in a.changes.iter().filter(|c| c.after != Some(Value::Null)) {
                    let _ = writeln!(out, "        {} = {}", c.name, show(&c.after, c.sensitive));
                }
            }
            ActionType::Update | ActionType::Replace => {
                for c in &a.changes {
                    change_block(st, c, &mut out);
                }
            }
            _ => {}
        }
    }
    let s = plan.summary();
    let mut parts = vec![
        format!("{} to create", s.create),
        format!("{} to update", s.update),
        format!("{} to replace", s.replace),
        format!("{} to delete", s.delete),
    ];
    if s.adopt > 0 {
        parts.push(format!("{} to adopt", s.adopt));
    }
    if s.forget > 0 {
        parts.push(format!("{} to forget", s.forget));
    }
    let data: Vec<String> =
        plan.data_removals().iter().map(|a| format!("{} {}", a.action, a.address)).collect();
    let data_note = if data.is_empty() {
        String::new()
    } else {
        format!(" {}", st.red(&format!("DATABASE: this plan will {}.", data.join(", "))))
    };
    let _ = writeln!(out, "\n{} {}.{data_note}", st.bold("Plan:"), parts.join(", "));
    if !plan.protected.is_empty() {
        let names: Vec<&str> = plan.protected.iter().map(hactl_core::Address::as_str).collect();
        let _ = writeln!(
            out,
            "{} deletion protection is on for {}: applying this plan needs --allow-delete-protected.",
            st.yellow("Protected:"),
            names.join(", ")
        );
    }
    targeting_note(st, plan, &mut out);
    if let Some(cost) = &plan.cost {
        crate::cost::cost_text(st, cost, &mut out);
    }
    unmanaged_text(st, &plan.unmanaged, region, &mut out);
    conflicts_text(st, plan, &mut out);
    out
}

fn conflicts_text(st: &Style, plan: &Plan, out: &mut String) {
    if plan.conflicts.is_empty() {
        return;
    }
    let (head, tail) = match plan.mode {
        PlanMode::Apply => (
            st.red("Conflict:"),
            "Nothing will be changed. Import the object (`hactl import ADDRESS ID`, or every one with \
             `hactl import --discover`), rename the stack, or delete the object yourself; hactl never \
             adopts, re-tags or deletes it on its own.",
        ),
        PlanMode::Destroy => (st.yellow("Note:"), "They are not this stack's and are left in place."),
    };
    let _ = writeln!(
        out,
        "\n{head} {} object(s) have a name this stack uses but neither carry its ownership tags \
         nor are recorded in its state:",
        plan.conflicts.len()
    );
    for c in &plan.conflicts {
        let _ = writeln!(out, "  ! {} {} (the name of {})", c.kind, c.id, c.address);
    }
    let _ = writeln!(out, "{tail}");
}

fn unmanaged_text(st: &Style, unmanaged: &[Unmanaged], home: &str, out: &mut String) {
    if unmanaged.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n{} {} object(s) carry this stack's tag but are not managed by hactl (left alone):",
        st.yellow("Note:"),
        unmanaged.len()
    );
    for u in unmanaged {
        let tag = u.address_tag.as_deref().map(|a| format!(" (hactl:address={a})")).unwrap_or_default();
        let at = u.location.as_ref().map(|l| elsewhere(l, home)).unwrap_or_default();
        let _ = writeln!(out, "  ? {}{at} {}{tag}", u.kind, u.id);
    }
}

/// `plan --refresh-only`: what a refresh would record, from the drift report (the
/// changes to state, never to AWS).
pub fn refresh_text(st: &Style, r: &DriftReport, home: &str) -> String {
    if !r.has_drift() {
        return format!(
            "No changes outside hactl: a refresh of stack {} would record nothing.\n",
            st.bold(&r.stack)
        );
    }
    let body = drift_text(st, r, home);
    let details = body.split_once('\n').map(|(_, rest)| rest).unwrap_or_default();
    format!(
        "Refresh only: objects of stack {} changed outside hactl ({} changed, {} deleted, {} unmanaged). \
         A refresh would record the changed values and forget the deleted objects; nothing is changed in AWS \
         or in state.\n{details}",
        st.bold(&r.stack),
        r.changed.len(),
        r.deleted.len(),
        r.unmanaged.len()
    )
}

/// ` in REGION` for a location in another region than `home`, else nothing.
fn elsewhere(location: &hactl_core::Location, home: &str) -> String {
    match location.region_name() {
        Some(r) if r != home => format!(" in {r}"),
        _ => String::new(),
    }
}

/// The drift report; `home` is the stack's region (others are named on each line).
pub fn drift_text(st: &Style, r: &DriftReport, home: &str) -> String {
    let mut out = String::new();
    if !r.has_drift() {
        let _ = writeln!(
            out,
            "No drift. Every resource of stack {} matches what hactl applied.",
            st.bold(&r.stack)
        );
        return out;
    }
    let _ = writeln!(
        out,
        "Drift on stack {}: {} changed, {} deleted, {} unmanaged\n",
        st.bold(&r.stack),
        r.changed.len(),
        r.deleted.len(),
        r.unmanaged.len()
    );
    for c in &r.changed {
        let _ = writeln!(
            out,
            "  {} {} ({}{}) {}",
            st.yellow("~"),
            st.bold(c.address.as_str()),
            c.kind,
            elsewhere(&c.location, home),
            st.dim(&c.id)
        );
        for ch in &c.changes {
            // Before → after reads as applied by hactl → live in AWS.
            for l in change_lines(st, &ch.property, &ch.expected, &ch.actual, false, "") {
                let _ = writeln!(out, "        {l}");
            }
        }
    }
    for d in &r.deleted {
        let _ = writeln!(
            out,
            "  {} {} ({}{}) {}  {}",
            st.red("-"),
            st.bold(d.address.as_str()),
            d.kind,
            elsewhere(&d.location, home),
            st.dim(&d.id),
            st.dim("# deleted outside hactl")
        );
    }
    unmanaged_text(st, &r.unmanaged, home, &mut out);
    let legend =
        "Read `a → b` as applied by hactl → live in AWS; `+` exists only in AWS (added outside hactl), \
                  `-` was applied by hactl and is gone.";
    let _ = writeln!(out, "\n{}", st.dim(legend));
    out
}

/// Renders engine events on stderr.
pub struct StderrSink {
    pub style: Style,
    pub progress: bool,
    pub verbose: bool,
    start: Instant,
    lock: Mutex<()>,
}

impl StderrSink {
    pub fn new(style: Style, progress: bool, verbose: bool) -> Self {
        StderrSink { style, progress, verbose, start: Instant::now(), lock: Mutex::new(()) }
    }

    fn line(&self, s: String) {
        let _g = self.lock.lock();
        let mut e = std::io::stderr().lock();
        let _ =
            writeln!(e, "{} {s}", self.style.dim(&format!("[{:>6.1}s]", self.start.elapsed().as_secs_f64())));
    }
}

fn phase_words(p: hactl_core::exec::Phase) -> (&'static str, &'static str) {
    use hactl_core::exec::Phase::*;
    match p {
        Create => ("creating", "created"),
        Update => ("updating", "updated"),
        Delete => ("deleting", "deleted"),
        Record => ("recording", "recorded"),
    }
}

impl EventSink for StderrSink {
    fn emit(&self, event: Event) {
        let st = &self.style;
        match event {
            Event::ReadStarted { kind, targets } => {
                tracing::debug!(kind, targets, "refresh: read started");
            }
            Event::ReadFinished { kind, found, elapsed } => {
                tracing::debug!(kind, found, ms = elapsed.as_millis() as u64, "refresh: read finished");
                if self.verbose {
                    self.line(format!("read {kind}: {found} live object(s) in {:.0} ms", elapsed.as_secs_f64() * 1000.0));
                }
            }
            Event::StepStarted { address, phase } if self.progress => {
                self.line(format!("{address}: {}…", phase_words(phase).0));
            }
            Event::Progress { address, message, elapsed } if self.progress => {
                self.line(format!("{address}: {message} ({}s elapsed)", elapsed.as_secs()));
            }
            Event::Retrying { address, error, attempt, wait } if self.progress => {
                self.line(format!("{address}: {} (attempt {attempt}); retrying in {}s", st.yellow(&error), wait.as_secs()));
            }
            Event::StepFinished { address, phase, id, elapsed } if self.progress => {
                let id = id.map(|i| format!(" {i}")).unwrap_or_default();
                self.line(format!("{address}: {}{id} {}", st.green(phase_words(phase).1), st.dim(&format!("({:.1}s)", elapsed.as_secs_f64()))));
            }
            Event::StepFailed { address, phase, error } => {
                self.line(format!("{address}: {} {}: {error}", st.red("failed"), phase_words(phase).0));
            }
            Event::StepSkipped { address, because } => {
                self.line(format!("{address}: {} (depends on failed {because})", st.yellow("skipped")));
            }
            Event::StateSaved { serial } => tracing::debug!(serial, "state saved"),
            Event::Interrupted { in_flight } => self.line(format!(
                "{} starting nothing new; waiting for {in_flight} action(s) in flight, then saving state (Ctrl-C again to quit at once)",
                st.yellow("interrupted:")
            )),
            _ => {}
        }
    }
}

pub fn is_stdout_terminal() -> bool {
    std::io::stdout().is_terminal()
}

pub fn is_stderr_terminal() -> bool {
    std::io::stderr().is_terminal()
}

pub fn stats_line(counts: &BTreeMap<String, u64>, elapsed_ms: u128) -> String {
    let total: u64 = counts.values().sum();
    let json =
        serde_json::json!({ "api_calls": total, "by_operation": counts, "elapsed_ms": elapsed_ms as u64 });
    format!("hactl-stats {json}")
}

/// The one log line of a `drift --watch` run, as text or as a JSON object.
pub fn drift_run_line(
    format: LogFormat,
    stack: &str,
    run: u64,
    outcome: Result<&DriftReport, &str>,
    elapsed: std::time::Duration,
    published: bool,
) -> String {
    let ts = hactl_aws::metrics::utc_now_rfc3339();
    let ms = elapsed.as_millis() as u64;
    match (format, outcome) {
        (LogFormat::Json, Ok(r)) => serde_json::json!({
            "timestamp": ts,
            "level": if r.has_drift() { "WARN" } else { "INFO" },
            "target": "hactl::drift",
            "message": "drift run",
            "stack": stack,
            "run": run,
            "drifted": r.drifted_count(),
            "changed": r.changed.len(),
            "deleted": r.deleted.len(),
            "unmanaged": r.unmanaged.len(),
            "metric_published": published,
            "duration_ms": ms,
        })
        .to_string(),
        (LogFormat::Json, Err(e)) => serde_json::json!({
            "timestamp": ts,
            "level": "ERROR",
            "target": "hactl::drift",
            "message": "drift run failed",
            "stack": stack,
            "run": run,
            "error": e,
            "duration_ms": ms,
        })
        .to_string(),
        (LogFormat::Text, Ok(r)) => format!(
            "{ts} drift run {run} of stack {stack}: {} drifted ({} changed, {} deleted, {} unmanaged){} in {ms} ms",
            r.drifted_count(),
            r.changed.len(),
            r.deleted.len(),
            r.unmanaged.len(),
            if published { ", metric published" } else { "" }
        ),
        (LogFormat::Text, Err(e)) => format!("{ts} drift run {run} of stack {stack} failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_shows_as_its_size_and_digest_and_short_text_as_itself() {
        let code = "line\n".repeat(100);
        assert_eq!(show(&Some(Value::str(&code)), false), "(100 lines, 500 bytes, sha256 e616983f2e39)");
        let edited = format!("{}lime\n", "line\n".repeat(99));
        assert_eq!(show(&Some(Value::str(edited)), false), "(100 lines, 500 bytes, sha256 b45e57a163d9)");
        assert_eq!(show(&Some(Value::str("a\nb")), false), "\"a\\nb\"");
        let one_line = "x".repeat(300);
        assert_eq!(show(&Some(Value::str(&one_line)), false), format!("\"{one_line}\""));
        assert_eq!(show(&Some(Value::str(&code)), true), "(sensitive)");
    }
}
