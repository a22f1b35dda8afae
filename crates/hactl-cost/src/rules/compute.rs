//! ECS services on Fargate and the EC2 Auto Scaling group of container instances.

use super::{entry_number, need_number, need_text, percent, price, prop, qty, Charge, Ctx};
use crate::estimate::Category;
use crate::Item;
use hactl_core::Value;

/// A service's tasks: its count (`desired_count`, or `initial_desired_count` when a
/// scalable target owns the count) on Fargate, at its task definition's size. With a
/// capacity provider strategy, the FARGATE_SPOT share at the Spot price; a service on an
/// Auto Scaling group's capacity provider (or `launch_type` EC2) has no line: its
/// instances are priced with the group.
pub(crate) fn ecs_service(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let tasks = match prop(item, "desired_count") {
        Some(_) => need_number(item, "desired_count")?,
        None => need_number(item, "initial_desired_count")?,
    };
    let Some(split) = fargate_split(item, tasks)? else { return Ok(()) };
    let td = c.dep(item, "ecs.task_definition")?;
    let vcpu = need_number(td, "cpu")? / 1024.0;
    let gb = need_number(td, "memory")? / 1024.0;
    let f = &c.t.fargate;
    let per_task = c.a.hours_per_month * (vcpu * f.vcpu_hour + gb * f.gb_hour);
    let size = format!(
        "{} × ({} vCPU × ${}/vCPU-h + {} GB × ${}/GB-h)",
        c.hours(),
        qty(vcpu),
        f.vcpu_hour,
        qty(gb),
        f.gb_hour
    );
    if split.on_demand > 0.0 || split.spot == 0.0 {
        let detail = format!("{} on FARGATE × {size}", tasks_of(split.on_demand));
        c.charge(out, Category::Compute, split.on_demand * per_task, detail);
    }
    if split.spot > 0.0 {
        let off = f.spot_discount;
        let detail = format!("{} on FARGATE_SPOT × {size} × (1 − {})", tasks_of(split.spot), percent(off));
        c.charge(out, Category::Compute, split.spot * per_task * (1.0 - off), detail);
    }
    Ok(())
}

/// `1 task`, `2 tasks`, `1.5 tasks`.
fn tasks_of(n: f64) -> String {
    if n == 1.0 {
        "1 task".into()
    } else {
        format!("{} tasks", qty(n))
    }
}

/// Tasks on FARGATE and on FARGATE_SPOT.
#[derive(Debug, PartialEq)]
pub(crate) struct Split {
    pub on_demand: f64,
    pub spot: f64,
}

/// How `tasks` tasks spread over Fargate's providers: each provider's `base` first (in
/// the strategy's order), the rest by weight. `None`: EC2 capacity.
pub(crate) fn fargate_split(item: &Item<'_>, tasks: f64) -> Result<Option<Split>, String> {
    match prop(item, "launch_type").map(|v| v.as_str()) {
        Some(Some("FARGATE")) => return Ok(Some(Split { on_demand: tasks, spot: 0.0 })),
        Some(Some("EC2")) => return Ok(None),
        Some(other) => return Err(format!("launch type {other:?} is not priced (FARGATE and EC2 are)")),
        None => {}
    }
    let Some(strategy) = prop(item, "capacity_provider_strategy").and_then(Value::as_list) else {
        return Err("it has neither a launch type nor a capacity provider strategy".into());
    };
    // (spot?, base, weight); `None` for another provider: an Auto Scaling group's.
    let entries: Vec<Option<(bool, f64, f64)>> = strategy
        .iter()
        .map(|e| {
            let m = e.as_map()?;
            let spot = match m.get("capacity_provider").and_then(Value::as_str) {
                Some("FARGATE") => false,
                Some("FARGATE_SPOT") => true,
                _ => return None,
            };
            Some((spot, entry_number(m, "base").unwrap_or(0.0), entry_number(m, "weight").unwrap_or(0.0)))
        })
        .collect();
    if entries.iter().all(Option::is_none) {
        return Ok(None);
    }
    let Some(entries) = entries.into_iter().collect::<Option<Vec<_>>>() else {
        return Err("its strategy mixes Fargate with other capacity providers".into());
    };
    let mut split = Split { on_demand: 0.0, spot: 0.0 };
    let mut add = |spot: bool, n: f64| if spot { split.spot += n } else { split.on_demand += n };
    let mut left = tasks;
    for (spot, base, _) in &entries {
        let n = base.min(left);
        add(*spot, n);
        left -= n;
    }
    let weights: f64 = entries.iter().map(|e| e.2).sum();
    if left > 0.0 {
        if weights <= 0.0 {
            return Err("its strategy's weights are all 0".into());
        }
        for (spot, _, weight) in &entries {
            add(*spot, left * weight / weights);
        }
    }
    Ok(Some(split))
}

/// The group's instances (its `desired_capacity`) of its launch template's type, and
/// their root volumes. With a mixed-instances policy: `on_demand_base` on-demand, of the
/// rest `on_demand_percent_above_base` on-demand and the others Spot, all priced as the
/// policy's first instance type (Spot at the table's discount).
pub(crate) fn auto_scaling_group(
    c: &Ctx<'_, '_>,
    item: &Item<'_>,
    out: &mut Vec<Charge>,
) -> Result<(), String> {
    let n = need_number(item, "desired_capacity")?;
    let lt = c.dep(item, "ec2.launch_template")?;
    let lt_type = need_text(lt, "instance_type")?;
    let (on_demand, spot, itype) = match prop(item, "mixed_instances").and_then(Value::as_map) {
        None => (n, 0.0, lt_type.to_string()),
        Some(m) => {
            let types = m.get("instance_types").map(Value::string_list).unwrap_or_default();
            let itype = types.first().cloned().unwrap_or_else(|| lt_type.to_string());
            let base = entry_number(m, "on_demand_base").unwrap_or(0.0).min(n);
            let pct = entry_number(m, "on_demand_percent_above_base").unwrap_or(100.0);
            let on_demand = base + (n - base) * pct / 100.0;
            (on_demand, n - on_demand, itype)
        }
    };
    let e = &c.t.ec2;
    let hour = price(&e.instance_hour, &itype, "instance type", c.region)?;
    let h = c.a.hours_per_month;
    if on_demand > 0.0 || spot == 0.0 {
        let detail = format!("{} × {itype} × {} × ${hour}/h", qty(on_demand), c.hours());
        c.charge(out, Category::Compute, on_demand * h * hour, detail);
    }
    if spot > 0.0 {
        let off = e.spot_discount;
        let detail =
            format!("{} Spot × {itype} × {} × ${hour}/h × (1 − {})", qty(spot), c.hours(), percent(off));
        c.charge(out, Category::Compute, spot * h * hour * (1.0 - off), detail);
    }
    let Some(volume) = prop(lt, "root_volume").and_then(Value::as_map) else {
        return Err(format!("{} has no root_volume", lt.address));
    };
    let kind = volume.get("volume_type").and_then(Value::as_str).unwrap_or("gp3");
    if kind != "gp3" {
        return Err(format!("volume type {kind} is not in the price table (gp3 is)"));
    }
    let Some(size) = entry_number(volume, "volume_size") else {
        return Err(format!("the root volume of {} has no size", lt.address));
    };
    let detail = format!("{} × {} GB gp3 × ${}/GB-month", qty(n), qty(size), e.gp3_gb_month);
    c.charge(out, Category::Compute, n * size * e.gp3_gb_month, detail);
    Ok(())
}
