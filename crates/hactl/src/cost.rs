//! The plan's cost estimate: the stack as state records it (before) and as it will be
//! once the plan is applied (after), priced by `hactl-cost`'s tables; the plan document
//! carries both, and the text says the total, the change and what changes it.

use hactl_core::plan::ActionType;
use hactl_core::{Address, DesiredGraph, Location, Plan, Props};
use hactl_cost::{estimate, Estimate, Item};
use hactl_state::State;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;

/// A resource as priced: kind, where, properties, dependencies.
struct Priced<'a> {
    kind: &'a str,
    location: Option<&'a Location>,
    props: &'a Props,
    deps: Vec<Address>,
}

fn items<'a>(resources: &'a BTreeMap<&'a Address, Priced<'a>>) -> Vec<Item<'a>> {
    resources
        .iter()
        .map(|(address, p)| Item {
            address,
            kind: p.kind,
            region: p.location.and_then(Location::region_name),
            props: p.props,
            deps: &p.deps,
        })
        .collect()
}

/// The stack as state records it.
fn before(state: &State) -> BTreeMap<&Address, Priced<'_>> {
    state
        .resources
        .iter()
        .map(|(a, rs)| {
            let p = Priced {
                kind: &rs.kind,
                location: rs.location.as_ref(),
                props: &rs.props,
                deps: rs.depends_on.clone(),
            };
            (a, p)
        })
        .collect()
}

/// The stack once `plan` is applied: what it creates, updates, replaces or adopts as
/// desired; what it deletes or forgets gone; the rest as state records it.
fn after<'a>(
    plan: &'a Plan,
    desired: &'a DesiredGraph,
    state: &'a State,
) -> BTreeMap<&'a Address, Priced<'a>> {
    let mut out = before(state);
    for a in &plan.actions {
        match a.action {
            ActionType::Delete | ActionType::Forget if !desired_after(plan, &a.address) => {
                out.remove(&a.address);
            }
            ActionType::Delete | ActionType::Forget => {}
            _ => {
                let Some(spec) = a.desired.as_ref().or_else(|| desired.get(&a.address)) else { continue };
                let p = Priced {
                    kind: &spec.kind,
                    location: Some(&a.location),
                    props: &spec.props,
                    deps: spec.dependencies().into_iter().collect(),
                };
                out.insert(&a.address, p);
            }
        }
    }
    out
}

/// Whether the plan also creates (or adopts, updates) the address it deletes: a kind or
/// location move deletes the old object and makes the new one.
fn desired_after(plan: &Plan, address: &Address) -> bool {
    plan.actions
        .iter()
        .any(|a| &a.address == address && !matches!(a.action, ActionType::Delete | ActionType::Forget))
}

/// What each address costs a month, in cents.
fn per_address(e: &Estimate) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for l in &e.lines {
        *out.entry(l.address.to_string()).or_insert(0) += cents(l.monthly_usd);
    }
    out
}

fn cents(usd: f64) -> i64 {
    // Monthly figures of one stack stay far below i64's range.
    (usd * 100.0).round() as i64
}

/// The `cost` member of the plan document: the estimate after the plan (its lines,
/// assumptions and sources), the total before, the change, and each address whose cost
/// changes. `Err`: a price table compiled into hactl does not read (a bug).
pub fn plan_cost(
    plan: &Plan,
    desired: &DesiredGraph,
    state: &State,
    home: &str,
) -> Result<Json, hactl_cost::CostError> {
    let (b, a) = (before(state), after(plan, desired, state));
    let before = estimate(home, &items(&b))?;
    let after = estimate(home, &items(&a))?;
    let (was, now) = (per_address(&before), per_address(&after));
    let mut changes = Vec::new();
    for address in was.keys().chain(now.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (x, y) = (was.get(address).copied().unwrap_or(0), now.get(address).copied().unwrap_or(0));
        if x != y {
            changes.push(
                json!({"address": address, "before_usd": x as f64 / 100.0, "after_usd": y as f64 / 100.0}),
            );
        }
    }
    let mut doc = after.to_json();
    if let Some(m) = doc.as_object_mut() {
        m.insert("before_monthly_usd".into(), json!(cents(before.monthly_usd) as f64 / 100.0));
        m.insert(
            "delta_usd".into(),
            json!((cents(after.monthly_usd) - cents(before.monthly_usd)) as f64 / 100.0),
        );
        m.insert("changes".into(), Json::Array(changes));
    }
    Ok(doc)
}

