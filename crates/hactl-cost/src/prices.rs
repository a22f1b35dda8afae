//! The price tables: `prices/<region>.toml`, one a region, the assumptions of
//! `prices/assumptions.toml` and the vCPUs of `prices/db_vcpus.toml`, all compiled in.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The region files, compiled in.
const TABLES: &[(&str, &str)] = &[
    ("eu-central-1", include_str!("../prices/eu-central-1.toml")),
    ("eu-west-1", include_str!("../prices/eu-west-1.toml")),
    ("us-east-1", include_str!("../prices/us-east-1.toml")),
    ("us-west-2", include_str!("../prices/us-west-2.toml")),
];
const ASSUMPTIONS: &str = include_str!("../prices/assumptions.toml");
const DB_VCPUS: &str = include_str!("../prices/db_vcpus.toml");

/// A price file compiled into the crate does not read: a defect of the crate, which its
/// tests catch.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("prices/{file} does not parse: {source}")]
    Parse {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("prices/{file} says it is the table of `{says}`")]
    WrongRegion { file: String, says: String },
}

/// The regions that have a price table.
pub fn regions() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|(r, _)| *r)
}

/// The price table of `region`; `Ok(None)` for a region without one.
pub fn table(region: &str) -> Result<Option<PriceTable>, CostError> {
    let Some((_, text)) = TABLES.iter().find(|(r, _)| *r == region) else { return Ok(None) };
    let file = format!("{region}.toml");
    let t: PriceTable = parse(&file, text)?;
    if t.region != region {
        return Err(CostError::WrongRegion { file, says: t.region });
    }
    Ok(Some(t))
}

/// What the estimate assumes of the stack's use (`prices/assumptions.toml`).
pub fn assumptions() -> Result<Assumptions, CostError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        assumptions: Assumptions,
    }
    Ok(parse::<File>("assumptions.toml", ASSUMPTIONS)?.assumptions)
}

/// vCPUs by RDS instance class (`prices/db_vcpus.toml`).
pub fn db_vcpus() -> Result<BTreeMap<String, u32>, CostError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        vcpus: BTreeMap<String, u32>,
    }
    Ok(parse::<File>("db_vcpus.toml", DB_VCPUS)?.vcpus)
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T, CostError> {
    toml::from_str(text).map_err(|source| CostError::Parse { file: file.to_string(), source })
}

/// See `prices/assumptions.toml` for what each one means.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assumptions {
    pub hours_per_month: f64,
    pub alb_lcus: f64,
    pub nat_gb_per_gateway: f64,
    pub endpoint_gb_per_endpoint: f64,
    pub log_gb_per_group: f64,
    pub log_months_without_retention: f64,
    pub db_storage_gb: f64,
    pub docdb_io_millions: f64,
    pub ecr_gb_per_repository: f64,
}

/// One region's prices (USD, on-demand, Linux). Every field is required: a file that
/// lacks a price the estimator uses does not parse.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub region: String,
    /// The month the figures are from (`YYYY-MM`).
    pub taken: String,
    /// How far the figures were checked.
    pub checked: String,
    pub sources: Sources,
    pub nat_gateway: NatGateway,
    pub public_ipv4: PublicIpv4,
    pub load_balancer: LoadBalancer,
    pub fargate: Fargate,
    pub ec2: Ec2,
    pub rds: Rds,
    pub docdb: Docdb,
    pub rds_proxy: RdsProxy,
    pub secrets_manager: SecretsManager,
    pub cloudwatch: Cloudwatch,
    pub vpc_endpoint: VpcEndpoint,
    pub route53: Route53,
    pub ecr: Ecr,
    pub opensearch: Opensearch,
}

