//! The log shipper's providers (`[log_analytics]`): `s3.bucket`, `lambda.function` and
//! `logs.subscription_filter`, driven through the registry against the emulator, every
//! effect checked with the S3, Lambda and CloudWatch Logs SDKs; names unique per process,
//! everything removed at the end.

use crate::common::Harness;
use hactl_core::{Address, Props, Value};
use hactl_engine::{ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

fn changed(h: &Harness, kind: &str, desired: &Props, live: &Props) -> Vec<String> {
    let p = h.provider(kind);
    p.diff(desired, live).into_iter().map(|c| c.name).collect()
}

async fn update(h: &Harness, kind: &str, t: &ReadTarget, id: &str, desired: &Props) -> Result<(), String> {
    let live = h.read_one(kind, t).await.ok_or("gone")?;
    let changes = h.provider(kind).diff(desired, &live.props);
    let req = UpdateRequest { address: &t.address, id, desired, changes: &changes };
    h.provider(kind).update(&h.ctx(), req).await.map(drop).map_err(|e| e.to_string())
}

fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(cfg).force_path_style(true).build())
}

fn bucket_props(h: &Harness, name: &str, days: i64) -> Props {
    let arn = format!("arn:aws:s3:::{name}");
    let deny = map(&[
        ("Sid", Value::str("DenyInsecureTransport")),
        ("Effect", Value::str("Deny")),
        ("Principal", Value::str("*")),
        ("Action", Value::str("s3:*")),
        ("Resource", Value::from_strings([arn.clone(), format!("{arn}/*")])),
        ("Condition", map(&[("Bool", map(&[("aws:SecureTransport", Value::str("false"))]))])),
    ]);
    Props::from([
        ("name".to_string(), Value::str(name)),
        ("encryption".to_string(), map(&[("algorithm", Value::str("AES256")), ("kms_key_id", Value::Null)])),
        ("public_access_block".to_string(), Value::Bool(true)),
        ("expiration_days".to_string(), Value::Int(days)),
        (
            "policy".to_string(),
            map(&[("Version", Value::str("2012-10-17")), ("Statement", Value::List(vec![deny]))]),
        ),
        ("tags".to_string(), h.tags("s3_bucket.log_failures", &[])),
    ])
}

#[tokio::test]
async fn bucket_lifecycle() {
    let (h, cfg) = Harness::new("bucket").await;
    let (other, _) = Harness::new("bucket-x").await;
    let s3 = s3_client(&cfg);
    let name = format!("{}-log-failures-000000000000-us-east-1", h.stack);
    let result = bucket(&h, &other, &s3, &name).await;
    for n in [&name, &format!("{}-log-failures-000000000000-us-east-1", other.stack)] {
        let _ = h.provider("s3.bucket").delete(&h.ctx(), n, &Props::new()).await;
    }
    result.unwrap();
}

