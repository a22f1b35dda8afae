//! The validated stack configuration. Produced only by [`crate::load`] /
//! [`crate::parse`], after every check passed; expansion into resources works on this.

use ipnet::Ipv4Net;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub struct StackConfig {
    pub stack: StackSection,
    pub network: NetworkConfig,
    pub security: SecurityConfig,
    /// `[network_acls]`: a network ACL per subnet tier.
    pub network_acls: NetworkAclConfig,
    pub compute: ComputeConfig,
    pub load_balancer: LoadBalancerConfig,
    pub services: Vec<ServiceConfig>,
    pub database: Option<DatabaseConfig>,
    pub alarms: AlarmsConfig,
    pub drift: DriftConfig,
    /// Where the stack's state lives.
    pub state: StateConfig,
    /// Extra tags for single resources, by address (checked against the expanded graph).
    pub resource_tags: BTreeMap<String, BTreeMap<String, String>>,
    /// The disaster-recovery region, if any: the stack again, addressed under `dr.`.
    pub dr: Option<DrConfig>,
    /// How the repositories of `ecr:` images are made (defaults without `[ecr]`).
    pub ecr: EcrConfig,
    /// DNS failover records for the public service (needs `[dr]`).
    pub dns: Option<DnsConfig>,
    /// `[ci]`: the AWS side of a GitHub Actions pipeline.
    pub ci: Option<CiConfig>,
    /// `[log_analytics]`: an OpenSearch domain for the services' logs.
    pub log_analytics: Option<LogAnalyticsConfig>,
    /// `[lint]`: the lint rules this stack allows (see [`crate::lint`]).
    pub lint: LintConfig,
}

/// `[lint]`: the policy checks of `crate::lint` this stack allows, each once, with why.
/// An allowed rule's findings are still reported, marked allowed, and count as no error.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LintConfig {
    pub allow: Vec<LintAllow>,
}

/// One `[[lint.allow]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct LintAllow {
    /// A rule id of [`crate::lint::rules`] (`HL005`).
    pub rule: String,
    /// Why the stack allows it (not empty).
    pub reason: String,
}

impl LintConfig {
    /// The reason `rule` is allowed, if it is.
    pub fn allowed(&self, rule: &str) -> Option<&str> {
        self.allow.iter().find(|a| a.rule == rule).map(|a| a.reason.as_str())
    }
}

/// `[log_analytics]`: an OpenSearch Service domain in the data subnets of two zones, VPC
/// access only, encrypted at rest and between nodes, HTTPS only (TLS 1.2 or later), with
/// fine-grained access control whose master user is in Secrets Manager.
#[derive(Clone, Debug, PartialEq)]
pub struct LogAnalyticsConfig {
    /// `OpenSearch_<major>.<minor>`.
    pub engine_version: String,
    /// An OpenSearch instance type (`m6g.large.search`).
    pub instance_type: String,
    /// Data nodes, an even number: half in each zone.
    pub instance_count: u32,
    /// The gp3 volume of each node, in GiB.
    pub volume_size_gb: u32,
    /// The fine-grained access control master user's name.
    pub master_user: String,
    /// The KMS key encrypting the domain at rest (`None`: AWS's managed `aws/es` key).
    pub kms_key_id: Option<String>,
    /// Days a batch of log events the domain refused is kept in the failed-batches
    /// bucket.
    pub failed_batches_days: u32,
}

/// What `[log_analytics]` keys default to.
pub const LOG_ANALYTICS_ENGINE: &str = "OpenSearch_2.19";
pub const LOG_ANALYTICS_INSTANCE: &str = "m6g.large.search";

/// `[ecr]`: the settings of every repository an `ecr:` image names.
#[derive(Clone, Debug, PartialEq)]
pub struct EcrConfig {
    pub scan_on_push: bool,
    /// `None`: AES256; `Some(key)`: KMS, with that key (`None` inside: the AWS managed key).
    pub kms: Option<Option<String>>,
    /// "MUTABLE" or "IMMUTABLE".
    pub tag_mutability: String,
    /// Tagged images kept (older ones expire).
    pub keep_tagged: u32,
    /// Days an untagged image is kept.
    pub untagged_days: u32,
    /// Destroy deletes a repository that still holds images.
    pub force_delete: bool,
}

impl Default for EcrConfig {
    fn default() -> Self {
        EcrConfig {
            scan_on_push: true,
            kms: None,
            tag_mutability: "MUTABLE".into(),
            keep_tagged: 30,
            untagged_days: 7,
            force_delete: false,
        }
    }
}

