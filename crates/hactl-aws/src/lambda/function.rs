//! `lambda.function`: a Lambda function `<stack>-...` whose code is one source file
//! (`code`, packaged by [`super::package`] as `index.<ext>`). id = the function's name.
//!
//! Read: ListFunctions (paginated; it carries each function's configuration) → the
//! functions a target names or state records → ListTags for those (documented exception
//! to the tag index: a stack has one function, and the Tagging API's answer for Lambda is
//! no cheaper) → GetFunctionEventInvokeConfig and GetPolicy for each of this stack's. The
//! code reads as `sha256:<CodeSha256>`; [`Provider::normalize`] shows it as the desired
//! source when that source packages to the same digest.
//!
//! Create: CreateFunction (retried while IAM has not yet propagated the new role or its
//! network permissions), then waits until the function is Active (a function in a VPC
//! takes a minute or more), then its asynchronous invocation settings
//! (PutFunctionEventInvokeConfig) and permissions (AddPermission). Update: the code
//! (UpdateFunctionCode) and the configuration (UpdateFunctionConfiguration) each waited
//! until Lambda has finished applying it; settings and permissions as at create.
//!
//! Delete: DeleteFunction, then (a function in a VPC) waits until no Lambda network
//! interface is left in its security groups (the stack's, the function's alone) (DescribeNetworkInterfaces; AWS
//! releases them some minutes later, up to 45 waited), so that the deletes of its group
//! and subnets, which follow, find nothing in their way.

use super::package;
use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_str, owner_of, req_str, str_list, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput as Current;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    DestinationConfig, Environment, FunctionConfiguration, LastUpdateStatus, LogFormat, LoggingConfig,
    OnFailure, Runtime, State, VpcConfig,
};
use aws_sdk_lambda::Client;
use hactl_core::kinds::lambda::Function as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Function {
    pub client: Client,
    /// The function's network interfaces, waited for at its delete.
    pub ec2: aws_sdk_ec2::Client,
}

/// How long a delete waits for a VPC function's network interfaces to go: AWS releases
/// them some minutes after the function, 20 at most in practice.
const ENI_WAIT: std::time::Duration = std::time::Duration::from_secs(45 * 60);

/// The prefix of the `code` property as read: the package's digest.
const SHA_PREFIX: &str = "sha256:";

