//! The config file as written: every value spanned (for error positions), unknown keys
//! rejected, integers kept wide and enums kept as strings so that validation can report
//! ranges and allowed values itself, for every offending value at once.
//!
//! Tables are not wrapped in `Spanned`: a table that is only implied by a dotted key or a
//! sub-table header (`[[security.extra_ingress]]` without `[security]`) has no span, and
//! `Spanned` fails on it. Errors about a table point at one of its keys instead.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;
pub(crate) type List<T> = S<Vec<S<T>>>;
pub(crate) type Map = BTreeMap<S<String>, S<String>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub stack: RawStack,
    pub network: RawNetwork,
    pub security: Option<RawSecurity>,
    /// The network ACL of each subnet tier (on unless `enabled = false`).
    pub network_acls: Option<RawNetworkAcls>,
    pub compute: Option<RawCompute>,
    pub load_balancer: Option<RawLoadBalancer>,
    #[serde(default)]
    pub services: Vec<RawService>,
    pub database: Option<RawDatabase>,
    pub alarms: Option<RawAlarms>,
    pub drift: Option<RawDrift>,
    pub state: Option<RawState>,
    /// Extra tags for single resources, keyed by address: `[resource_tags."vpc.main"]`.
    pub resource_tags: Option<BTreeMap<S<String>, Map>>,
    /// A disaster-recovery region: `[dr]` and `[dr.network]`.
    pub dr: Option<RawDr>,
    /// The ECR repositories of `image = "ecr:<name>:<tag>"` services.
    pub ecr: Option<RawEcr>,
    /// DNS failover between the two regions' public load balancers.
    pub dns: Option<RawDns>,
    /// The AWS side of a GitHub Actions pipeline: OIDC provider, plan and deploy roles.
    pub ci: Option<RawCi>,
    /// An OpenSearch domain the services' logs are shipped to.
    pub log_analytics: Option<RawLogAnalytics>,
    /// The lint rules this stack allows, each with its reason: `[[lint.allow]]`.
    pub lint: Option<RawLint>,
}

/// `[lint]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLint {
    #[serde(default)]
    pub allow: Vec<RawLintAllow>,
}

