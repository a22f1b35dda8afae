//! AWS providers for hactl on aws-sdk-rust: one file per resource kind, grouped by
//! service (`ec2/subnet.rs`, ...). Adding a kind = one new file + one line in
//! [`registry`].

pub mod acm;
pub mod appautoscaling;
pub mod autoscaling;
pub mod cloudwatch;
mod counter;
pub mod credentials;
pub mod docdb;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elbv2;
mod error;
pub mod events;
pub mod failover;
pub mod iam;
pub mod lambda;
pub mod logs;
pub mod metrics;
pub mod opensearch;
pub mod rds;
pub mod route53;
pub mod s3;
pub mod scheduler;
pub mod secretsmanager;
pub mod sfn;
pub mod sns;
pub mod sts;
pub mod tagging;
mod util;

pub use aws_config::SdkConfig;
pub use counter::ApiCounter;

use aws_config::{BehaviorVersion, Region};
use hactl_engine::Registry;
use std::sync::Arc;

/// Where to reach AWS. Everything unset falls back to the standard chain (profiles,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
#[derive(Clone, Debug)]
pub struct Connection {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    /// How long one AWS call may take, all its retries included (`--retry-timeout`).
    pub retry_deadline: std::time::Duration,
}

impl Default for Connection {
    fn default() -> Self {
        Connection { region: None, endpoint_url: None, profile: None, retry_deadline: DEFAULT_RETRY_DEADLINE }
    }
}

/// The default of `--retry-timeout`.
pub const DEFAULT_RETRY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// Attempts per call: at a 20% failure rate, ten failures in a row happen once in ten
/// million calls; the deadline bounds the time they may take.
const MAX_ATTEMPTS: u32 = 10;

/// Loads the SDK configuration through aws-config's default chain.
///
/// Every call of every client, reads included, is retried by the SDK on throttling
/// (each protocol's codes: `Throttling`, `ThrottlingException`, `RequestLimitExceeded`,
/// ...), 5xx answers, timeouts and connection errors (refused, reset, a cut answer): up to
/// [`MAX_ATTEMPTS`] attempts with exponential backoff and full jitter (0.2 s doubling up
/// to 20 s), all within `retry_deadline`. Adaptive mode: once AWS throttles, a client-side
/// token bucket slows the calls of that service (its [`retry_partition`]) and recovers
/// its rate as calls succeed again.
pub async fn sdk_config(conn: &Connection) -> SdkConfig {
    // Bounded calls: a stalled answer fails the attempt (and is retried) instead of
    // hanging a step; the whole call, retries included, ends at the deadline.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(conn.retry_deadline)
        .build();
    let retry = aws_config::retry::RetryConfig::adaptive()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(std::time::Duration::from_millis(200))
        .with_max_backoff(std::time::Duration::from_secs(20));
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts).retry_config(retry);
    if let Some(r) = &conn.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(e) = &conn.endpoint_url {
        loader = loader.endpoint_url(e.clone());
    }
    if let Some(p) = &conn.profile {
        loader = loader.profile_name(p.clone());
    }
    loader.load().await
}

/// Forbids retrying a connection the endpoint refused: nothing listens there (a wrong
/// `--endpoint-url`, an emulator that is not running), which ten attempts with backoff
/// would only report a minute later. Resets, timeouts and answers cut short are still
/// retried (see [`sdk_config`]).
#[derive(Debug, Default)]
pub struct RefusedIsFinal;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for RefusedIsFinal {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let Some(Err(err)) = ctx.output_or_error() else { return RetryAction::NoActionIndicated };
        let Some(conn) = err.as_connector_error() else { return RetryAction::NoActionIndicated };
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(conn);
        while let Some(e) = source {
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
            {
                return RetryAction::RetryForbidden;
            }
            source = e.source();
        }
        RetryAction::NoActionIndicated
    }

    fn name(&self) -> &'static str {
        "hactl: a refused connection is final"
    }
}