fn outputs(arn: &str, name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

/// The package of the desired code: `index.py` for a Python runtime, `index.mjs` for
/// Node.js.
fn package_of(props: &Props) -> Result<Vec<u8>, ProviderError> {
    let code = req_str(props, Kind::CODE)?;
    let runtime = opt_str(props, Kind::RUNTIME).unwrap_or_default();
    let file = if runtime.starts_with("nodejs") { "index.mjs" } else { "index.py" };
    Ok(package::zip(file, code.as_bytes()))
}

/// The function's configuration as the properties write it (code as its digest).
fn config_props(f: &FunctionConfiguration) -> Props {
    let int = |v: Option<i32>| v.map_or(Value::Null, |n| Value::Int(i64::from(n)));
    let vpc = f.vpc_config();
    let list =
        |ids: Option<&[String]>| Value::from_strings(ids.unwrap_or_default().iter().map(String::as_str));
    let env = f.environment().and_then(|e| e.variables()).cloned().unwrap_or_default();
    Props::from([
        (Kind::NAME.to_string(), Value::str(f.function_name().unwrap_or_default())),
        (Kind::DESCRIPTION.to_string(), Value::str(f.description().unwrap_or_default())),
        (Kind::RUNTIME.to_string(), f.runtime().map_or(Value::Null, |r| Value::str(r.as_str()))),
        (Kind::HANDLER.to_string(), f.handler().map_or(Value::Null, Value::str)),
        (Kind::CODE.to_string(), Value::str(format!("{SHA_PREFIX}{}", f.code_sha256().unwrap_or_default()))),
        (Kind::ROLE_ARN.to_string(), f.role().map_or(Value::Null, Value::str)),
        (Kind::TIMEOUT.to_string(), int(f.timeout())),
        (Kind::MEMORY_SIZE.to_string(), int(f.memory_size())),
        (
            Kind::ENVIRONMENT.to_string(),
            Value::from_string_map(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        ),
        (Kind::SUBNET_IDS.to_string(), list(vpc.map(|v| v.subnet_ids()))),
        (Kind::SECURITY_GROUP_IDS.to_string(), list(vpc.map(|v| v.security_group_ids()))),
        (
            Kind::LOG_GROUP.to_string(),
            f.logging_config().and_then(LoggingConfig::log_group).map_or(Value::Null, Value::str),
        ),
    ])
}

fn map_of(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A Lambda error worth retrying: the function is still busy with a change
/// (ResourceConflictException), or IAM has not yet propagated the role or its policy
/// (InvalidParameterValueException naming the role or the network interface permission).
fn settling(mut e: ProviderError) -> ProviderError {
    let message = e.message().to_ascii_lowercase();
    let propagating = e.code() == Some("InvalidParameterValueException")
        && (message.contains("cannot be assumed")
            || message.contains("execution role does not have permissions")
            || message.contains("createnetworkinterface"));
    if e.code() == Some("ResourceConflictException")
        || e.code() == Some("TooManyRequestsException")
        || propagating
    {
        e.make_retryable();
    }
    e
}

/// The `invoke_permissions` property: one map per statement of the resource policy
/// (sid, principal service, source ARN and account conditions).
fn permissions_of(policy: &str) -> Result<Value, ProviderError> {
    let doc: serde_json::Value = serde_json::from_str(policy)
        .map_err(|e| ProviderError::fatal(format!("the function's resource policy is not JSON: {e}")))?;
    let mut out: Vec<Value> = doc
        .get("Statement")
        .and_then(serde_json::Value::as_array)
        .map(|statements| statements.iter().map(permission_of).collect())
        .unwrap_or_default();
    out.sort_by_key(|p| p.as_map().and_then(|m| m.get("sid")).and_then(Value::as_str).map(str::to_string));
    Ok(Value::List(out))
}

fn permission_of(s: &serde_json::Value) -> Value {
    let text =
        |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).map_or(Value::Null, Value::str);
    let principal = s.get("Principal").and_then(|p| p.get("Service").or(Some(p)));
    let condition = s.get("Condition");
    let cond = |op: &str, key: &str| {
        condition
            .and_then(|c| c.get(op))
            .and_then(|o| o.get(key).or_else(|| o.get(key.to_ascii_lowercase().as_str())))
    };
    map_of(vec![
        ("sid", text(s.get("Sid"))),
        ("principal", text(principal)),
        ("source_arn", text(cond("ArnLike", "AWS:SourceArn"))),
        ("source_account", text(cond("StringEquals", "AWS:SourceAccount"))),
    ])
}

/// The desired permissions by sid.
fn permissions(props: &Props) -> BTreeMap<String, BTreeMap<String, Value>> {
    props
        .get(Kind::INVOKE_PERMISSIONS)
        .and_then(Value::as_list)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_map)
        .filter_map(|m| Some((m.get("sid")?.as_str()?.to_string(), m.clone())))
        .collect()
}

/// Lambda's tag calls (functions, by ARN): TagResource, UntagResource.
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.tag_resource().resource(arn).set_tags(Some(tags.into_iter().collect())).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagResource", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.untag_resource().resource(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("UntagResource", e)))
    }
}

impl Function {
    async fn list(&self) -> Result<Vec<FunctionConfiguration>, ProviderError> {
        self.client
            .list_functions()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListFunctions", e))
    }

    async fn configuration(&self, name: &str) -> Result<Option<Current>, ProviderError> {
        let out = self.client.get_function_configuration().function_name(name).send().await;
        found(out.map_err(|e| aws_error("GetFunctionConfiguration", e)))
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self.client.list_tags().resource(arn).send().await;
        let out = out.map_err(|e| retry_not_found(aws_error("ListTags", e)))?;
        Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
    }

