//! `opensearch.domain`: an OpenSearch Service domain reachable inside the VPC only, with
//! encryption at rest, node-to-node TLS, HTTPS only and fine-grained access control (its
//! master user's name and password in a Secrets Manager secret). id = the domain's name.
//!
//! Read: ListDomainNames (EngineType OpenSearch) → the names `<stack>-...` a target names
//! or state records → DescribeDomains (up to 5 names a call) → tags from the stack's tag
//! index ([`crate::tagging`]; ListTags only where the index lookup asks). A domain being
//! deleted is gone.
//!
//! Create reads the master user's secret (GetSecretValue) and hands name and password to
//! CreateDomain, never keeping them; it then waits until the domain has finished
//! processing and has its VPC endpoint (15 to 30 minutes on AWS). Update sends the changed
//! parts in one UpdateDomainConfig and waits likewise; delete waits until the domain is
//! gone.

use crate::error::{aws_error, found, ignore_not_found, is_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::tags::Tagger;
use crate::util::{
    db_wait, ensure_ours, match_target, opt_bool, opt_str, owner_of, req_str, str_list, tag_map, tags_prop,
};
use async_trait::async_trait;
use aws_sdk_opensearch::types::{
    AdvancedSecurityOptionsInput, ClusterConfig, DomainEndpointOptions, DomainStatus, EbsOptions,
    EncryptionAtRestOptions, EngineType, MasterUserOptions, NodeToNodeEncryptionOptions,
    OpenSearchPartitionInstanceType, Tag, TlsSecurityPolicy, VolumeType, VpcOptions, ZoneAwarenessConfig,
};
use aws_sdk_opensearch::Client;
use hactl_core::kinds::opensearch::Domain as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Domain {
    pub client: Client,
    pub sm: aws_sdk_secretsmanager::Client,
    pub tagging: crate::tagging::Tagging,
}

/// DescribeDomains takes at most this many names a call.
const DESCRIBE_BATCH: usize = 5;

fn outputs(d: &DomainStatus) -> BTreeMap<String, Value> {
    let endpoint = d
        .endpoints()
        .and_then(|e| e.get("vpc"))
        .map(String::as_str)
        .or_else(|| d.endpoint())
        .map_or(Value::Null, Value::str);
    BTreeMap::from([
        ("arn".to_string(), Value::str(d.arn())),
        ("name".to_string(), Value::str(d.domain_name())),
        ("domain_id".to_string(), Value::str(d.domain_id())),
        ("endpoint".to_string(), endpoint),
    ])
}

fn map_of(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn int(v: Option<i32>) -> Value {
    v.map_or(Value::Null, |n| Value::Int(i64::from(n)))
}

fn field<'a>(props: &'a Props, prop: &str, key: &str) -> Option<&'a Value> {
    props.get(prop).and_then(Value::as_map).and_then(|m| m.get(key))
}