/// A service image kept in the stack's own ECR repository: `image = "ecr:<name>:<tag>"`
/// (or `ecr:<name>@sha256:<digest>`); the repository is `<stack>/<name>` in each region.
#[derive(Clone, Debug, PartialEq)]
pub struct EcrImage {
    pub repository: String,
    /// `:<tag>` or `@<digest>`, as written.
    pub reference: String,
}

/// `[dns]`: failover alias records for `domain`, the primary one at the active region's
/// public load balancer (with a health check), the secondary at the other region's.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsConfig {
    pub domain: String,
    pub zone: DnsZone,
    pub health_check_path: String,
    pub failure_threshold: u32,
    pub request_interval: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DnsZone {
    /// hactl creates a public hosted zone of this name.
    Create(String),
    /// An existing hosted zone, by id (only the stack's records are touched).
    Existing(String),
}

/// A second region of the same stack and account (`[dr]`): the network, compute, traffic
/// and observability tiers again, addressed `dr.<address>`, with the services at their
/// standby counts.
#[derive(Clone, Debug, PartialEq)]
pub struct DrConfig {
    /// Another region of the home region's partition.
    pub region: String,
    pub network: NetworkConfig,
    /// Each service's task count in the region that stands by (by service name; a
    /// service not named runs as many tasks as in the active region: active-active).
    pub desired_counts: BTreeMap<String, u32>,
}