    /// The `async_invoke` property: retries, event age and on-failure destination.
    async fn async_invoke(&self, name: &str) -> Result<Value, ProviderError> {
        let out = self.client.get_function_event_invoke_config().function_name(name).send().await;
        let Some(c) = found(out.map_err(|e| aws_error("GetFunctionEventInvokeConfig", e)))? else {
            return Ok(Value::Null);
        };
        let on_failure = c
            .destination_config()
            .and_then(DestinationConfig::on_failure)
            .and_then(OnFailure::destination)
            .filter(|d| !d.is_empty());
        Ok(map_of(vec![
            ("max_retry_attempts", c.maximum_retry_attempts().map_or(Value::Null, |n| Value::Int(n.into()))),
            (
                "max_event_age_seconds",
                c.maximum_event_age_in_seconds().map_or(Value::Null, |n| Value::Int(n.into())),
            ),
            ("on_failure", on_failure.map_or(Value::Null, Value::str)),
        ]))
    }

    async fn policy(&self, name: &str) -> Result<Value, ProviderError> {
        let out = self.client.get_policy().function_name(name).send().await;
        match found(out.map_err(|e| aws_error("GetPolicy", e)))? {
            Some(p) => permissions_of(p.policy().unwrap_or("{}")),
            None => Ok(Value::List(Vec::new())),
        }
    }

    /// Waits until the function is ready for a change or a call: Active (or Inactive, a
    /// function idle for weeks, which its next update reactivates) with its last update
    /// applied. A failed creation or update is an error with AWS's reason.
    async fn wait_ready(&self, ctx: &Ctx, name: &str) -> Result<Current, ProviderError> {
        ctx.wait_for(&format!("Lambda function {name} to be active"), || async move {
            let Some(f) = self.configuration(name).await? else {
                return Err(ProviderError::retryable(format!("Lambda function {name} not found")));
            };
            if f.state() == Some(&State::Failed) {
                return Err(ProviderError::fatal(format!(
                    "Lambda function {name} failed: {}",
                    f.state_reason().unwrap_or("no reason given")
                )));
            }
            if f.last_update_status() == Some(&LastUpdateStatus::Failed) {
                return Err(ProviderError::fatal(format!(
                    "the last update of Lambda function {name} failed: {}",
                    f.last_update_status_reason().unwrap_or("no reason given")
                )));
            }
            let updated = f.last_update_status() != Some(&LastUpdateStatus::InProgress);
            let ready = matches!(f.state(), Some(State::Active | State::Inactive));
            Ok((ready && updated).then_some(f))
        })
        .await
    }

    async fn put_async_invoke(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let Some(settings) = props.get(Kind::ASYNC_INVOKE).and_then(Value::as_map) else {
            let out = self.client.delete_function_event_invoke_config().function_name(name).send().await;
            return ignore_not_found(
                out.map(drop).map_err(|e| aws_error("DeleteFunctionEventInvokeConfig", e)),
            );
        };
        let int = |k: &str| settings.get(k).and_then(Value::as_int).and_then(|n| i32::try_from(n).ok());
        let destination = settings.get("on_failure").and_then(Value::as_str).map(|d| {
            DestinationConfig::builder().on_failure(OnFailure::builder().destination(d).build()).build()
        });
        let out = self
            .client
            .put_function_event_invoke_config()
            .function_name(name)
            .set_maximum_retry_attempts(int("max_retry_attempts"))
            .set_maximum_event_age_in_seconds(int("max_event_age_seconds"))
            .set_destination_config(destination)
            .send()
            .await;
        // The destination's permission (the role's policy) may not have propagated yet.
        out.map(drop).map_err(|e| settling(retry_not_found(aws_error("PutFunctionEventInvokeConfig", e))))
    }

    /// Brings the resource policy's statements from `live` to the desired ones: removes
    /// those that go or change, adds those that come or changed.
    async fn sync_permissions(
        &self,
        name: &str,
        live: &BTreeMap<String, BTreeMap<String, Value>>,
        props: &Props,
    ) -> Result<(), ProviderError> {
        let desired = permissions(props);
        for (sid, p) in live {
            if desired.get(sid) != Some(p) {
                let out = self.client.remove_permission().function_name(name).statement_id(sid).send().await;
                ignore_not_found(out.map(drop).map_err(|e| settling(aws_error("RemovePermission", e))))?;
            }
        }
        for (sid, p) in &desired {
            if live.get(sid) == Some(p) {
                continue;
            }
            let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
            let out = self
                .client
                .add_permission()
                .function_name(name)
                .statement_id(sid)
                .action("lambda:InvokeFunction")
                .set_principal(text("principal"))
                .set_source_arn(text("source_arn"))
                .set_source_account(text("source_account"))
                .send()
                .await;
            out.map(drop).map_err(|e| settling(aws_error("AddPermission", e)))?;
        }
        Ok(())
    }

