//! Commands that read the config or state and never call AWS beyond the state store:
//! `validate --json`, `output`, `state list|show|rm`.

use crate::cli::StateCommand;
use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::session::open_store;
use crate::{outputs, render};
use anyhow::{bail, Context, Result};
use hactl_core::Address;
use hactl_state::{State, StateStore};
use render::Style;

/// `validate --json`: `{"valid": true, "file", "stack", "region", "resources", "zones"}`
/// (plus `"dr_region"` and `"dr_zones"` with a `[dr]` section),
/// or `{"valid": false, "file", "errors": [{file, line, column, field, message, hint}]}`
/// and exit 1. Nothing on stderr either way.
pub fn validate_json(rc: &RunContext) -> Result<ExitStatus> {
    let g = &rc.g;
    let file = g.config.display().to_string();
    let errors = |errors: Vec<serde_json::Value>| serde_json::json!({ "valid": false, "file": file, "errors": errors });
    let doc = match hactl_config::load(&g.config) {
        Err(errs) => errors(
            errs.0
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "file": e.file,
                        "line": e.line,
                        "column": e.column,
                        "field": e.field,
                        "message": e.message,
                        "hint": e.hint,
                    })
                })
                .collect(),
        ),
        Ok(cfg) => {
            let expanded = hactl_config::expand::expand(&cfg, &hactl_config::expand::ExpandEnv::offline())
                .map_err(|e| e.to_string())
                .and_then(|d| rc.target_region(&cfg).map(|_| d).map_err(|e| e.to_string()));
            match expanded {
                Ok(desired) => {
                    let mut doc = serde_json::json!({
                        "valid": true,
                        "file": file,
                        "stack": cfg.stack.name,
                        "region": cfg.stack.region,
                        "resources": desired.len(),
                        "zones": cfg.network.zones.len(),
                    });
                    if let Some(dr) = &cfg.dr {
                        doc["dr_region"] = serde_json::json!(dr.region);
                        doc["dr_zones"] = serde_json::json!(dr.network.zones.len());
                    }
                    doc
                }
                Err(message) => errors(vec![serde_json::json!({
                    "file": file, "line": 0, "column": 0, "field": "", "message": message, "hint": null,
                })]),
            }
        }
    };
    outln!("{}", serde_json::to_string_pretty(&doc)?)?;
    Ok(if doc["valid"] == true { ExitStatus::Success } else { ExitStatus::Failure })
}

/// The stack's state, or an error when none was ever written there (a typo in
/// --state-dir or `[state]` would otherwise read as an empty stack).
pub async fn existing_state(store: &StateStore) -> Result<State> {
    let state = store.load().await?;
    if state.lineage.is_empty() {
        bail!(
            "no state for stack `{}` at {store}: nothing has been applied there\n\
             hint: check --state-dir (or HACTL_STATE_DIR) and the config's [state] section",
            state.stack
        );
    }
    Ok(state)
}

/// `hactl output [NAME] [--json]`.
pub async fn output(rc: &RunContext, name: Option<&str>, json: bool) -> Result<ExitStatus> {
    let (cfg, _) = rc.load_config()?;
    rc.target_region(&cfg)?;
    let store = open_store(&cfg, rc).await?;
    let state = existing_state(&store).await?;
    let all = outputs::stack_outputs(&state);
    match name {
        Some(n) => {
            let o = all.get(n).with_context(|| {
                let names: Vec<&str> = all.keys().copied().collect();
                format!("stack `{}` has no output `{n}`; it has: {}", cfg.stack.name, names.join(", "))
            })?;
            if json {
                outln!("{}", o.value)?;
            } else {
                outln!("{}", outputs::raw(&o.value))?;
            }
        }
        None if json => {
            let m: serde_json::Map<String, serde_json::Value> =
                all.iter().map(|(k, o)| (k.to_string(), o.value.clone())).collect();
            outln!("{}", serde_json::to_string_pretty(&m)?)?;
        }
        None => {
            let st = Style::detect(rc.g.no_color, render::is_stdout_terminal());
            for (k, o) in &all {
                outln!("{} = {}  {}", st.bold(k), o.value, st.dim(&format!("# {}", o.about)))?;
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// `hactl state list|show|rm`.
pub async fn state(rc: &RunContext, command: StateCommand) -> Result<ExitStatus> {
    let (cfg, _) = rc.load_config()?;
    rc.target_region(&cfg)?;
    let store = open_store(&cfg, rc).await?;
    match command {
        StateCommand::List { json } => {
            let state = existing_state(&store).await?;
            if json {
                let list: Vec<serde_json::Value> = state
                    .resources
                    .iter()
                    .map(|(a, r)| {
                        // A format 1 record has no location: the home region, or global.
                        let at = r.location.clone().unwrap_or_else(|| {
                            match hactl_core::kinds::info(&r.kind).is_some_and(|k| k.global) {
                                true => hactl_core::Location::Global,
                                false => hactl_core::Location::region(&state.region),
                            }
                        });
                        serde_json::json!({ "address": a, "kind": r.kind, "location": at, "id": r.id })
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                for (a, r) in &state.resources {
                    outln!("{a}\t{}\t{}", r.kind, r.id)?;
                    if crate::output::stdout_closed() {
                        break;
                    }
                }
            }
        }
        StateCommand::Show { address } => {
            let state = existing_state(&store).await?;
            let a = Address::parse(&address)?;
            let r = state
                .resources
                .get(&a)
                .with_context(|| format!("`{address}` is not in the state of stack `{}`", cfg.stack.name))?;
            outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "address": a, "resource": r }))?)?;
        }
        StateCommand::Rm { addresses } => {
            let addresses = addresses.iter().map(|a| Address::parse(a)).collect::<Result<Vec<_>, _>>()?;
            state_rm(&store, &addresses).await?;
        }
    }
    Ok(ExitStatus::Success)
}

/// Forgets `addresses` (all must be in state, or nothing is removed), under the lock.
async fn state_rm(store: &StateStore, addresses: &[Address]) -> Result<()> {
    // No state there: say so before the lock would create its directory.
    existing_state(store).await?;
    let (guard, _) = store.lock("state rm").await?;
    let result = async {
        let mut state = existing_state(store).await?;
        let missing: Vec<&str> =
            addresses.iter().filter(|a| !state.resources.contains_key(*a)).map(Address::as_str).collect();
        if !missing.is_empty() {
            bail!("not in the state of stack `{}`: {}; nothing was removed", state.stack, missing.join(", "));
        }
        let removed: Vec<(Address, hactl_state::ResourceState)> =
            addresses.iter().filter_map(|a| state.resources.remove(a).map(|r| (a.clone(), r))).collect();
        store.save(&mut state).await.context("saving state")?;
        for (a, r) in &removed {
            errln!("Removed {a} ({} {}) from state; it is left as it is in AWS.", r.kind, r.id);
        }
        errln!(
            "Note: objects that still carry the stack's ownership tags (hactl:stack, hactl:address) are found \
             and adopted again by the next plan while their address is in the config; remove the tags, or the \
             address from the config, to hand them over."
        );
        Ok(())
    }
    .await;
    let released = guard.release().await;
    result?;
    released.context("releasing the state lock")?;
    Ok(())
}