/// The AWS pricing page of each section.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    pub nat_gateway: String,
    pub public_ipv4: String,
    pub load_balancer: String,
    pub fargate: String,
    pub ec2: String,
    pub ebs: String,
    pub rds: String,
    pub docdb: String,
    pub rds_proxy: String,
    pub secrets_manager: String,
    pub cloudwatch: String,
    pub vpc_endpoint: String,
    pub route53: String,
    pub ecr: String,
    pub opensearch: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatGateway {
    pub hour: f64,
    pub gb_processed: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicIpv4 {
    pub hour: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    pub hour: f64,
    pub lcu_hour: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fargate {
    pub vcpu_hour: f64,
    pub gb_hour: f64,
    /// FARGATE_SPOT: this fraction off the on-demand price.
    pub spot_discount: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2 {
    pub gp3_gb_month: f64,
    /// Spot instances: this fraction off the on-demand price.
    pub spot_discount: f64,
    pub instance_hour: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rds {
    /// Multi-AZ (one standby): instance and storage at this many times the single-AZ price.
    pub multi_az_factor: f64,
    pub gp2_gb_month: f64,
    pub gp3_gb_month: f64,
    /// Single-AZ, by instance class.
    pub postgres_hour: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Docdb {
    pub storage_gb_month: f64,
    pub io_million: f64,
    pub instance_hour: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RdsProxy {
    pub vcpu_hour: f64,
    pub min_vcpus: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsManager {
    pub secret_month: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cloudwatch {
    pub alarm_month: f64,
    pub alarm_high_resolution_month: f64,
    pub dashboard_month: f64,
    pub log_ingest_gb: f64,
    pub log_storage_gb_month: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcEndpoint {
    pub interface_hour_per_az: f64,
    pub gb_processed: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53 {
    pub hosted_zone_month: f64,
    pub health_check_month: f64,
    /// Each optional feature of a health check (HTTPS, the fast interval).
    pub health_check_feature_month: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ecr {
    pub storage_gb_month: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Opensearch {
    pub gp3_gb_month: f64,
    pub instance_hour: BTreeMap<String, f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The instance families and classes every table prices (what the demo configs and their
    /// documented alternatives name).
    const EC2: &[&str] = &["t3", "t3a", "t4g"];
    const EC2_SIZES: &[&str] = &["micro", "small", "medium", "large", "xlarge"];
    const EC2_BIG: &[&str] = &["m5", "m6i", "m7i", "c5", "c6i", "r5", "r6i"];
    const BIG_SIZES: &[&str] = &["large", "xlarge", "2xlarge"];
    const RDS_SMALL: &[&str] = &["db.t3", "db.t4g"];
    const RDS_SMALL_SIZES: &[&str] = &["micro", "small", "medium", "large"];
    const RDS_BIG: &[&str] = &["db.m5", "db.m6i", "db.m6g", "db.m7g", "db.r5", "db.r6g", "db.r6i"];
    const DOCDB: &[&str] = &["db.t3.medium", "db.t4g.medium"];
    const DOCDB_BIG: &[&str] = &["db.r5", "db.r6g"];

    fn names(families: &[&str], sizes: &[&str]) -> Vec<String> {
        families.iter().flat_map(|f| sizes.iter().map(move |s| format!("{f}.{s}"))).collect()
    }

    fn lacks(table: &BTreeMap<String, f64>, wanted: &[String]) -> Vec<String> {
        wanted.iter().filter(|w| !table.contains_key(w.as_str())).cloned().collect()
    }

    #[test]
    fn every_price_file_parses_and_has_every_price() {
        let regions: Vec<&str> = regions().collect();
        for want in ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"] {
            assert!(regions.contains(&want), "no table for {want}");
        }
        let vcpus = db_vcpus().unwrap();
        for region in regions {
            let t = table(region).unwrap().unwrap();
            let mut ec2 = names(EC2, EC2_SIZES);
            ec2.extend(names(EC2_BIG, BIG_SIZES));
            ec2.extend(["m6g.large".to_string(), "m7g.large".to_string()]);
            assert_eq!(lacks(&t.ec2.instance_hour, &ec2), Vec::<String>::new(), "{region}: EC2");
            let mut rds = names(RDS_SMALL, RDS_SMALL_SIZES);
            rds.extend(names(RDS_BIG, BIG_SIZES));
            assert_eq!(lacks(&t.rds.postgres_hour, &rds), Vec::<String>::new(), "{region}: RDS");
            let mut docdb: Vec<String> = DOCDB.iter().map(|s| s.to_string()).collect();
            docdb.extend(names(DOCDB_BIG, BIG_SIZES));
            assert_eq!(lacks(&t.docdb.instance_hour, &docdb), Vec::<String>::new(), "{region}: DocumentDB");
            assert!(
                t.opensearch.instance_hour.contains_key(hactl_config::LOG_ANALYTICS_INSTANCE),
                "{region}"
            );
            for class in t.rds.postgres_hour.keys() {
                assert!(vcpus.contains_key(class), "{class} has no vCPUs in db_vcpus.toml");
            }
            let all = [
                &t.ec2.instance_hour,
                &t.rds.postgres_hour,
                &t.docdb.instance_hour,
                &t.opensearch.instance_hour,
            ];
            assert!(
                all.iter().flat_map(|m| m.values()).all(|p| *p > 0.0),
                "{region}: a price is not positive"
            );
            let pages = serde_json::to_value(&t.sources).unwrap();
            for (section, url) in pages.as_object().unwrap() {
                assert!(url.as_str().unwrap().starts_with("https://aws.amazon.com/"), "{region}: {section}");
            }
            let taken = t.taken.as_bytes();
            assert!(taken.len() == 7 && taken[4] == b'-', "{region}: taken {:?} is not YYYY-MM", t.taken);
            assert!(!t.checked.is_empty());
        }
    }

    #[test]
    fn the_assumptions_read() {
        assert_eq!(assumptions().unwrap().hours_per_month, 730.0);
        assert!(table("ap-south-2").unwrap().is_none());
    }
}