async fn bucket(h: &Harness, other: &Harness, s3: &aws_sdk_s3::Client, name: &str) -> Result<(), String> {
    let sdk = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let buckets = h.provider("s3.bucket");
    let props = bucket_props(h, name, 30);
    let created =
        buckets.create(&h.ctx(), &addr("s3_bucket.log_failures"), &props).await.map_err(|e| e.to_string())?;
    assert_eq!(created.id, name);
    assert_eq!(created.outputs["arn"], Value::str(format!("arn:aws:s3:::{name}")));
    let t = target("s3_bucket.log_failures", Some(name), &props);
    let live = h.read_one("s3.bucket", &t).await.ok_or("the new bucket is not read")?;
    assert!(live.owned);
    assert_eq!(changed(h, "s3.bucket", &props, &live.props), Vec::<String>::new());
    let enc = s3.get_bucket_encryption().bucket(name).send().await.map_err(|e| sdk(&e))?;
    let rule = &enc.server_side_encryption_configuration().ok_or("no encryption")?.rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default().map(|d| d.sse_algorithm().as_str()),
        Some("AES256")
    );

    // Out of band: public access unblocked, the expiry rule removed, a tag removed.
    s3.delete_public_access_block().bucket(name).send().await.map_err(|e| sdk(&e))?;
    s3.delete_bucket_lifecycle().bucket(name).send().await.map_err(|e| sdk(&e))?;
    let mut fewer = props["tags"].string_map();
    fewer.remove(hactl_core::TAG_ADDRESS);
    let tags: Vec<_> = fewer
        .iter()
        .map(|(k, v)| aws_sdk_s3::types::Tag::builder().key(k).value(v).build().unwrap())
        .collect();
    let tagging = aws_sdk_s3::types::Tagging::builder().set_tag_set(Some(tags)).build().unwrap();
    s3.put_bucket_tagging().bucket(name).tagging(tagging).send().await.map_err(|e| sdk(&e))?;
    let live = h.read_one("s3.bucket", &t).await.ok_or("gone")?;
    assert!(live.owned, "its stack tag holds");
    assert_eq!(
        changed(h, "s3.bucket", &props, &live.props),
        ["expiration_days", "public_access_block", "tags"]
    );
    update(h, "s3.bucket", &t, name, &props).await?;
    let live = h.read_one("s3.bucket", &t).await.ok_or("gone")?;
    assert_eq!(changed(h, "s3.bucket", &props, &live.props), Vec::<String>::new());
    let moved = bucket_props(h, name, 7);
    update(h, "s3.bucket", &t, name, &moved).await?;
    let life = s3.get_bucket_lifecycle_configuration().bucket(name).send().await.map_err(|e| sdk(&e))?;
    assert_eq!(life.rules()[0].expiration().and_then(|e| e.days()), Some(7));

    // Another stack's bucket of this stack's name pattern: not read as this stack's, and
    // a create over its name is refused, never adopted.
    let oname = format!("{}-log-failures-000000000000-us-east-1", other.stack);
    other
        .provider("s3.bucket")
        .create(&other.ctx(), &addr("s3_bucket.log_failures"), &bucket_props(other, &oname, 30))
        .await
        .map_err(|e| e.to_string())?;
    let (objs, _) =
        h.read("s3.bucket", &[target("s3_bucket.log_failures", None, &bucket_props(h, &oname, 30))]).await;
    assert!(objs.iter().all(|o| !o.owned), "{objs:?}");
    let refused =
        buckets.create(&h.ctx(), &addr("s3_bucket.log_failures"), &bucket_props(h, &oname, 30)).await;
    assert!(refused.is_err_and(|e| e.to_string().contains(&other.stack)));

    // Delete empties it first: objects (failed batches) do not stop a destroy.
    for key in ["failed/1.json", "failed/2.json"] {
        let body = aws_sdk_s3::primitives::ByteStream::from_static(b"{}");
        s3.put_object().bucket(name).key(key).body(body).send().await.map_err(|e| sdk(&e))?;
    }
    buckets.delete(&h.ctx(), name, &props).await.map_err(|e| e.to_string())?;
    assert!(s3.head_bucket().bucket(name).send().await.is_err(), "the bucket is gone");
    assert!(h.read_one("s3.bucket", &t).await.is_none());
    buckets.delete(&h.ctx(), name, &props).await.map_err(|e| format!("a second delete: {e}"))?;
    Ok(())
}

const CODE_V1: &str = "def handler(event, context):\n    return 1\n";
const CODE_V2: &str = "def handler(event, context):\n    return 2\n";

fn function_props(h: &Harness, role: &str, code: &str, bucket_arn: &str, source: &str) -> Props {
    Props::from([
        ("name".to_string(), Value::str(format!("{}-log-shipper", h.stack))),
        ("description".to_string(), Value::str("ships logs")),
        ("runtime".to_string(), Value::str("python3.13")),
        ("handler".to_string(), Value::str("index.handler")),
        ("code".to_string(), Value::str(code)),
        ("role_arn".to_string(), Value::str(role)),
        ("timeout".to_string(), Value::Int(60)),
        ("memory_size".to_string(), Value::Int(256)),
        ("environment".to_string(), map(&[("INDEX_PREFIX", Value::str("logs"))])),
        ("subnet_ids".to_string(), Value::List(Vec::new())),
        ("security_group_ids".to_string(), Value::List(Vec::new())),
        ("log_group".to_string(), Value::str(format!("/hactl/{}/log-shipper", h.stack))),
        (
            "async_invoke".to_string(),
            map(&[
                ("max_retry_attempts", Value::Int(2)),
                ("max_event_age_seconds", Value::Int(21_600)),
                ("on_failure", Value::str(bucket_arn)),
            ]),
        ),
        (
            "invoke_permissions".to_string(),
            Value::List(vec![map(&[
                ("sid", Value::str("cloudwatch-logs")),
                ("principal", Value::str("logs.amazonaws.com")),
                ("source_arn", Value::str(source)),
                ("source_account", Value::str("000000000000")),
            ])]),
        ),
        ("tags".to_string(), h.tags("lambda_function.log_shipper", &[])),
    ])
}

