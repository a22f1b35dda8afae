//! `rds.db_proxy`: an RDS Proxy in front of the PostgreSQL instance. It signs in to the
//! database with the database's secret (`secret_arn`, read with `role_arn`), requires TLS
//! of its clients, and pools connections in its `default` target group, whose one target
//! is `target_instance`. id = proxy name.
//!
//! Reads: DescribeDBProxies (the region's proxies, kept by ownership tags, read with
//! ListTagsForResource, or by a recorded name), then the pool and the target of each of the
//! stack's. Create waits for `available` before the pool and the target are set: RDS
//! refuses them on a proxy still `creating`. Delete waits until the proxy is gone (its
//! network interfaces leave the security group and subnets the deletes after it need).

use super::family::Api;
use crate::error::{aws_error, found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, opt_bool, owner_of, req_str, str_list, tags_prop};
use async_trait::async_trait;
use aws_sdk_rds::types::{
    AuthScheme, ClientPasswordAuthType, ConnectionPoolConfiguration, DbProxy as Live, EngineFamily,
    IamAuthMode, UserAuthConfig,
};
use aws_sdk_rds::Client;
use hactl_core::kinds::rds::DbProxy as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct DbProxy(pub Client);

const TARGET_GROUP: &str = "default";

fn outputs(p: &Live) -> BTreeMap<String, Value> {
    let arn = p.db_proxy_arn().unwrap_or_default();
    BTreeMap::from([
        ("arn".to_string(), Value::str(arn)),
        ("name".to_string(), Value::str(p.db_proxy_name().unwrap_or_default())),
        ("endpoint".to_string(), Value::str(p.endpoint().unwrap_or_default())),
        // `prx-...`, the proxy's part of an `rds-db:connect` resource.
        ("resource_id".to_string(), Value::str(arn.rsplit(':').next().unwrap_or_default())),
    ])
}

fn int(props: &Props, map: &str, key: &str) -> Option<i32> {
    props.get(map)?.as_map()?.get(key)?.as_int().and_then(|i| i32::try_from(i).ok())
}

fn auth(props: &Props) -> Result<UserAuthConfig, ProviderError> {
    Ok(UserAuthConfig::builder()
        .auth_scheme(AuthScheme::Secrets)
        .secret_arn(req_str(props, Kind::SECRET_ARN)?)
        .iam_auth(IamAuthMode::from(req_str(props, Kind::IAM_AUTH)?))
        .client_password_auth_type(ClientPasswordAuthType::PostgresScramSha256)
        .build())
}

fn pool(props: &Props) -> ConnectionPoolConfiguration {
    ConnectionPoolConfiguration::builder()
        .set_max_connections_percent(int(props, Kind::POOL, "max_connections_percent"))
        .set_max_idle_connections_percent(int(props, Kind::POOL, "max_idle_connections_percent"))
        .set_connection_borrow_timeout(int(props, Kind::POOL, "connection_borrow_timeout"))
        .build()
}

/// The proxy is being created or changed: RDS takes the next change once it is available.
fn retry_busy(mut e: ProviderError) -> ProviderError {
    if e.code() == Some("InvalidDBProxyStateFault") {
        e.make_retryable();
    }
    e
}

/// Nothing to act on: the proxy is gone.
fn is_gone(e: &ProviderError) -> bool {
    crate::error::is_not_found(e) || e.code() == Some("DBProxyNotFoundFault")
}

impl DbProxy {
    async fn all(&self) -> Result<Vec<Live>, ProviderError> {
        self.0
            .describe_db_proxies()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBProxies", e))
    }

    async fn one(&self, name: &str) -> Result<Option<Live>, ProviderError> {
        let out = self.0.describe_db_proxies().db_proxy_name(name).send().await;
        let out = found(out.map_err(|e| aws_error("DescribeDBProxies", e)))?;
        Ok(out.and_then(|o| o.db_proxies().iter().find(|p| p.db_proxy_name() == Some(name)).cloned()))
    }

    /// The pool settings of the default target group, as the `pool` property.
    async fn pool_of(&self, name: &str) -> Result<Value, ProviderError> {
        let out = self
            .0
            .describe_db_proxy_target_groups()
            .db_proxy_name(name)
            .target_group_name(TARGET_GROUP)
            .send()
            .await
            .map_err(|e| aws_error("DescribeDBProxyTargetGroups", e))?;
        let c = out.target_groups().first().and_then(|g| g.connection_pool_config());
        let int = |v: Option<i32>| v.map_or(Value::Null, |i| Value::Int(i.into()));
        Ok(Value::Map(BTreeMap::from([
            ("max_connections_percent".to_string(), int(c.and_then(|c| c.max_connections_percent()))),
            (
                "max_idle_connections_percent".to_string(),
                int(c.and_then(|c| c.max_idle_connections_percent())),
            ),
            ("connection_borrow_timeout".to_string(), int(c.and_then(|c| c.connection_borrow_timeout()))),
        ])))
    }