    async fn update_configuration(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let out = self
            .client
            .update_function_configuration()
            .function_name(name)
            .description(opt_str(props, Kind::DESCRIPTION).unwrap_or_default())
            .runtime(Runtime::from(req_str(props, Kind::RUNTIME)?))
            .handler(req_str(props, Kind::HANDLER)?)
            .role(req_str(props, Kind::ROLE_ARN)?)
            .set_timeout(crate::util::int_prop(props, Kind::TIMEOUT)?)
            .set_memory_size(crate::util::int_prop(props, Kind::MEMORY_SIZE)?)
            .environment(environment(props))
            .vpc_config(vpc_config(props))
            .set_logging_config(logging_config(props))
            .send()
            .await;
        out.map(drop).map_err(|e| settling(aws_error("UpdateFunctionConfiguration", e)))
    }
}

fn environment(props: &Props) -> Environment {
    let vars = props.get(Kind::ENVIRONMENT).map(Value::string_map).unwrap_or_default();
    Environment::builder().set_variables(Some(vars.into_iter().collect())).build()
}

fn vpc_config(props: &Props) -> VpcConfig {
    VpcConfig::builder()
        .set_subnet_ids(Some(str_list(props, Kind::SUBNET_IDS)))
        .set_security_group_ids(Some(str_list(props, Kind::SECURITY_GROUP_IDS)))
        .build()
}

fn logging_config(props: &Props) -> Option<LoggingConfig> {
    opt_str(props, Kind::LOG_GROUP)
        .map(|g| LoggingConfig::builder().log_format(LogFormat::Text).log_group(g).build())
}