/// A live domain as the properties write it.
fn live_props(d: &DomainStatus, tags: &BTreeMap<String, String>) -> Result<Props, ProviderError> {
    let c = d.cluster_config();
    let cluster = map_of(vec![
        ("instance_type", c.and_then(|c| c.instance_type()).map_or(Value::Null, |t| Value::str(t.as_str()))),
        ("instance_count", int(c.and_then(ClusterConfig::instance_count))),
        ("zone_awareness", Value::Bool(c.and_then(ClusterConfig::zone_awareness_enabled).unwrap_or(false))),
        (
            "availability_zone_count",
            int(c
                .and_then(|c| c.zone_awareness_config())
                .and_then(ZoneAwarenessConfig::availability_zone_count)),
        ),
    ]);
    let e = d.ebs_options();
    let ebs = map_of(vec![
        ("volume_type", e.and_then(|e| e.volume_type()).map_or(Value::Null, |t| Value::str(t.as_str()))),
        ("volume_size", int(e.and_then(EbsOptions::volume_size))),
    ]);
    let vpc = d.vpc_options();
    let at_rest = d.encryption_at_rest_options();
    let endpoint = d.domain_endpoint_options();
    let policies = match d.access_policies().filter(|p| !p.trim().is_empty()) {
        Some(p) => {
            let json: serde_json::Value = serde_json::from_str(p).map_err(|e| {
                ProviderError::fatal(format!(
                    "domain {} has an access policy that is not JSON: {e}",
                    d.domain_name()
                ))
            })?;
            Value::from_json(&json)
        }
        None => Value::Null,
    };
    Ok(Props::from([
        (Kind::NAME.to_string(), Value::str(d.domain_name())),
        (Kind::ENGINE_VERSION.to_string(), d.engine_version().map_or(Value::Null, Value::str)),
        (Kind::CLUSTER_CONFIG.to_string(), cluster),
        (Kind::EBS.to_string(), ebs),
        (Kind::SUBNET_IDS.to_string(), Value::from_strings(vpc.map(|v| v.subnet_ids()).unwrap_or_default())),
        (
            Kind::SECURITY_GROUP_IDS.to_string(),
            Value::from_strings(vpc.map(|v| v.security_group_ids()).unwrap_or_default()),
        ),
        (
            Kind::ENCRYPTION_AT_REST.to_string(),
            Value::Bool(at_rest.and_then(|a| a.enabled()).unwrap_or(false)),
        ),
        (Kind::KMS_KEY_ID.to_string(), at_rest.and_then(|a| a.kms_key_id()).map_or(Value::Null, Value::str)),
        (
            Kind::NODE_TO_NODE_ENCRYPTION.to_string(),
            Value::Bool(d.node_to_node_encryption_options().and_then(|n| n.enabled()).unwrap_or(false)),
        ),
        (
            Kind::ENFORCE_HTTPS.to_string(),
            Value::Bool(endpoint.and_then(|e| e.enforce_https()).unwrap_or(false)),
        ),
        (
            Kind::TLS_SECURITY_POLICY.to_string(),
            endpoint.and_then(|e| e.tls_security_policy()).map_or(Value::Null, |t| Value::str(t.as_str())),
        ),
        (
            Kind::FINE_GRAINED_ACCESS.to_string(),
            Value::Bool(d.advanced_security_options().and_then(|a| a.enabled()).unwrap_or(false)),
        ),
        (Kind::ACCESS_POLICIES.to_string(), policies),
        (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
    ]))
}

fn cluster_config(props: &Props) -> Result<ClusterConfig, ProviderError> {
    let f = |k| field(props, Kind::CLUSTER_CONFIG, k);
    let instance_type = f("instance_type")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::fatal("`cluster_config.instance_type` is missing"))?;
    let count = f("instance_count").and_then(Value::as_int).and_then(|n| i32::try_from(n).ok());
    let zones = f("availability_zone_count").and_then(Value::as_int).and_then(|n| i32::try_from(n).ok());
    let aware = f("zone_awareness").and_then(Value::as_bool).unwrap_or(false);
    Ok(ClusterConfig::builder()
        .instance_type(OpenSearchPartitionInstanceType::from(instance_type))
        .set_instance_count(count)
        .dedicated_master_enabled(false)
        .zone_awareness_enabled(aware)
        .set_zone_awareness_config(
            aware.then(|| ZoneAwarenessConfig::builder().set_availability_zone_count(zones).build()),
        )
        .build())
}

fn ebs_options(props: &Props) -> EbsOptions {
    let f = |k| field(props, Kind::EBS, k);
    EbsOptions::builder()
        .ebs_enabled(true)
        .volume_type(VolumeType::from(f("volume_type").and_then(Value::as_str).unwrap_or("gp3")))
        .set_volume_size(f("volume_size").and_then(Value::as_int).and_then(|n| i32::try_from(n).ok()))
        .build()
}

fn vpc_options(props: &Props) -> VpcOptions {
    VpcOptions::builder()
        .set_subnet_ids(Some(str_list(props, Kind::SUBNET_IDS)))
        .set_security_group_ids(Some(str_list(props, Kind::SECURITY_GROUP_IDS)))
        .build()
}

fn endpoint_options(props: &Props) -> DomainEndpointOptions {
    DomainEndpointOptions::builder()
        .enforce_https(opt_bool(props, Kind::ENFORCE_HTTPS).unwrap_or(true))
        .set_tls_security_policy(opt_str(props, Kind::TLS_SECURITY_POLICY).map(TlsSecurityPolicy::from))
        .build()
}

fn access_policies(props: &Props) -> Option<String> {
    props.get(Kind::ACCESS_POLICIES).filter(|p| p.as_map().is_some()).map(|p| p.to_json().to_string())
}

fn tag_list(tags: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::fatal(format!("OpenSearch tag: {e}")))
        })
        .collect()
}