#[tokio::test]
async fn function_and_subscription_filter_lifecycle() {
    let (h, cfg) = Harness::new("shipper").await;
    let lambda = aws_sdk_lambda::Client::new(&cfg);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&cfg);
    let iam = aws_sdk_iam::Client::new(&cfg);
    let result = function(&h, &lambda, &logs, &iam).await;
    let name = format!("{}-log-shipper", h.stack);
    let _ = lambda.delete_function().function_name(&name).send().await;
    let _ = lambda.delete_function().function_name(format!("{name}-x")).send().await;
    let _ = logs.delete_log_group().log_group_name(format!("/hactl/{}/api", h.stack)).send().await;
    let _ = iam.delete_role().role_name(&name).send().await;
    result.unwrap();
}

async fn function(
    h: &Harness,
    lambda: &aws_sdk_lambda::Client,
    logs: &aws_sdk_cloudwatchlogs::Client,
    iam: &aws_sdk_iam::Client,
) -> Result<(), String> {
    let sdk = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let name = format!("{}-log-shipper", h.stack);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let role = iam
        .create_role()
        .role_name(&name)
        .assume_role_policy_document(trust)
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    let role = role.role().ok_or("no role")?.arn().to_string();
    let source = format!("arn:aws:logs:us-east-1:000000000000:log-group:/hactl/{}/*", h.stack);
    let failures = "arn:aws:s3:::failures";
    let functions = h.provider("lambda.function");
    let props = function_props(h, &role, CODE_V1, failures, &source);
    let created = functions
        .create(&h.ctx(), &addr("lambda_function.log_shipper"), &props)
        .await
        .map_err(|e| e.to_string())?;
    assert_eq!(created.id, name);
    let arn = created.outputs["arn"].as_str().ok_or("no arn")?.to_string();
    let t = target("lambda_function.log_shipper", Some(&name), &props);
    let (objs, calls) = h.read("lambda.function", std::slice::from_ref(&t)).await;
    let live = objs.iter().find(|o| o.id == name).ok_or("the new function is not read")?;
    assert!(live.owned);
    assert_eq!(changed(h, "lambda.function", &props, &live.props), Vec::<String>::new());
    assert_eq!(
        calls,
        BTreeMap::from([
            ("Lambda:GetFunctionEventInvokeConfig".to_string(), 1),
            ("Lambda:GetPolicy".to_string(), 1),
            ("Lambda:ListFunctions".to_string(), 1),
            ("Lambda:ListTags".to_string(), 1),
        ])
    );
    let invoke =
        lambda.get_function_event_invoke_config().function_name(&name).send().await.map_err(|e| sdk(&e))?;
    assert_eq!(
        invoke.destination_config().and_then(|d| d.on_failure()).and_then(|o| o.destination()),
        Some(failures)
    );

    // New code, environment and permission: read shows exactly those, update applies them.
    let mut v2 = function_props(h, &role, CODE_V2, failures, &source.replace("/*", "/api"));
    v2.insert("environment".to_string(), map(&[("INDEX_PREFIX", Value::str("app"))]));
    let live = h.read_one("lambda.function", &t).await.ok_or("gone")?;
    assert_eq!(
        changed(h, "lambda.function", &v2, &live.props),
        ["code", "environment", "invoke_permissions"]
    );
    let before =
        lambda.get_function_configuration().function_name(&name).send().await.map_err(|e| sdk(&e))?;
    update(h, "lambda.function", &t, &name, &v2).await?;
    let after = lambda.get_function_configuration().function_name(&name).send().await.map_err(|e| sdk(&e))?;
    assert_ne!(before.code_sha256(), after.code_sha256(), "new code deployed");
    let env = after.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    assert_eq!(env.get("INDEX_PREFIX").map(String::as_str), Some("app"));
    let policy = lambda.get_policy().function_name(&name).send().await.map_err(|e| sdk(&e))?;
    assert!(policy.policy().unwrap_or_default().contains("/hactl/"), "{policy:?}");
    assert!(policy.policy().unwrap_or_default().contains(&format!("/hactl/{}/api", h.stack)), "{policy:?}");
    let live = h.read_one("lambda.function", &t).await.ok_or("gone")?;
    assert_eq!(changed(h, "lambda.function", &v2, &live.props), Vec::<String>::new());

    // A function of this stack's name pattern made by hand (no hactl tags) is read at the
    // target that names it but not owned; a create over it is refused.
    let foreign = format!("{name}-x");
    let zip = {
        let t2 = function_props(h, &role, CODE_V1, failures, &source);
        let mut p = t2.clone();
        p.insert("name".to_string(), Value::str(&foreign));
        p
    };
    let code = lambda.get_function().function_name(&name).send().await.map_err(|e| sdk(&e))?;
    let location = code.code().and_then(|c| c.location()).ok_or("no code location")?.to_string();
    let package =
        std::process::Command::new("curl").args(["-fsS", &location]).output().map_err(|e| e.to_string())?;
    lambda
        .create_function()
        .function_name(&foreign)
        .runtime(aws_sdk_lambda::types::Runtime::Python313)
        .handler("index.handler")
        .role(&role)
        .code(aws_sdk_lambda::types::FunctionCode::builder().zip_file(package.stdout.into()).build())
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    let ft = target("lambda_function.log_shipper", None, &zip);
    let (objs, _) = h.read("lambda.function", std::slice::from_ref(&ft)).await;
    let found = objs.iter().find(|o| o.id == foreign).ok_or("the hand-made function is not read")?;
    assert!(!found.owned);
    let refused = functions.create(&h.ctx(), &addr("lambda_function.log_shipper"), &zip).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("not lambda_function.log_shipper")));

    // The subscription filter: put, read back, changed out of band, deleted.
    let group = format!("/hactl/{}/api", h.stack);
    logs.create_log_group().log_group_name(&group).send().await.map_err(|e| sdk(&e))?;
    let filters = h.provider("logs.subscription_filter");
    let fprops = Props::from([
        ("log_group_name".to_string(), Value::str(&group)),
        ("filter_name".to_string(), Value::str(format!("{}-log-analytics", h.stack))),
        ("filter_pattern".to_string(), Value::str("")),
        ("destination_arn".to_string(), Value::str(&arn)),
    ]);
    let f =
        filters.create(&h.ctx(), &addr("log_subscription.api"), &fprops).await.map_err(|e| e.to_string())?;
    assert_eq!(f.id, format!("{group}:{}-log-analytics", h.stack));
    let ft = target("log_subscription.api", Some(&f.id), &fprops);
    let live = h.read_one("logs.subscription_filter", &ft).await.ok_or("the filter is not read")?;
    assert!(live.owned);
    assert_eq!(changed(h, "logs.subscription_filter", &fprops, &live.props), Vec::<String>::new());
    logs.put_subscription_filter()
        .log_group_name(&group)
        .filter_name(format!("{}-log-analytics", h.stack))
        .filter_pattern("ERROR")
        .destination_arn(&arn)
        .send()
        .await
        .map_err(|e| sdk(&e))?;
    let live = h.read_one("logs.subscription_filter", &ft).await.ok_or("gone")?;
    assert_eq!(changed(h, "logs.subscription_filter", &fprops, &live.props), ["filter_pattern"]);
    update(h, "logs.subscription_filter", &ft, &f.id, &fprops).await?;
    let d = logs.describe_subscription_filters().log_group_name(&group).send().await.map_err(|e| sdk(&e))?;
    assert_eq!(d.subscription_filters()[0].filter_pattern(), Some(""));
    filters.delete(&h.ctx(), &f.id, &fprops).await.map_err(|e| e.to_string())?;
    let d = logs.describe_subscription_filters().log_group_name(&group).send().await.map_err(|e| sdk(&e))?;
    assert!(d.subscription_filters().is_empty());
    assert!(h.read_one("logs.subscription_filter", &ft).await.is_none());
    filters.delete(&h.ctx(), &f.id, &fprops).await.map_err(|e| format!("a second delete: {e}"))?;

    functions.delete(&h.ctx(), &name, &v2).await.map_err(|e| e.to_string())?;
    assert!(lambda.get_function().function_name(&name).send().await.is_err(), "the function is gone");
    functions.delete(&h.ctx(), &name, &v2).await.map_err(|e| format!("a second delete: {e}"))?;
    Ok(())
}