#[async_trait]
impl Provider for Function {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::NAME])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        let mut out = Vec::new();
        for f in self.list().await? {
            let (Some(name), Some(arn)) = (f.function_name(), f.function_arn()) else { continue };
            let record = targets.iter().find(|t| t.id.as_deref() == Some(name));
            let named = match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(name));
            if !name.starts_with(&prefix) && record.is_none() && named.is_none() {
                continue;
            }
            let Some(tags) = found(self.tags(arn).await)? else { continue };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if address.is_none() && !tags.contains_key(TAG_STACK) {
                address = named.cloned();
            }
            if !owned && address.is_none() && record.is_none() {
                continue;
            }
            let mut props = config_props(&f);
            props.insert(Kind::ASYNC_INVOKE.to_string(), self.async_invoke(name).await?);
            props.insert(Kind::INVOKE_PERMISSIONS.to_string(), self.policy(name).await?);
            props.insert(
                Kind::TAGS.to_string(),
                tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            );
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(arn, name), owned });
        }
        Ok(out)
    }

    /// The code reads as its package's digest: the desired source when it packages to
    /// that digest. A description AWS answers empty is an unset one.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        let live_sha = live.get(Kind::CODE).and_then(Value::as_str).and_then(|c| c.strip_prefix(SHA_PREFIX));
        if let (Some(sha), Ok(package)) = (live_sha, package_of(desired)) {
            if package::code_sha256(&package) == sha {
                if let Some(code) = desired.get(Kind::CODE) {
                    live.insert(Kind::CODE.to_string(), code.clone());
                }
            }
        }
        if desired.get(Kind::DESCRIPTION).is_none_or(|d| matches!(d, Value::Null))
            && live.get(Kind::DESCRIPTION).and_then(Value::as_str) == Some("")
        {
            live.insert(Kind::DESCRIPTION.to_string(), Value::Null);
        }
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let live_permissions = if let Some(existing) = self.configuration(name).await? {
            // A create retried after a crash: ours only by its tags, then converged.
            let arn = existing.function_arn().unwrap_or_default().to_string();
            let tags = self.tags(&arn).await?;
            ensure_ours(
                ctx,
                address,
                &tags,
                &format!("Lambda function `{name}`"),
                "ResourceConflictException",
            )?;
            self.wait_ready(ctx, name).await?;
            let package = package_of(props)?;
            let out = self
                .client
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(package))
                .send()
                .await;
            out.map_err(|e| settling(aws_error("UpdateFunctionCode", e)))?;
            self.wait_ready(ctx, name).await?;
            self.update_configuration(name, props).await?;
            self.client.converge_tags(&arn, &tags, props).await?;
            let live = self.policy(name).await?;
            permissions(&Props::from([(Kind::INVOKE_PERMISSIONS.to_string(), live)]))
        } else {
            let out = self
                .client
                .create_function()
                .function_name(name)
                .description(opt_str(props, Kind::DESCRIPTION).unwrap_or_default())
                .runtime(Runtime::from(req_str(props, Kind::RUNTIME)?))
                .handler(req_str(props, Kind::HANDLER)?)
                .role(req_str(props, Kind::ROLE_ARN)?)
                .code(
                    aws_sdk_lambda::types::FunctionCode::builder()
                        .zip_file(Blob::new(package_of(props)?))
                        .build(),
                )
                .set_timeout(crate::util::int_prop(props, Kind::TIMEOUT)?)
                .set_memory_size(crate::util::int_prop(props, Kind::MEMORY_SIZE)?)
                .environment(environment(props))
                .vpc_config(vpc_config(props))
                .set_logging_config(logging_config(props))
                .set_tags(Some(tag_map(props).into_iter().collect()))
                .send()
                .await;
            out.map_err(|e| settling(aws_error("CreateFunction", e)))?;
            BTreeMap::new()
        };
        let f = self.wait_ready(ctx, name).await?;
        self.put_async_invoke(name, props).await?;
        self.sync_permissions(name, &live_permissions, props).await?;
        let arn = f.function_arn().unwrap_or_default();
        Ok(Applied { outputs: outputs(arn, name), id: name.to_string() })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req.id;
        let changed = |p: &str| req.changes.iter().any(|c| c.name == p);
        if changed(Kind::CODE) || changed(Kind::RUNTIME) {
            self.wait_ready(ctx, name).await?;
            let package = package_of(req.desired)?;
            let out = self
                .client
                .update_function_code()
                .function_name(name)
                .zip_file(Blob::new(package))
                .send()
                .await;
            out.map_err(|e| settling(aws_error("UpdateFunctionCode", e)))?;
        }
        const CONFIG: &[&str] = &[
            Kind::DESCRIPTION,
            Kind::RUNTIME,
            Kind::HANDLER,
            Kind::ROLE_ARN,
            Kind::TIMEOUT,
            Kind::MEMORY_SIZE,
            Kind::ENVIRONMENT,
            Kind::SUBNET_IDS,
            Kind::SECURITY_GROUP_IDS,
            Kind::LOG_GROUP,
        ];
        if CONFIG.iter().any(|p| changed(p)) {
            self.wait_ready(ctx, name).await?;
            self.update_configuration(name, req.desired).await?;
        }
        let f = self.wait_ready(ctx, name).await?;
        let arn = f.function_arn().unwrap_or_default().to_string();
        for c in req.changes {
            match c.name.as_str() {
                Kind::ASYNC_INVOKE => self.put_async_invoke(name, req.desired).await?,
                Kind::INVOKE_PERMISSIONS => {
                    let before = Props::from([(
                        Kind::INVOKE_PERMISSIONS.to_string(),
                        c.before.clone().unwrap_or(Value::Null),
                    )]);
                    self.sync_permissions(name, &permissions(&before), req.desired).await?;
                }
                Kind::TAGS => self.client.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?,
                p if CONFIG.contains(&p) || p == Kind::CODE => {}
                other => {
                    return Err(ProviderError::fatal(format!(
                        "lambda.function cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { outputs: outputs(&arn, name), id: name.to_string() })
    }

    /// Deletes the function, then waits until the Lambda network interfaces of its
    /// security groups (its own) are gone, so the deletes of those groups and of its
    /// subnets that follow do not run out of retries.
    async fn delete(&self, ctx: &Ctx, id: &str, recorded: &Props) -> Result<(), ProviderError> {
        let out = self.client.delete_function().function_name(id).send().await;
        ignore_not_found(out.map(drop).map_err(|e| settling(aws_error("DeleteFunction", e))))?;
        let groups = str_list(recorded, Kind::SECURITY_GROUP_IDS);
        if groups.is_empty() {
            return Ok(());
        }
        let mut wait = ctx.clone();
        wait.wait_timeout = wait.wait_timeout.max(ENI_WAIT);
        wait.wait_for(&format!("the network interfaces of Lambda function {id} to go"), || {
            let groups = groups.clone();
            async move {
                let filters = [
                    aws_sdk_ec2::types::Filter::builder().name("group-id").set_values(Some(groups)).build(),
                    aws_sdk_ec2::types::Filter::builder().name("interface-type").values("lambda").build(),
                ];
                let out =
                    self.ec2.describe_network_interfaces().set_filters(Some(filters.to_vec())).send().await;
                let out = out.map_err(|e| aws_error("DescribeNetworkInterfaces", e))?;
                Ok(out.network_interfaces().is_empty().then_some(()))
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_policy_reads_as_permissions_by_sid() {
        let policy = r#"{"Version":"2012-10-17","Id":"default","Statement":[
            {"Sid":"logs","Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:f",
             "Principal":{"Service":"logs.amazonaws.com"},
             "Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:logs:us-east-1:1:log-group:/hactl/d/*"},
                          "StringEquals":{"AWS:SourceAccount":"1"}}}]}"#;
        let p = permissions_of(policy).unwrap();
        let one = p.as_list().unwrap()[0].as_map().unwrap().clone();
        assert_eq!(one["sid"], Value::str("logs"));
        assert_eq!(one["principal"], Value::str("logs.amazonaws.com"));
        assert_eq!(one["source_arn"], Value::str("arn:aws:logs:us-east-1:1:log-group:/hactl/d/*"));
        assert_eq!(one["source_account"], Value::str("1"));
        let props = Props::from([(Kind::INVOKE_PERMISSIONS.to_string(), p)]);
        assert_eq!(permissions(&props).keys().collect::<Vec<_>>(), ["logs"]);
    }

    #[test]
    fn the_code_reads_as_the_desired_source_only_when_it_packages_to_the_live_digest() {
        let desired = Props::from([
            (Kind::CODE.to_string(), Value::str("def handler(e, c):\n    return 1\n")),
            (Kind::RUNTIME.to_string(), Value::str("python3.13")),
        ]);
        let sha = package::code_sha256(&package_of(&desired).unwrap());
        let conf = aws_sdk_ec2::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_ec2::config::Region::new("us-east-1"))
            .build();
        let p = Function {
            ec2: aws_sdk_ec2::Client::from_conf(conf),
            client: Client::from_conf(
                aws_sdk_lambda::Config::builder()
                    .behavior_version_latest()
                    .region(aws_sdk_lambda::config::Region::new("us-east-1"))
                    .build(),
            ),
        };
        let mut live = Props::from([(Kind::CODE.to_string(), Value::str(format!("sha256:{sha}")))]);
        p.normalize(&desired, &mut live);
        assert_eq!(live[Kind::CODE], desired[Kind::CODE]);
        let mut other = Props::from([(Kind::CODE.to_string(), Value::str("sha256:AAAA"))]);
        p.normalize(&desired, &mut other);
        assert_eq!(other[Kind::CODE], Value::str("sha256:AAAA"));
    }

    #[test]
    fn a_busy_function_and_a_role_not_yet_assumable_are_retried() {
        let e = ProviderError::fatal("The role defined for the function cannot be assumed by Lambda.")
            .with_code("InvalidParameterValueException");
        assert!(settling(e).is_retryable());
        let e = ProviderError::fatal("An update is in progress").with_code("ResourceConflictException");
        assert!(settling(e).is_retryable());
        let e = ProviderError::fatal("Runtime python2.7 is not supported")
            .with_code("InvalidParameterValueException");
        assert!(!settling(e).is_retryable());
    }
}
