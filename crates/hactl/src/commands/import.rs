//! `hactl import ADDRESS ID` and `hactl import --discover`: existing AWS objects recorded
//! in state at addresses of the config, under the stack lock. Nothing changes in AWS.

use super::apply::confirm;
use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::render::Style;
use crate::session::session;
use anyhow::{bail, Context, Result};
use hactl_core::Address;
use hactl_engine::{check_imports, discover as find, record_imports, Checked, FoundBy, ImportRequest};

/// `hactl import ADDRESS ID`.
pub async fn import(rc: &RunContext, address: &str, id: &str) -> Result<ExitStatus> {
    let address = Address::parse(address)
        .with_context(|| format!("`{address}` is not an address (`hactl graph` lists them)"))?;
    let s = session(rc).await?;
    let requests = vec![ImportRequest { address: address.clone(), id: id.to_string() }];
    s.locked("import", async {
        let mut state = s.load_state().await?;
        let desired = s.desired()?;
        let checked = check_imports(&s.registry, &s.ctx, &desired, &state, &requests).await?;
        let (differences, replaced_by) = match checked.first() {
            Some(Checked::Ready { differences, replaced_by, .. }) => (differences.clone(), replaced_by.clone()),
            Some(Checked::Refused(why)) => {
                bail!("cannot import {id} at {address}: {why}; nothing was changed")
            }
            None => bail!("cannot import {id} at {address}: nothing was checked"),
        };
        record_imports(&mut state, &requests, checked);
        s.store.save(&mut state).await?;
        outln!("Imported {address} ({id}). {}", next_step(&differences))?;
        if !replaced_by.is_empty() {
            errln!(
                "{} the next apply REPLACES {id} (deletes it and creates another): {} cannot change in place. \
                 Change the config to match it, or `hactl state rm {address}` to undo the import.",
                s.sink.style.yellow("warning:"),
                replaced_by.join(", ")
            );
        }
        Ok(ExitStatus::Success)
    })
    .await
}

/// What the next plan will do with an imported object.
fn next_step(differences: &[String]) -> String {
    if differences.is_empty() {
        return "It matches the configuration: the next plan shows no change for it.".to_string();
    }
    format!(
        "It differs from the configuration in {}: `hactl plan` shows the changes, `hactl apply` makes them.",
        differences.join(", ")
    )
}

/// `hactl import --discover [--auto-approve]`.
pub async fn discover(rc: &RunContext, auto_approve: bool) -> Result<ExitStatus> {
    let s = session(rc).await?;
    s.locked("import", async {
        let mut state = s.load_state().await?;
        let desired = s.desired()?;
        let candidates = find(&s.registry, &s.ctx, &desired, &state).await?;
        if candidates.is_empty() {
            outln!(
                "Nothing to import: no object in AWS matches an address of stack `{}` that state does not record.",
                s.config().stack.name
            )?;
            return Ok(ExitStatus::Success);
        }
        let requests: Vec<ImportRequest> = candidates.iter().map(|c| c.request.clone()).collect();
        let checked = check_imports(&s.registry, &s.ctx, &desired, &state, &requests).await?;
        let ready = checked.iter().filter(|c| matches!(c, Checked::Ready { .. })).count();
        out!("{}", listing(&s.stdout_style, &candidates, &checked))?;
        outln!("\nImport: {ready} to import, {} skipped.", checked.len() - ready)?;
        if ready == 0 {
            return Ok(ExitStatus::Failure);
        }
        if !auto_approve && !confirm(&format!("Import these {ready} objects into stack `{}`?", s.config().stack.name))? {
            errln!("Import cancelled; nothing was changed.");
            return Ok(ExitStatus::Failure);
        }
        let recorded = record_imports(&mut state, &requests, checked);
        s.store.save(&mut state).await?;
        outln!(
            "Imported {} objects; state serial {}. `hactl plan` shows what differs from the configuration.",
            recorded.len(),
            state.serial
        )?;
        Ok(ExitStatus::Success)
    })
    .await
}

/// One line per candidate: what would be imported and how it was found, or why not.
fn listing(st: &Style, candidates: &[hactl_engine::Candidate], checked: &[Checked]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (c, ch) in candidates.iter().zip(checked) {
        let how = match c.found_by {
            FoundBy::Tags => "found by its ownership tags",
            FoundBy::Name => "found by name; no ownership tags",
        };
        let (mark, note) = match ch {
            Checked::Ready { differences, .. } if differences.is_empty() => {
                (st.green("<="), format!("{how}; matches the config"))
            }
            Checked::Ready { replaced_by, .. } if !replaced_by.is_empty() => (
                st.yellow("<="),
                format!(
                    "{how}; the next apply REPLACES it: {} cannot change in place",
                    replaced_by.join(", ")
                ),
            ),
            Checked::Ready { differences, .. } => {
                (st.green("<="), format!("{how}; differs in {}", differences.join(", ")))
            }
            Checked::Refused(why) => (st.yellow("!"), format!("skipped: {why}")),
        };
        let _ = writeln!(
            out,
            "  {mark} {} ({}) {}  {}",
            st.bold(c.request.address.as_str()),
            c.kind,
            st.dim(&c.request.id),
            st.dim(&format!("# {note}"))
        );
    }
    out
}
