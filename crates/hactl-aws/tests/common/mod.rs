//! Shared by the provider tests: the SDK configuration for the emulator and a harness
//! that drives providers through the registry, counting their API calls.
#![allow(dead_code)] // each test file uses part of it

pub mod route53;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use hactl_aws::ApiCounter;
use hactl_core::{Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ReadTarget, Registry};
use std::collections::BTreeMap;
use std::sync::Arc;
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

/// The providers of every kind (from `hactl_aws::registry`), an API call counter and a
/// unique stack name for one test.
pub struct Harness {
    pub registry: Registry,
    pub counter: ApiCounter,
    pub stack: String,
}

impl Harness {
    /// The harness and the SDK configuration its registry was built from (for the
    /// test's own verifying client).
    pub async fn new(test: &str) -> (Harness, SdkConfig) {
        let cfg = sdk_config().await;
        let counter = ApiCounter::default();
        let h = Harness {
            registry: hactl_aws::registry(&cfg, &counter),
            counter,
            stack: format!("t{}-{test}", std::process::id()),
        };
        (h, cfg)
    }

    pub fn provider(&self, kind: &str) -> Arc<dyn Provider> {
        self.registry.get(kind).unwrap().clone()
    }

    pub fn ctx(&self) -> Ctx {
        Ctx::new(&self.stack, Arc::new(NullSink))
    }

    /// The hactl tags of `address` in this stack, plus `extra`.
    pub fn tags(&self, address: &str, extra: &[(&str, &str)]) -> Value {
        let mut m = BTreeMap::from([
            (TAG_STACK.to_string(), self.stack.clone()),
            (TAG_ADDRESS.to_string(), address.to_string()),
        ]);
        m.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Value::from_string_map(m)
    }

    /// A read of `kind` with a fresh cache, and the API calls it made by operation.
    pub async fn read(&self, kind: &str, targets: &[ReadTarget]) -> (Vec<LiveObject>, BTreeMap<String, u64>) {
        let before = self.counter.snapshot();
        let objs = self.provider(kind).read(&self.ctx().with_fresh_cache(), targets).await.unwrap();
        let calls = calls_since(&self.counter, &before);
        (objs, calls)
    }

    /// The object a read finds for `target` (matched by its id).
    pub async fn read_one(&self, kind: &str, target: &ReadTarget) -> Option<LiveObject> {
        let (objs, _) = self.read(kind, std::slice::from_ref(target)).await;
        objs.into_iter().find(|o| Some(&o.id) == target.id.as_ref())
    }
}

/// The API calls `counter` counted since `before` (a snapshot), by operation.
pub fn calls_since(counter: &ApiCounter, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    counter
        .snapshot()
        .into_iter()
        .filter_map(|(k, n)| {
            let d = n - before.get(&k).copied().unwrap_or(0);
            (d > 0).then_some((k, d))
        })
        .collect()
}

/// Answers every `operation` call of its client with `status`, `content_type` and `body`
/// instead of the emulator's answer (the request is still sent and counted): an error
/// body to refuse it, or a canned listing to play a stale or empty answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub operation: &'static str,
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for Canned {
    fn name(&self) -> &'static str {
        "test: canned answer"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>().map(|m| m.name());
        if op == Some(self.operation) {
            let mut answer = aws_smithy_runtime_api::http::Response::new(
                self.status.try_into().expect("status"),
                aws_smithy_types::body::SdkBody::from(self.body.clone()),
            );
            answer.headers_mut().insert("content-type", self.content_type);
            *context.response_mut() = answer;
        }
        Ok(())
    }
}

/// A policy document as IAM answers it: URL-encoded JSON on AWS, plain (or a JSON string
/// holding it) on the emulator.
pub fn policy_document(text: &str) -> serde_json::Value {
    use serde_json::Value as J;
    let plain = |s: &str| match serde_json::from_str::<J>(s).ok()? {
        J::String(inner) => serde_json::from_str(&inner).ok(),
        j => Some(j),
    };
    plain(text).unwrap_or_else(|| {
        let b = text.as_bytes();
        let (mut out, mut i) = (Vec::new(), 0);
        while i < b.len() {
            if b[i] == b'%' {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).expect("percent escape"));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        plain(std::str::from_utf8(&out).expect("utf-8")).unwrap_or_else(|| panic!("not a document: {text}"))
    })
}