/// `[[lint.allow]]`: a lint rule (by id) whose findings do not count as errors here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLintAllow {
    pub rule: S<String>,
    /// Required; optional here so that validation can say why it is missing.
    pub reason: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLogAnalytics {
    pub engine_version: Option<S<String>>,
    pub instance_type: Option<S<String>>,
    pub instance_count: Option<S<i64>>,
    pub volume_size_gb: Option<S<i64>>,
    pub master_user: Option<S<String>>,
    pub kms_key_id: Option<S<String>>,
    pub failed_batches_days: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCi {
    pub github_repository: S<String>,
    pub deploy_branch: Option<S<String>>,
    pub deploy_environment: Option<S<String>>,
    pub oidc_provider_arn: Option<S<String>>,
    pub thumbprints: Option<List<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEcr {
    pub scan_on_push: Option<S<bool>>,
    pub encryption: Option<S<String>>,
    pub kms_key: Option<S<String>>,
    pub tag_mutability: Option<S<String>>,
    pub keep_tagged: Option<S<i64>>,
    pub untagged_days: Option<S<i64>>,
    pub force_delete: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub domain: S<String>,
    pub zone: Option<S<String>>,
    pub zone_id: Option<S<String>>,
    pub health_check_path: Option<S<String>>,
    pub failure_threshold: Option<S<i64>>,
    pub request_interval: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDr {
    pub region: S<String>,
    pub network: RawNetwork,
    /// Each service's task count in the DR region while it stands by: `[dr.desired_counts]`.
    pub desired_counts: Option<BTreeMap<S<String>, S<i64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStack {
    pub name: S<String>,
    pub region: S<String>,
    pub tags: Option<Map>,
    pub allowed_account_ids: Option<List<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetwork {
    pub vpc_cidr: S<String>,
    pub availability_zones: List<String>,
    pub public_subnets: List<String>,
    pub app_subnets: List<String>,
    pub data_subnets: List<String>,
    pub nat: Option<S<String>>,
    pub endpoints: Option<RawEndpoints>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEndpoints {
    pub s3_gateway: Option<S<bool>>,
    pub interface: Option<List<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecurity {
    pub alb_ports: Option<List<i64>>,
    pub alb_ingress_cidrs: Option<List<String>>,
    #[serde(default)]
    pub extra_ingress: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub group: S<String>,
    pub protocol: Option<S<String>>,
    pub port: Option<S<i64>>,
    pub from_port: Option<S<i64>>,
    pub to_port: Option<S<i64>>,
    pub cidr: Option<S<String>>,
    pub source_group: Option<S<String>>,
    pub description: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetworkAcls {
    pub enabled: Option<S<bool>>,
    #[serde(default)]
    pub extra_rules: Vec<RawAclRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAclRule {
    pub tier: S<String>,
    pub direction: Option<S<String>>,
    pub rule_number: S<i64>,
    pub protocol: Option<S<String>>,
    pub port: Option<S<i64>>,
    pub from_port: Option<S<i64>>,
    pub to_port: Option<S<i64>>,
    pub cidr: S<String>,
    pub action: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompute {
    pub launch_type: Option<S<String>>,
    pub instance_type: Option<S<String>>,
    pub ami: Option<S<String>>,
    pub min_size: Option<S<i64>>,
    pub max_size: Option<S<i64>>,
    pub desired_capacity: Option<S<i64>>,
    pub container_insights: Option<S<bool>>,
    pub service_stable_timeout: Option<S<i64>>,
    pub root_volume_size: Option<S<i64>>,
    pub root_device_name: Option<S<String>>,
    #[serde(default)]
    pub schedule: Vec<RawSchedule>,
    pub spot: Option<RawEc2Spot>,
}

/// `[[compute.schedule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    pub name: S<String>,
    pub at: S<String>,
    pub days: Option<List<String>>,
    pub time_zone: Option<S<String>>,
    pub min: Option<S<i64>>,
    pub max: Option<S<i64>>,
    pub desired: Option<S<i64>>,
}

/// `[compute.spot]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEc2Spot {
    pub instance_types: Option<List<String>>,
    pub on_demand_base: Option<S<i64>>,
    pub spot_percent: Option<S<i64>>,
    pub capacity_rebalance: Option<S<bool>>,
}

/// `[services.spot]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServiceSpot {
    pub on_demand_base: Option<S<i64>>,
    pub spot_percent: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoadBalancer {
    pub https: Option<S<bool>>,
    pub certificate_arn: Option<S<String>>,
    pub domain: Option<S<String>>,
    pub internal_domain: Option<S<String>>,
    pub deletion_protection: Option<S<bool>>,
    pub idle_timeout: Option<S<i64>>,
    pub ssl_policy: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub name: S<String>,
    pub image: S<String>,
    pub port: Option<S<i64>>,
    pub cpu: Option<S<i64>>,
    pub memory: Option<S<i64>>,
    pub desired_count: Option<S<i64>>,
    pub public: Option<S<bool>>,
    pub health_check_path: Option<S<String>>,
    pub environment: Option<Map>,
    pub depends_on: Option<List<String>>,
    pub log_retention_days: Option<S<i64>>,
    pub health_check_interval: Option<S<i64>>,
    pub health_check_timeout: Option<S<i64>>,
    pub healthy_threshold: Option<S<i64>>,
    pub unhealthy_threshold: Option<S<i64>>,
    pub health_check_grace_period: Option<S<i64>>,
    pub deregistration_delay: Option<S<i64>>,
    pub container_health_check: Option<List<String>>,
    #[serde(default)]
    pub task_role_statements: Vec<RawStatement>,
    pub autoscaling: Option<RawAutoscaling>,
    pub spot: Option<RawServiceSpot>,
    pub deployment: Option<S<String>>,
    pub bake_time: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatement {
    pub effect: Option<S<String>>,
    pub actions: List<String>,
    pub resources: List<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAutoscaling {
    pub min: S<i64>,
    pub max: S<i64>,
    pub cpu_target: Option<S<f64>>,
    pub memory_target: Option<S<f64>>,
    pub requests_per_target: Option<S<i64>>,
    #[serde(default)]
    pub schedule: Vec<RawServiceSchedule>,
}

/// `[[services.autoscaling.schedule]]`: as [`RawSchedule`], without `desired` (a scalable
/// target has only min and max).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServiceSchedule {
    pub name: S<String>,
    pub at: S<String>,
    pub days: Option<List<String>>,
    pub time_zone: Option<S<String>>,
    pub min: Option<S<i64>>,
    pub max: Option<S<i64>>,
}

impl RawServiceSchedule {
    pub fn entry(&self) -> RawScheduleRef<'_> {
        RawScheduleRef {
            name: &self.name,
            at: &self.at,
            days: self.days.as_ref(),
            time_zone: self.time_zone.as_ref(),
            min: self.min.as_ref(),
            max: self.max.as_ref(),
            desired: None,
        }
    }
}

impl RawSchedule {
    pub fn entry(&self) -> RawScheduleRef<'_> {
        RawScheduleRef {
            name: &self.name,
            at: &self.at,
            days: self.days.as_ref(),
            time_zone: self.time_zone.as_ref(),
            min: self.min.as_ref(),
            max: self.max.as_ref(),
            desired: self.desired.as_ref(),
        }
    }
}

/// One schedule entry of either list, as validation reads it.
pub(crate) struct RawScheduleRef<'r> {
    pub name: &'r S<String>,
    pub at: &'r S<String>,
    pub days: Option<&'r List<String>>,
    pub time_zone: Option<&'r S<String>>,
    pub min: Option<&'r S<i64>>,
    pub max: Option<&'r S<i64>>,
    pub desired: Option<&'r S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    pub engine: S<String>,
    pub instance_class: Option<S<String>>,
    pub instances: Option<S<i64>>,
    pub port: Option<S<i64>>,
    pub username: Option<S<String>>,
    pub db_name: Option<S<String>>,
    pub backup_retention_days: Option<S<i64>>,
    pub preferred_backup_window: Option<S<String>>,
    pub deletion_protection: Option<S<bool>>,
    pub apply_immediately: Option<S<bool>>,
    pub kms_key_id: Option<S<String>>,
    pub secret_recovery_window_days: Option<S<i64>>,
    pub password_rotation_days: Option<S<i64>>,
    pub proxy: Option<RawProxy>,
}

/// `[database.proxy]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProxy {
    pub iam_auth: Option<S<bool>>,
    pub idle_client_timeout: Option<S<i64>>,
    pub max_connections_percent: Option<S<i64>>,
    pub max_idle_connections_percent: Option<S<i64>>,
    pub connection_borrow_timeout: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAlarms {
    pub email: Option<S<String>>,
    pub cpu_threshold: Option<S<f64>>,
    pub memory_threshold: Option<S<f64>>,
    pub period: Option<S<i64>>,
    pub evaluation_periods: Option<S<i64>>,
    pub http_5xx_threshold: Option<S<f64>>,
    pub response_time_threshold: Option<S<f64>>,
    pub db_connections_threshold: Option<S<f64>>,
    pub replica_lag_threshold: Option<S<f64>>,
    pub free_storage_threshold: Option<S<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrift {
    pub alarm: Option<S<bool>>,
    pub schedule: Option<S<String>>,
    pub image: Option<S<String>>,
    pub config_path: Option<S<String>>,
    pub cpu: Option<S<i64>>,
    pub memory: Option<S<i64>>,
    pub log_retention_days: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawState {
    pub backend: Option<S<String>>,
    pub bucket: Option<S<String>>,
    pub key: Option<S<String>>,
    pub region: Option<S<String>>,
}