/// OpenSearch's tag calls (domains, by ARN): AddTags, RemoveTags.
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.add_tags().arn(arn).set_tag_list(Some(tag_list(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("AddTags", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let out = self.remove_tags().arn(arn).set_tag_keys(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("RemoveTags", e)))
    }
}

/// The master user's name and password, read from its secret.
async fn master_user(
    sm: &aws_sdk_secretsmanager::Client,
    secret: &str,
) -> Result<MasterUserOptions, ProviderError> {
    let out = sm
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| retry_not_found(aws_error("GetSecretValue", e)))?;
    let parsed: serde_json::Value = out
        .secret_string()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| ProviderError::fatal(format!("secret {secret} does not hold a JSON object")))?;
    let (Some(user), Some(password)) = (
        parsed.get("username").and_then(serde_json::Value::as_str),
        parsed.get("password").and_then(serde_json::Value::as_str),
    ) else {
        return Err(ProviderError::fatal(format!("secret {secret} lacks `username` or `password`")));
    };
    Ok(MasterUserOptions::builder().master_user_name(user).master_user_password(password).build())
}

impl Domain {
    /// The names of the account's OpenSearch domains in the region.
    async fn names(&self) -> Result<Vec<String>, ProviderError> {
        let out = self.client.list_domain_names().engine_type(EngineType::OpenSearch).send().await;
        let out = out.map_err(|e| aws_error("ListDomainNames", e))?;
        Ok(out.domain_names().iter().filter_map(|d| d.domain_name().map(str::to_string)).collect())
    }

    /// The domains of `names` that exist and are not being deleted.
    async fn describe(&self, names: &[String]) -> Result<Vec<DomainStatus>, ProviderError> {
        let mut out = Vec::new();
        for chunk in names.chunks(DESCRIBE_BATCH) {
            let answer = self.client.describe_domains().set_domain_names(Some(chunk.to_vec())).send().await;
            let answer = answer.map_err(|e| aws_error("DescribeDomains", e))?;
            out.extend(answer.domain_status_list().iter().filter(|d| d.deleted() != Some(true)).cloned());
        }
        Ok(out)
    }

