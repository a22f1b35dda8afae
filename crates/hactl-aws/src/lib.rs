//! AWS providers for hactl on aws-sdk-rust: one file per resource kind, grouped by
//! service (`ec2/subnet.rs`, ...). Adding a kind = one new file + one line in
//! [`registry`].

pub mod acm;
pub mod appautoscaling;
pub mod autoscaling;
pub mod cloudwatch;
mod counter;
pub mod docdb;
pub mod ec2;
pub mod ecs;
pub mod elbv2;
mod error;
pub mod failover;
pub mod iam;
pub mod logs;
pub mod metrics;
pub mod rds;
pub mod scheduler;
pub mod secretsmanager;
pub mod sns;
pub mod sts;
mod util;

pub use aws_config::SdkConfig;
pub use counter::ApiCounter;

use aws_config::{BehaviorVersion, Region};
use hactl_engine::Registry;
use std::sync::Arc;

/// Where to reach AWS. Everything unset falls back to the standard chain (profiles,
/// `AWS_REGION`, `AWS_ENDPOINT_URL`, ...).
#[derive(Clone, Debug, Default)]
pub struct Connection {
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
}

/// Loads the SDK configuration through aws-config's default chain.
pub async fn sdk_config(conn: &Connection) -> SdkConfig {
    // Bounded calls: a stalled answer fails the attempt (retried by the SDK, then by the
    // engine) instead of hanging a step.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(180))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts);
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

/// Every provider, each with SDK clients built from `config`; every call goes through
/// `counter`.
pub fn registry(config: &SdkConfig, counter: &ApiCounter) -> Registry {
    let ec2 = aws_sdk_ec2::Client::from_conf(
        aws_sdk_ec2::config::Builder::from(config).interceptor(counter.clone()).build(),
    );
    let mut r = Registry::new();
    r.register(Arc::new(ec2::vpc::Vpc(ec2.clone())));
    r.register(Arc::new(ec2::subnet::Subnet(ec2.clone())));
    r.register(Arc::new(ec2::internet_gateway::InternetGateway(ec2.clone())));
    r.register(Arc::new(ec2::internet_gateway_attachment::InternetGatewayAttachment(ec2.clone())));
    r.register(Arc::new(ec2::eip::ElasticIp(ec2.clone())));
    r.register(Arc::new(ec2::nat_gateway::NatGateway(ec2.clone())));
    r.register(Arc::new(ec2::route_table::RouteTable(ec2.clone())));
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
    cloudwatch::register(&mut r, config, counter);
    scheduler::register(&mut r, config, counter);
    r
}

/// An SDK client of any service built from `config`, every call counted by `counter`:
/// `client!(aws_sdk_ecs, config, counter)`.
#[macro_export]
#[doc(hidden)]
macro_rules! client {
    ($sdk:ident, $config:expr, $counter:expr) => {
        $sdk::Client::from_conf($sdk::config::Builder::from($config).interceptor($counter.clone()).build())
    };
}