impl DrConfig {
    /// The task count of `service` (`active`: its count in the active region) in the
    /// region that stands by.
    pub fn standby_count(&self, service: &str, active: u32) -> u32 {
        self.desired_counts.get(service).copied().unwrap_or(active)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StackSection {
    /// `[a-z][a-z0-9-]*`, at most 28 characters.
    pub name: String,
    pub region: String,
    /// Extra tags on every taggable resource.
    pub tags: BTreeMap<String, String>,
    /// The AWS accounts the stack may touch (12-digit ids); empty: any. A run whose
    /// credentials belong to another account is refused before any AWS call but STS
    /// GetCallerIdentity.
    pub allowed_account_ids: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatMode {
    /// One NAT gateway (and Elastic IP) per AZ; each private route table uses its own AZ's.
    PerAz,
    /// One NAT gateway in the first AZ by name, shared by every private route table.
    Single,
    /// No NAT gateway: private subnets have no default route.
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AzSubnets {
    pub az: String,
    pub public: Ipv4Net,
    pub app: Ipv4Net,
    pub data: Ipv4Net,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    pub vpc_cidr: Ipv4Net,
    /// One entry per availability zone (2 or more), sorted by zone name whatever order the
    /// config lists them in: reordering zones (with their subnets) changes nothing.
    pub zones: Vec<AzSubnets>,
    pub nat: NatMode,
    /// Gateway endpoint for S3 on every route table.
    pub s3_gateway_endpoint: bool,
    /// Interface endpoint service short names (`secretsmanager`, `logs`, `ecr.api`, ...),
    /// placed in the app subnets.
    pub interface_endpoints: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Alb,
    App,
    Db,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Alb => "alb",
            Tier::App => "app",
            Tier::Db => "db",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleSource {
    Cidr(Ipv4Net),
    Group(Tier),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraRule {
    pub group: Tier,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub source: RuleSource,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SecurityConfig {
    /// Ports the ALB accepts (default 80 and 443).
    pub alb_ports: Vec<u16>,
    /// Who may reach the ALB (default 0.0.0.0/0).
    pub alb_ingress_cidrs: Vec<Ipv4Net>,
    /// Additional ingress rules.
    pub extra_ingress: Vec<ExtraRule>,
}

/// A tier of subnets (public, app, data): what a network ACL covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SubnetTier {
    Public,
    App,
    Data,
}

impl SubnetTier {
    pub const ALL: [SubnetTier; 3] = [SubnetTier::Public, SubnetTier::App, SubnetTier::Data];

    /// As in the subnets' addresses (`subnet.app.us-east-1a`).
    pub fn name(self) -> &'static str {
        match self {
            SubnetTier::Public => "public",
            SubnetTier::App => "app",
            SubnetTier::Data => "data",
        }
    }
}

/// One entry a user adds to a tier's network ACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclRule {
    pub tier: SubnetTier,
    pub egress: bool,
    pub rule_number: i32,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    /// Ports (for icmp the type and the code; -1 and -1 for all traffic).
    pub from_port: i32,
    pub to_port: i32,
    pub cidr: Ipv4Net,
    pub allow: bool,
}

/// `[network_acls]`.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkAclConfig {
    /// false: the subnets keep the VPC's default network ACL.
    pub enabled: bool,
    pub extra_rules: Vec<AclRule>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchType {
    Ec2,
    Fargate,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ComputeConfig {
    pub launch_type: LaunchType,
    pub instance_type: String,
    /// AMI id; `None` = the ECS-optimised AMI from SSM.
    pub ami: Option<String>,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    /// CloudWatch Container Insights on the cluster.
    pub container_insights: bool,
    /// Seconds apply waits for an ECS service to become stable.
    pub service_stable_timeout: u32,
    /// EC2 only: the container instances' root volume (always encrypted), GiB.
    pub root_volume_size: u32,
    /// EC2 only: the AMI's root device name (`/dev/xvda` for the ECS-optimised AMIs).
    pub root_device_name: String,
    /// EC2 only: scheduled changes of the Auto Scaling group's sizes.
    pub schedule: Vec<ScheduledCapacity>,
    /// EC2 only: Spot instances in the Auto Scaling group (a mixed-instances policy).
    pub spot: Option<Ec2Spot>,
}

/// A scheduled change of capacity: `[[services.autoscaling.schedule]]` (the service's
/// scalable target: min and max tasks) or `[[compute.schedule]]` (the Auto Scaling group:
/// min, max and desired instances). Recurs at `hour:minute` in `time_zone` on `days`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduledCapacity {
    pub name: String,
    pub hour: u8,
    pub minute: u8,
    /// `MON` ... `SUN`, in week order; empty = every day.
    pub days: Vec<String>,
    /// An IANA time zone name (`UTC`, `Europe/Paris`).
    pub time_zone: String,
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// Auto Scaling group only.
    pub desired: Option<u32>,
}

/// The days of the week in the order cron counts them from 0 (Sunday).
pub const WEEK_DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl ScheduledCapacity {
    /// Application Auto Scaling's form: `cron(MIN HOUR DOM MONTH DOW YEAR)`, one of DOM and
    /// DOW `?`.
    pub fn cron_expression(&self) -> String {
        let (m, h) = (self.minute, self.hour);
        if self.days.is_empty() {
            format!("cron({m} {h} * * ? *)")
        } else {
            format!("cron({m} {h} ? * {} *)", self.days.join(","))
        }
    }

    /// Auto Scaling's `Recurrence`: Unix cron, `MIN HOUR DOM MONTH DOW`, days 0 (Sunday)
    /// to 6.
    pub fn recurrence(&self) -> String {
        let (m, h) = (self.minute, self.hour);
        if self.days.is_empty() {
            return format!("{m} {h} * * *");
        }
        let days: Vec<String> = self
            .days
            .iter()
            .filter_map(|d| WEEK_DAYS.iter().position(|w| w == d))
            .map(|i| i.to_string())
            .collect();
        format!("{m} {h} * * {}", days.join(","))
    }
}

/// Spot capacity on Fargate (`[services.spot]`): `on_demand_base` tasks on FARGATE, then
/// `spot_percent` of the rest on FARGATE_SPOT.
#[derive(Clone, Debug, PartialEq)]
pub struct FargateSpot {
    pub on_demand_base: u32,
    pub spot_percent: u32,
}

impl FargateSpot {
    /// The capacity provider weights (FARGATE, FARGATE_SPOT) for the percentage, in lowest
    /// terms (75 % -> 1, 3).
    pub fn weights(&self) -> (u32, u32) {
        let spot = self.spot_percent.min(100);
        let on_demand = 100 - spot;
        let g = gcd(on_demand, spot).max(1);
        (on_demand / g, spot / g)
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Spot instances in the EC2 Auto Scaling group (`[compute.spot]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Ec2Spot {
    /// The instance types the group may launch (the first is the launch template's).
    pub instance_types: Vec<String>,
    /// Instances always On-Demand.
    pub on_demand_base: u32,
    /// Percent of the instances above the base that are Spot.
    pub spot_percent: u32,
    /// Launch a replacement when AWS signals a Spot instance's elevated interruption risk.
    pub capacity_rebalance: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoadBalancerConfig {
    /// :80 redirects to :443 with a certificate; false: :80 forwards.
    pub https: bool,
    /// An ACM certificate; `None` = hactl imports a self-signed one for `domain`.
    pub certificate_arn: Option<String>,
    pub domain: String,
    /// The private DNS zone of the internal services: `<service>.<internal_domain>` resolves
    /// to the internal load balancer inside the VPC, whose listener routes by that host.
    pub internal_domain: String,
    pub deletion_protection: bool,
    pub idle_timeout: u32,
    pub ssl_policy: String,
}

/// One IAM policy statement of a service's task role.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyStatement {
    /// "Allow" or "Deny".
    pub effect: String,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheckConfig {
    pub interval: u32,
    pub timeout: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AutoscalingConfig {
    pub min: u32,
    pub max: u32,
    pub cpu_target: f64,
    pub memory_target: f64,
    pub requests_per_target: Option<u32>,
    /// Scheduled changes of the min and max task counts.
    pub schedule: Vec<ScheduledCapacity>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    pub name: String,
    /// As written; `ecr:` images resolve per region (see [`ServiceConfig::ecr`]).
    pub image: String,
    /// The stack's ECR repository the image lives in, for `ecr:` images.
    pub ecr: Option<EcrImage>,
    pub port: u16,
    pub cpu: u32,
    pub memory: u32,
    pub desired_count: u32,
    /// Behind the public ALB; otherwise behind the internal ALB.
    pub public: bool,
    pub health_check_path: String,
    pub environment: BTreeMap<String, String>,
    pub depends_on: Vec<String>,
    pub autoscaling: Option<AutoscalingConfig>,
    pub log_retention_days: u32,
    /// Target group health check timing.
    pub health_check: HealthCheckConfig,
    /// Seconds ECS ignores failing load balancer health checks of a new task.
    pub health_check_grace_period: u32,
    /// Seconds the target group drains a deregistered task.
    pub deregistration_delay: u32,
    /// The container health check command; `None` = probe the health check path with
    /// wget or curl.
    pub container_health_check: Option<Vec<String>>,
    /// Extra statements for the service's task role.
    pub task_role_statements: Vec<PolicyStatement>,
    /// Fargate only: not critical, so part of its tasks may run on Spot capacity.
    pub spot: Option<FargateSpot>,
    /// `deployment = "blue_green"`: ECS's blue/green strategy; `None` = rolling.
    pub blue_green: Option<BlueGreen>,
}

/// ECS's blue/green deployments for a service: a second (green) target group, a
/// production and a test listener rule whose weights ECS shifts, `bake_time` minutes with
/// both revisions up after the shift, rollback when one of the service's alarms fires.
#[derive(Clone, Debug, PartialEq)]
pub struct BlueGreen {
    pub bake_time: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbEngine {
    Docdb,
    Postgres,
}

impl DbEngine {
    pub fn default_port(self) -> u16 {
        match self {
            DbEngine::Docdb => 27017,
            DbEngine::Postgres => 5432,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseConfig {
    pub engine: DbEngine,
    pub instance_class: String,
    pub instances: u32,
    pub port: u16,
    pub username: String,
    pub db_name: String,
    pub backup_retention_days: u32,
    pub preferred_backup_window: Option<String>,
    pub deletion_protection: bool,
    pub apply_immediately: bool,
    pub kms_key_id: Option<String>,
    pub secret_recovery_window_days: u32,
    /// Days between two rotations of the master password (Secrets Manager's
    /// AutomaticallyAfterDays).
    pub password_rotation_days: u32,
    /// Whether the config sets `password_rotation_days` (with `[dr]`, that asks for the
    /// scheduled rotation job; without, the database's own schedule is always set).
    pub password_rotation_set: bool,
    /// PostgreSQL only: an RDS Proxy the services connect through.
    pub proxy: Option<ProxyConfig>,
}

/// `[database.proxy]`: RDS Proxy's connection pool in front of PostgreSQL.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxyConfig {
    /// Clients sign in with an IAM token (the task role may `rds-db:connect`) instead of
    /// the password.
    pub iam_auth: bool,
    /// Seconds an idle client connection stays open.
    pub idle_client_timeout: u32,
    /// Percent of the database's max_connections the pool may use.
    pub max_connections_percent: u32,
    /// Percent of them kept open while idle.
    pub max_idle_connections_percent: u32,
    /// Seconds a client waits for a pooled connection.
    pub connection_borrow_timeout: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlarmsConfig {
    pub email: Option<String>,
    /// Percent: ECS service, Auto Scaling group and database CPU.
    pub cpu_threshold: f64,
    /// Percent: ECS service memory.
    pub memory_threshold: f64,
    /// Seconds per evaluation period (a multiple of 60).
    pub period: u32,
    pub evaluation_periods: u32,
    /// Load balancer 5xx responses per period.
    pub http_5xx_threshold: f64,
    /// Seconds: target response time (average).
    pub response_time_threshold: f64,
    /// Database connections (maximum).
    pub db_connections_threshold: f64,
    /// Milliseconds: DocumentDB replica lag (maximum).
    pub replica_lag_threshold: f64,
    /// GiB: RDS free storage below this alarms.
    pub free_storage_threshold: f64,
}

/// `[ci]`: GitHub Actions assumes two roles through the account's OIDC identity provider
/// for `token.actions.githubusercontent.com`: a read-only plan role (pull requests and the
/// deploy branch) and a deploy role (the deploy branch only).
#[derive(Clone, Debug, PartialEq)]
pub struct CiConfig {
    /// `owner/name`.
    pub github_repository: String,
    /// The branch whose workflow runs may apply (default `main`).
    pub deploy_branch: String,
    /// The GitHub environment the deploy job runs in, if any: GitHub then sends the `sub`
    /// claim `repo:<owner>/<name>:environment:<name>` instead of the branch's.
    pub deploy_environment: Option<String>,
    /// The account's existing provider for GitHub (an account has one per URL); `None`:
    /// the stack creates it.
    pub oidc_provider_arn: Option<String>,
    /// Thumbprints of a provider the stack creates.
    pub thumbprints: Vec<String>,
}

/// GitHub's OIDC issuer.
pub const GITHUB_OIDC_URL: &str = "https://token.actions.githubusercontent.com";
/// The audience GitHub's token carries for AWS (aws-actions/configure-aws-credentials).
pub const GITHUB_OIDC_AUDIENCE: &str = "sts.amazonaws.com";
/// The certificate thumbprints GitHub has published for its issuer (AWS verifies GitHub's
/// tokens against its own trusted CAs, but the API still records one or more).
pub const GITHUB_THUMBPRINTS: [&str; 2] =
    ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"];

#[derive(Clone, Debug, PartialEq)]
pub struct DriftConfig {
    pub alarm: bool,
    /// The in-AWS drift job: an EventBridge Scheduler schedule running `hactl drift` as
    /// an ECS task in the stack's cluster. Needs the S3 state backend and services.
    pub schedule: Option<DriftSchedule>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DriftSchedule {
    /// `rate(...)` or `cron(...)`.
    pub expression: String,
    /// The hactl image (built from the repo's Dockerfile).
    pub image: String,
    /// The config file inside the image, relative to its working directory `/hactl`
    /// (default `config/<this file's name>`).
    pub config_path: String,
    /// Fargate task size.
    pub cpu: u32,
    pub memory: u32,
    /// Days the job's log group keeps its lines.
    pub log_retention_days: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StateConfig {
    pub backend: StateBackend,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StateBackend {
    /// `<--state-dir>/<stack>.json` (default `state/`).
    Local,
    /// One object in S3, with a lock object beside it (`<key>.lock`).
    S3 {
        bucket: String,
        /// Default `hactl/<stack>/<region>/state.json`.
        key: String,
        /// The bucket's region; None = the stack's region.
        region: Option<String>,
    },
}

impl StackConfig {
    /// The ports the app tier admits from the public load balancer: each public service's
    /// port (3000 when there are no services at all).
    pub fn app_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.services.iter().filter(|s| s.public).map(|s| s.port).collect();
        if self.services.is_empty() {
            ports.push(3000);
        }
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The ports of the internal services (behind the internal load balancer).
    pub fn internal_ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self.services.iter().filter(|s| !s.public).map(|s| s.port).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The lowest and highest port of the internal services: the internal load balancer
    /// reaches the app tier on this one range, a single security group rule however many
    /// services there are (its group is the only source, so only it gets through).
    pub fn internal_port_range(&self) -> Option<(u16, u16)> {
        let ports = self.internal_ports();
        Some((*ports.first()?, *ports.last()?))
    }

    /// The database port (the configured one, or the engine default; 27017 without a
    /// database section).
    pub fn db_port(&self) -> u16 {
        self.database.as_ref().map(|d| d.port).unwrap_or(27017)
    }
}
