//! `hactl force-unlock [LOCK_ID]`.

use crate::context::RunContext;
use crate::exit::ExitStatus;
use crate::session::open_store;
use anyhow::Result;

/// Removes a stack lock left behind by a run that is gone (checked against `lock_id`
/// when given).
pub async fn force_unlock(rc: &RunContext, lock_id: Option<&str>) -> Result<ExitStatus> {
    let (cfg, _) = rc.load_config()?;
    let store = open_store(&cfg, rc).await?;
    let held = store.force_unlock(lock_id).await?;
    errln!("Released the lock of stack `{}` held by {held}.", cfg.stack.name);
    Ok(ExitStatus::Success)
}