    async fn one(&self, name: &str) -> Result<Option<DomainStatus>, ProviderError> {
        Ok(self.describe(&[name.to_string()]).await?.into_iter().find(|d| d.domain_name() == name))
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self.client.list_tags().arn(arn).send().await;
        let out = out.map_err(|e| retry_not_found(aws_error("ListTags", e)))?;
        Ok(out.tag_list().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }

    /// Waits until the domain has finished processing a change (and, once created, has
    /// its VPC endpoint); answers it then.
    async fn wait_ready(&self, ctx: &Ctx, name: &str) -> Result<DomainStatus, ProviderError> {
        db_wait(ctx)
            .wait_for(&format!("OpenSearch domain {name} to finish processing"), || async move {
                let Some(d) = self.one(name).await? else {
                    return Err(ProviderError::retryable(format!("OpenSearch domain {name} not found")));
                };
                let ready = d.created() != Some(false)
                    && d.processing() != Some(true)
                    && (d.endpoints().is_some_and(|e| e.contains_key("vpc")) || d.endpoint().is_some());
                Ok(ready.then_some(d))
            })
            .await
    }
}

#[async_trait]
impl Provider for Domain {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::NAME])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        let (names, index) = futures::try_join!(self.names(), self.tagging.index(ctx))?;
        let wanted: Vec<String> = names
            .into_iter()
            .filter(|n| n.starts_with(&prefix) || targets.iter().any(|t| t.id.as_deref() == Some(n.as_str())))
            .collect();
        let mut out = Vec::new();
        for d in self.describe(&wanted).await? {
            let name = d.domain_name();
            let record = targets.iter().find(|t| t.id.as_deref() == Some(name));
            let named = match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(name));
            let ask = || async { found(self.tags(d.arn()).await) };
            let Some(tags) = index.tags(d.arn(), Known::of(record, named.is_some()), ask).await? else {
                continue;
            };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if address.is_none() && !tags.contains_key(TAG_STACK) {
                address = named.cloned();
            }
            if !owned && address.is_none() && record.is_none() {
                continue;
            }
            let props = live_props(&d, &tags)?;
            out.push(LiveObject { id: name.to_string(), address, props, outputs: outputs(&d), owned });
        }
        Ok(out)
    }

    /// The master user (create-only, never readable) is the recorded one; the access
    /// policy compares as a document (its whitespace and key order are AWS's).
    fn normalize(&self, desired: &Props, live: &mut Props) {
        if let Some(v) = desired.get(Kind::MASTER_USER_SECRET_ARN) {
            live.insert(Kind::MASTER_USER_SECRET_ARN.to_string(), v.clone());
        }
        // The AWS managed key (`aws/es`) when none is given: AWS answers its ARN.
        if matches!(desired.get(Kind::KMS_KEY_ID), Some(Value::Null)) {
            live.insert(Kind::KMS_KEY_ID.to_string(), Value::Null);
        }
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        // CreateDomain refuses a taken name: a domain of this stack at this address (a
        // create retried after a crash) is converged, any other refused.
        if let Some(d) = self.one(name).await? {
            let tags = self.tags(d.arn()).await?;
            ensure_ours(
                ctx,
                address,
                &tags,
                &format!("OpenSearch domain `{name}`"),
                "ResourceAlreadyExistsException",
            )?;
            self.client.converge_tags(d.arn(), &tags, props).await?;
            let d = self.wait_ready(ctx, name).await?;
            return Ok(Applied { id: name.to_string(), outputs: outputs(&d) });
        }
        let secret = req_str(props, Kind::MASTER_USER_SECRET_ARN)?;
        let security = AdvancedSecurityOptionsInput::builder()
            .enabled(opt_bool(props, Kind::FINE_GRAINED_ACCESS).unwrap_or(true))
            .internal_user_database_enabled(true)
            .master_user_options(master_user(&self.sm, secret).await?)
            .build();
        self.client
            .create_domain()
            .domain_name(name)
            .set_engine_version(opt_str(props, Kind::ENGINE_VERSION).map(str::to_string))
            .cluster_config(cluster_config(props)?)
            .ebs_options(ebs_options(props))
            .vpc_options(vpc_options(props))
            .encryption_at_rest_options(
                EncryptionAtRestOptions::builder()
                    .enabled(opt_bool(props, Kind::ENCRYPTION_AT_REST).unwrap_or(true))
                    .set_kms_key_id(opt_str(props, Kind::KMS_KEY_ID).map(str::to_string))
                    .build(),
            )
            .node_to_node_encryption_options(
                NodeToNodeEncryptionOptions::builder()
                    .enabled(opt_bool(props, Kind::NODE_TO_NODE_ENCRYPTION).unwrap_or(true))
                    .build(),
            )
            .domain_endpoint_options(endpoint_options(props))
            .advanced_security_options(security)
            .set_access_policies(access_policies(props))
            .set_tag_list(Some(tag_list(tag_map(props))?))
            .send()
            .await
            .map_err(|e| aws_error("CreateDomain", e))?;
        let d = self.wait_ready(ctx, name).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(&d) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let has = |n: &str| req.changes.iter().any(|c| c.name == n);
        let p = req.desired;
        if [Kind::CLUSTER_CONFIG, Kind::EBS, Kind::SUBNET_IDS, Kind::SECURITY_GROUP_IDS, Kind::ENFORCE_HTTPS]
            .iter()
            .chain(&[Kind::TLS_SECURITY_POLICY, Kind::ACCESS_POLICIES])
            .any(|n| has(n))
        {
            let mut r = self.client.update_domain_config().domain_name(req.id);
            if has(Kind::CLUSTER_CONFIG) {
                r = r.cluster_config(cluster_config(p)?);
            }
            if has(Kind::EBS) {
                r = r.ebs_options(ebs_options(p));
            }
            if has(Kind::SUBNET_IDS) || has(Kind::SECURITY_GROUP_IDS) {
                r = r.vpc_options(vpc_options(p));
            }
            if has(Kind::ENFORCE_HTTPS) || has(Kind::TLS_SECURITY_POLICY) {
                r = r.domain_endpoint_options(endpoint_options(p));
            }
            if has(Kind::ACCESS_POLICIES) {
                r = r.access_policies(access_policies(p).unwrap_or_default());
            }
            r.send().await.map_err(|e| retry_not_found(aws_error("UpdateDomainConfig", e)))?;
        }
        let d = self.wait_ready(ctx, req.id).await?;
        for c in req.changes {
            match c.name.as_str() {
                n if n == Kind::TAGS => {
                    self.client.sync_tags(d.arn(), c.before.as_ref(), c.after.as_ref()).await?
                }
                n if [Kind::CLUSTER_CONFIG, Kind::EBS, Kind::SUBNET_IDS, Kind::SECURITY_GROUP_IDS]
                    .contains(&n) => {}
                n if [Kind::ENFORCE_HTTPS, Kind::TLS_SECURITY_POLICY, Kind::ACCESS_POLICIES].contains(&n) => {
                }
                other => {
                    return Err(ProviderError::fatal(format!(
                        "opensearch.domain cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&d) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let out = self.client.delete_domain().domain_name(id).send().await;
        match out.map_err(|e| aws_error("DeleteDomain", e)) {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
        db_wait(ctx)
            .wait_for(&format!("OpenSearch domain {id} to be deleted"), || async move {
                Ok(self.one(id).await?.is_none().then_some(()))
            })
            .await
            .map(drop)
            .or_else(|e| ignore_not_found(Err(e)))
    }
}
