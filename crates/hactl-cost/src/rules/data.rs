//! RDS for PostgreSQL, RDS Proxy, DocumentDB.

use super::{need_number, need_text, price, prop, qty, Charge, Ctx};
use crate::estimate::Category;
use crate::Item;
use hactl_core::Value;

/// The secret RDS or DocumentDB makes for a managed master password.
fn managed_secret(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) {
    if prop(item, "manage_master_password").and_then(Value::as_bool) == Some(true) {
        let p = c.t.secrets_manager.secret_month;
        let detail = format!("the secret of its managed master password × ${p}/month");
        c.charge(out, Category::Secrets, p, detail);
    }
}

/// A PostgreSQL instance: its class's hours, its allocated storage, both doubled by
/// Multi-AZ (the standby), and the secret of a managed password.
pub(crate) fn rds_instance(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let engine = need_text(item, "engine")?;
    if engine != "postgres" {
        return Err(format!("engine {engine} is not in the price table (postgres is)"));
    }
    managed_secret(c, item, out);
    let p = &c.t.rds;
    let class = need_text(item, "instance_class")?;
    let hour = price(&p.postgres_hour, class, "instance class", c.region)?;
    let multi_az = prop(item, "multi_az").and_then(Value::as_bool) == Some(true);
    let (factor, az) = if multi_az { (p.multi_az_factor, "Multi-AZ") } else { (1.0, "single-AZ") };
    let detail = format!("{class} {az} × {} × ${hour}/h × {}", c.hours(), qty(factor));
    c.charge(out, Category::Database, c.a.hours_per_month * hour * factor, detail);
    let gb = need_number(item, "allocated_storage")?;
    let kind = prop(item, "storage_type").and_then(Value::as_str).unwrap_or("gp2");
    let per_gb = match kind {
        "gp2" => p.gp2_gb_month,
        "gp3" => p.gp3_gb_month,
        other => return Err(format!("storage type {other} is not in the price table (gp2, gp3 are)")),
    };
    let detail = format!("{} GB {kind} {az} × ${per_gb}/GB-month × {}", qty(gb), qty(factor));
    c.charge(out, Category::Database, gb * per_gb * factor, detail);
    Ok(())
}

/// RDS Proxy: the vCPUs of the instance it fronts (its dependency of kind `rds.instance`),
/// at least the table's minimum.
pub(crate) fn rds_proxy(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let target = c.dep(item, "rds.instance")?;
    let class = need_text(target, "instance_class")?;
    let Some(&vcpus) = c.vcpus.get(class) else {
        return Err(format!("the vCPUs of instance class {class} are not in prices/db_vcpus.toml"));
    };
    let p = &c.t.rds_proxy;
    let billed = vcpus.max(p.min_vcpus);
    let detail = format!(
        "{billed} vCPUs ({class}: {vcpus}, at least {}) × {} × ${}/vCPU-h",
        p.min_vcpus,
        c.hours(),
        p.vcpu_hour
    );
    c.charge(out, Category::Database, f64::from(billed) * c.a.hours_per_month * p.vcpu_hour, detail);
    Ok(())
}

/// A DocumentDB instance: its class's hours.
pub(crate) fn docdb_instance(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let class = need_text(item, "instance_class")?;
    let hour = price(&c.t.docdb.instance_hour, class, "DocumentDB instance class", c.region)?;
    let detail = format!("{class} × {} × ${hour}/h", c.hours());
    c.charge(out, Category::Database, c.a.hours_per_month * hour, detail);
    Ok(())
}

/// A DocumentDB cluster: its assumed storage and I/O, and the secret of a managed
/// password.
pub(crate) fn docdb_cluster(c: &Ctx<'_, '_>, item: &Item<'_>, out: &mut Vec<Charge>) -> Result<(), String> {
    let p = &c.t.docdb;
    let gb = c.a.db_storage_gb;
    let detail = format!("{} GB stored (assumed) × ${}/GB-month", qty(gb), p.storage_gb_month);
    c.charge(out, Category::Database, gb * p.storage_gb_month, detail);
    let io = c.a.docdb_io_millions;
    let detail = format!("{} million I/O requests (assumed) × ${}/million", qty(io), p.io_million);
    c.charge(out, Category::Database, io * p.io_million, detail);
    managed_secret(c, item, out);
    Ok(())
}