/// The retry partition of one service (`ec2`, `s3`, ...), shared by every client of that
/// service in this process: its client-side rate limiter (adaptive mode) slows that
/// service alone when it throttles. Its retry quota is unlimited: the SDK's default quota
/// (500 tokens, 5 to 14 per retry) runs dry after a few dozen retries in a busy run and
/// then stops retrying at all; attempts and the deadline bound the retries instead.
pub fn retry_partition(service: &str) -> aws_sdk_ec2::config::retry::RetryPartition {
    use aws_sdk_ec2::config::retry::{RetryPartition, TokenBucket};
    static PARTITIONS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, RetryPartition>>,
    > = std::sync::OnceLock::new();
    let map = PARTITIONS.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    map.entry(service.to_string())
        .or_insert_with(|| {
            RetryPartition::custom(format!("hactl-{service}")).token_bucket(TokenBucket::unlimited()).build()
        })
        .clone()
}

/// `config` bound to `region` instead (same credentials, endpoint, retries, timeouts).
pub fn in_region(config: &SdkConfig, region: &str) -> SdkConfig {
    config.to_builder().region(Region::new(region.to_string())).build()
}

/// Every provider, bound to the region of `config` (the stack's home region), able to
/// build the providers of any other region the stack places resources in: the same
/// configuration (credentials, endpoint, retries, timeouts) with that region. Every call
/// goes through `counter`.
pub fn providers(config: &SdkConfig, counter: &ApiCounter) -> Registry {
    let home = config.region().map(|r| r.to_string()).unwrap_or_default();
    let (base, count) = (config.clone(), counter.clone());
    let factory = move |region: &str| registry(&in_region(&base, region), &count);
    registry(config, counter).with_regions(&home, Arc::new(factory))
}

/// Every provider, each with SDK clients built from `config` (bound to its region); every
/// call goes through `counter`.
pub fn registry(config: &SdkConfig, counter: &ApiCounter) -> Registry {
    let ec2 = crate::client!(aws_sdk_ec2, config, counter);
    let mut r = Registry::new();
    r.register(Arc::new(ec2::vpc::Vpc(ec2.clone())));
    r.register(Arc::new(ec2::subnet::Subnet(ec2.clone())));
    r.register(Arc::new(ec2::internet_gateway::InternetGateway(ec2.clone())));
    r.register(Arc::new(ec2::internet_gateway_attachment::InternetGatewayAttachment(ec2.clone())));
    r.register(Arc::new(ec2::eip::ElasticIp(ec2.clone())));
    r.register(Arc::new(ec2::nat_gateway::NatGateway(ec2.clone())));
    r.register(Arc::new(ec2::route_table::RouteTable(ec2.clone())));
    r.register(Arc::new(ec2::network_acl::NetworkAcl(ec2.clone())));
    r.register(Arc::new(ec2::route::Route(ec2.clone())));
    r.register(Arc::new(ec2::security_group::SecurityGroup(ec2.clone())));
    r.register(Arc::new(ec2::security_group_rules::SecurityGroupRules(ec2.clone())));
    r.register(Arc::new(ec2::launch_template::LaunchTemplate::new(ec2.clone(), config, counter)));
    r.register(Arc::new(ec2::vpc_endpoint::VpcEndpoint(ec2)));
    iam::register(&mut r, config, counter);
    logs::register(&mut r, config, counter);
    acm::register(&mut r, config, counter);
    elbv2::register(&mut r, config, counter);
    ecs::register(&mut r, config, counter);
    autoscaling::register(&mut r, config, counter);
    appautoscaling::register(&mut r, config, counter);
    secretsmanager::register(&mut r, config, counter);
    docdb::register(&mut r, config, counter);
    rds::register(&mut r, config, counter);
    sns::register(&mut r, config, counter);
    route53::register(&mut r, config, counter);
    cloudwatch::register(&mut r, config, counter);
    scheduler::register(&mut r, config, counter);
    ecr::register(&mut r, config, counter);
    events::register(&mut r, config, counter);
    sfn::register(&mut r, config, counter);
    opensearch::register(&mut r, config, counter);
    lambda::register(&mut r, config, counter);
    s3::register(&mut r, config, counter);
    r
}

/// An SDK client of any service built from `config`, every call counted by `counter`:
/// `client!(aws_sdk_ecs, config, counter)`.
#[macro_export]
#[doc(hidden)]
macro_rules! client {
    ($sdk:ident, $config:expr, $counter:expr) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .interceptor($counter.clone())
                .retry_partition($crate::retry_partition(stringify!($sdk)))
                .retry_classifier($crate::RefusedIsFinal)
                .build(),
        )
    };
}