/// `$1,234.50`.
fn dollars(usd: f64) -> String {
    let c = cents(usd).abs();
    let whole = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}${grouped}.{:02}", if cents(usd) < 0 { "-" } else { "" }, c % 100)
}

/// `+$12.00` / `-$3.50`.
fn signed(usd: f64) -> String {
    if usd >= 0.0 {
        format!("+{}", dollars(usd))
    } else {
        dollars(usd)
    }
}

/// How many changed addresses the text lists (`plan --json` has them all).
const LISTED: usize = 10;

/// The plan text's cost lines: the total a month (by region), the change this plan makes
/// and the addresses that make it, what the figures rest on, and what is not priced.
pub fn cost_text(st: &crate::render::Style, cost: &Json, out: &mut String) {
    use std::fmt::Write as _;
    let num = |v: &Json| v.as_f64().unwrap_or(0.0);
    let regions: Vec<String> = cost["by_region"]
        .as_object()
        .map(|m| m.iter().map(|(r, v)| format!("{r} {}", dollars(num(v)))).collect())
        .unwrap_or_default();
    let delta = num(&cost["delta_usd"]);
    let change = if delta == 0.0 {
        String::new()
    } else {
        format!("; this plan: {} (from {})", signed(delta), dollars(num(&cost["before_monthly_usd"])))
    };
    let _ = writeln!(
        out,
        "\n{} about {} a month ({}){change}.",
        st.bold("Cost:"),
        dollars(num(&cost["monthly_usd"])),
        regions.join(", ")
    );
    let changes = cost["changes"].as_array().map(Vec::as_slice).unwrap_or_default();
    for c in changes.iter().take(LISTED) {
        let (b, a) = (num(&c["before_usd"]), num(&c["after_usd"]));
        let _ = writeln!(
            out,
            "  {:>10}  {}  {} → {}",
            signed(a - b),
            c["address"].as_str().unwrap_or(""),
            dollars(b),
            dollars(a)
        );
    }
    if changes.len() > LISTED {
        let _ = writeln!(out, "  ... and {} more (`plan --json`: every one)", changes.len() - LISTED);
    }
    let taken: Vec<String> = cost["sources"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|s| {
                    format!("{} {}", s["region"].as_str().unwrap_or(""), s["taken"].as_str().unwrap_or(""))
                })
                .collect()
        })
        .unwrap_or_default();
    let a = &cost["assumptions"];
    let _ = writeln!(
        out,
        "{}",
        st.dim(&format!(
            "  On-demand list prices of hactl's tables ({}), {} h a month, assuming {} LCU per load balancer, {} GB per NAT gateway, {} GB of logs per log group; data transfer and requests not included.",
            taken.join(", "),
            num(&a["hours_per_month"]),
            num(&a["alb_lcus"]),
            num(&a["nat_gb_per_gateway"]),
            num(&a["log_gb_per_group"]),
        ))
    );
    let unpriced = cost["unpriced"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !unpriced.is_empty() {
        let names: Vec<String> = unpriced
            .iter()
            .map(|u| {
                format!("{} ({})", u["address"].as_str().unwrap_or(""), u["reason"].as_str().unwrap_or(""))
            })
            .collect();
        let _ = writeln!(out, "  {} {}", st.yellow("Not priced:"), names.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped_and_signed() {
        assert_eq!(dollars(1234.5), "$1,234.50");
        assert_eq!(dollars(0.004), "$0.00");
        assert_eq!(dollars(999.999), "$1,000.00");
        assert_eq!(signed(12.0), "+$12.00");
        assert_eq!(signed(-3.5), "-$3.50");
        assert_eq!(dollars(1_000_000.0), "$1,000,000.00");
    }
}
