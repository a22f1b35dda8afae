//! Shared by the provider tests: the SDK configuration for the emulator.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

/// SDK configuration for the emulator (`AWS_ENDPOINT_URL`, default 127.0.0.1:4566; test
/// credentials; us-east-1). Fails at once, with a clear message, when it is not up.
pub async fn sdk_config() -> SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".to_string());
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/').to_string();
    assert!(
        std::net::TcpStream::connect_timeout(
            &hostport.parse().expect("http://IP:PORT"),
            Duration::from_secs(2)
        )
        .is_ok(),
        "the emulator is not reachable at {endpoint}: start it with `bash scripts/emulator.sh start`"
    );
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ec2::config::Credentials::new("test", "test", None, None, "tests"))
        .load()
        .await
}
