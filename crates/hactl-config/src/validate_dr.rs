//! `[dr]`: a disaster-recovery region of the same stack and account. A child module of
//! `validate`.

use super::is_region;
use super::validate_network::{network, Section};
use crate::error::Collector;
use crate::expand::partition;
use crate::model::DrConfig;
use crate::raw::RawDr;

/// `home`: the stack's region when it is valid.
pub(super) fn dr(r: &RawDr, home: Option<&str>, c: &mut Collector<'_>) -> Option<DrConfig> {
    let name = r.region.get_ref();
    let mut region = Some(name.as_str());
    if !is_region(name) {
        let msg = format!("\"{name}\" is not a region name");
        let hint = "a region such as \"us-west-2\" or \"eu-central-1\", other than stack.region";
        c.push(r.region.span(), "dr.region", msg, hint);
        region = None;
    } else if home == Some(name.as_str()) {
        let msg = format!("the disaster-recovery region is the stack's own region ({name})");
        let hint = "name another region of the same partition, e.g. \"us-west-2\" for \"us-east-1\"";
        c.push(r.region.span(), "dr.region", msg, hint);
        region = None;
    } else if let Some(h) = home.filter(|h| partition(h) != partition(name)) {
        let msg = format!(
            "{name} is in partition {}, the stack's region {h} in {}: one stack lives in one account",
            partition(name),
            partition(h)
        );
        let hint = "pick a disaster-recovery region of the stack region's partition";
        c.push(r.region.span(), "dr.region", msg, hint);
        region = None;
    }
    let at = Section { prefix: "dr.network", region, region_key: "dr.region" };
    let net = network(&r.network, &at, c)?;
    Some(DrConfig { region: region?.to_string(), network: net })
}