    /// The DB instances registered in the default target group.
    async fn instances_of(&self, name: &str) -> Result<Vec<String>, ProviderError> {
        let targets: Vec<aws_sdk_rds::types::DbProxyTarget> = self
            .0
            .describe_db_proxy_targets()
            .db_proxy_name(name)
            .target_group_name(TARGET_GROUP)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBProxyTargets", e))?;
        Ok(targets
            .iter()
            .filter(|t| t.r#type().map(|t| t.as_str()) == Some("RDS_INSTANCE"))
            .filter_map(|t| t.rds_resource_id().map(str::to_string))
            .collect())
    }

    async fn live_props(&self, p: &Live, tags: &BTreeMap<String, String>) -> Result<Props, ProviderError> {
        let name = p.db_proxy_name().unwrap_or_default();
        let a = p.auth().first();
        let instances = self.instances_of(name).await?;
        let target = match instances.as_slice() {
            [] => Value::Null,
            [one] => Value::str(one),
            many => Value::from_strings(many.iter().cloned()),
        };
        Ok(Props::from([
            (Kind::NAME.to_string(), Value::str(name)),
            (Kind::ENGINE_FAMILY.to_string(), p.engine_family().map_or(Value::Null, Value::str)),
            (Kind::ROLE_ARN.to_string(), p.role_arn().map_or(Value::Null, Value::str)),
            (Kind::SECRET_ARN.to_string(), a.and_then(|a| a.secret_arn()).map_or(Value::Null, Value::str)),
            (
                Kind::IAM_AUTH.to_string(),
                a.and_then(|a| a.iam_auth()).map_or(Value::Null, |m| Value::str(m.as_str())),
            ),
            (Kind::SUBNET_IDS.to_string(), Value::from_strings(p.vpc_subnet_ids().iter().cloned())),
            (
                Kind::SECURITY_GROUP_IDS.to_string(),
                Value::from_strings(p.vpc_security_group_ids().iter().cloned()),
            ),
            (Kind::REQUIRE_TLS.to_string(), Value::Bool(p.require_tls().unwrap_or(false))),
            (
                Kind::IDLE_CLIENT_TIMEOUT.to_string(),
                p.idle_client_timeout().map_or(Value::Null, |i| Value::Int(i.into())),
            ),
            (Kind::POOL.to_string(), self.pool_of(name).await?),
            (Kind::TARGET_INSTANCE.to_string(), target),
            (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
        ]))
    }

    async fn wait_available(&self, ctx: &Ctx, name: &str) -> Result<Live, ProviderError> {
        ctx.wait_for(&format!("DB proxy {name} to be available"), || async {
            Ok(self.one(name).await?.filter(|p| p.status().map(|s| s.as_str()) == Some("available")))
        })
        .await
    }

    async fn set_pool(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        self.0
            .modify_db_proxy_target_group()
            .db_proxy_name(name)
            .target_group_name(TARGET_GROUP)
            .connection_pool_config(pool(props))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_busy(aws_error("ModifyDBProxyTargetGroup", e)))
    }

    /// Registers the desired instance and deregisters any other.
    async fn set_target(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let want = crate::util::opt_str(props, Kind::TARGET_INSTANCE).map(str::to_string);
        let have = self.instances_of(name).await?;
        let stale: Vec<String> = have.iter().filter(|i| Some(*i) != want.as_ref()).cloned().collect();
        if !stale.is_empty() {
            self.0
                .deregister_db_proxy_targets()
                .db_proxy_name(name)
                .target_group_name(TARGET_GROUP)
                .set_db_instance_identifiers(Some(stale))
                .send()
                .await
                .map_err(|e| retry_busy(aws_error("DeregisterDBProxyTargets", e)))?;
        }
        if let Some(instance) = want.filter(|w| !have.contains(w)) {
            self.0
                .register_db_proxy_targets()
                .db_proxy_name(name)
                .target_group_name(TARGET_GROUP)
                .db_instance_identifiers(instance)
                .send()
                .await
                // The instance is still being created or modified: RDS refuses until it is
                // available.
                .map_err(|e| {
                    let mut err = retry_busy(retry_not_found(aws_error("RegisterDBProxyTargets", e)));
                    if err.code() == Some("InvalidDBInstanceState") {
                        err.make_retryable();
                    }
                    err
                })?;
        }
        Ok(())
    }

    async fn modify(&self, name: &str, props: &Props, which: &BTreeSet<&str>) -> Result<(), ProviderError> {
        let proxy_keys = [Kind::ROLE_ARN, Kind::SECRET_ARN, Kind::IAM_AUTH, Kind::SECURITY_GROUP_IDS];
        let more_keys = [Kind::REQUIRE_TLS, Kind::IDLE_CLIENT_TIMEOUT];
        if !proxy_keys.iter().chain(&more_keys).any(|k| which.contains(k)) {
            return Ok(());
        }
        self.0
            .modify_db_proxy()
            .db_proxy_name(name)
            .auth(auth(props)?)
            .role_arn(req_str(props, Kind::ROLE_ARN)?)
            .set_security_groups(Some(str_list(props, Kind::SECURITY_GROUP_IDS)))
            .set_require_tls(opt_bool(props, Kind::REQUIRE_TLS))
            .set_idle_client_timeout(crate::util::opt_i32(props, Kind::IDLE_CLIENT_TIMEOUT))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_busy(retry_not_found(aws_error("ModifyDBProxy", e))))
    }
}

#[async_trait]
impl Provider for DbProxy {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let recorded: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let mut out = Vec::new();
        for p in self.all().await? {
            let (Some(name), Some(arn)) = (p.db_proxy_name(), p.db_proxy_arn()) else { continue };
            if p.status().is_some_and(|s| s.as_str() == "deleting") {
                continue;
            }
            let tags = self.0.list_tags(arn).await?;
            let (owned, address) = owner_of(&ctx.stack, &tags);
            if !owned && !recorded.contains(name) {
                continue;
            }
            let address = address.or_else(|| {
                targets.iter().find(|t| t.id.as_deref() == Some(name)).map(|t| t.address.clone())
            });
            let props = self.live_props(&p, &tags).await?;
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(&p), owned });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let created = self
            .0
            .create_db_proxy()
            .db_proxy_name(name)
            .engine_family(EngineFamily::from(req_str(props, Kind::ENGINE_FAMILY)?))
            .auth(auth(props)?)
            .role_arn(req_str(props, Kind::ROLE_ARN)?)
            .set_vpc_subnet_ids(Some(str_list(props, Kind::SUBNET_IDS)))
            .set_vpc_security_group_ids(Some(str_list(props, Kind::SECURITY_GROUP_IDS)))
            .set_require_tls(opt_bool(props, Kind::REQUIRE_TLS))
            .set_idle_client_timeout(crate::util::opt_i32(props, Kind::IDLE_CLIENT_TIMEOUT))
            .set_tags(Some(super::tags_of(props)))
            .send()
            .await
            // A role just created may not be assumable by RDS yet.
            .map_err(|e| {
                let mut err = retry_not_found(aws_error("CreateDBProxy", e));
                if err.message().contains("role") && err.code() == Some("InvalidParameterValue") {
                    err.make_retryable();
                }
                err
            });
        match created {
            Ok(_) => {}
            // A retried create, or someone else's proxy of that name.
            Err(e) if e.code() == Some("DBProxyAlreadyExistsFault") => {
                let p = self.one(name).await?.ok_or(e)?;
                let tags = self.0.list_tags(p.db_proxy_arn().unwrap_or_default()).await?;
                ensure_ours(ctx, address, &tags, &format!("DB proxy `{name}`"), "DBProxyAlreadyExistsFault")?;
                // A proxy still being created takes no change yet.
                self.wait_available(ctx, name).await?;
                let all: BTreeSet<&str> = Kind::SCHEMA.props.iter().map(|p| p.name).collect();
                self.modify(name, props, &all).await?;
            }
            Err(e) => return Err(e),
        }
        self.wait_available(ctx, name).await?;
        self.set_pool(name, props).await?;
        self.set_target(name, props).await?;
        let p = self.wait_available(ctx, name).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(&p) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut which = BTreeSet::new();
        for c in req.changes {
            match c.name.as_str() {
                Kind::TAGS => {
                    let arn = self
                        .one(req.id)
                        .await?
                        .and_then(|p| p.db_proxy_arn().map(str::to_string))
                        .ok_or_else(|| ProviderError::fatal(format!("DB proxy {} is gone", req.id)))?;
                    self.0.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?;
                }
                Kind::ROLE_ARN
                | Kind::SECRET_ARN
                | Kind::IAM_AUTH
                | Kind::SECURITY_GROUP_IDS
                | Kind::REQUIRE_TLS
                | Kind::IDLE_CLIENT_TIMEOUT
                | Kind::POOL
                | Kind::TARGET_INSTANCE => {
                    which.insert(c.name.as_str());
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "rds.db_proxy cannot update `{other}` in place"
                    )))
                }
            }
        }
        self.modify(req.id, req.desired, &which).await?;
        // ModifyDBProxy leaves the proxy `modifying` for a while.
        self.wait_available(ctx, req.id).await?;
        if which.contains(Kind::POOL) {
            self.set_pool(req.id, req.desired).await?;
        }
        if which.contains(Kind::TARGET_INSTANCE) {
            self.set_target(req.id, req.desired).await?;
        }
        let p = self.wait_available(ctx, req.id).await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&p) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let r = self
            .0
            .delete_db_proxy()
            .db_proxy_name(id)
            .send()
            .await
            .map_err(|e| aws_error("DeleteDBProxy", e));
        match r {
            Ok(_) => {}
            Err(e) if is_gone(&e) => return Ok(()),
            // Still being created or modified: the engine tries again.
            Err(mut e) if e.code() == Some("InvalidDBProxyStateFault") => {
                e.make_retryable();
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        ctx.wait_for(&format!("DB proxy {id} to be deleted"), || async {
            Ok(self.one(id).await?.is_none().then_some(()))
        })
        .await
    }
}
