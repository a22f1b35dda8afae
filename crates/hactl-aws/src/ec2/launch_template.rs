//! `ec2.launch_template`: the launch template of the ECS container instances (EC2 launch
//! type). IMDSv2 through `metadata_options`, no public address (a network interface spec
//! carrying the security groups), user data base64 on the wire, and an encrypted root
//! volume (`root_volume`: device name, size in GiB, volume type, `encrypted`; with no KMS
//! key the account's default EBS key encrypts it). `image_id` may be
//! `resolve:ssm:<parameter>`: resolved with SSM GetParameter at create/update. Read
//! reports the live AMI, and for a target asking for `resolve:ssm:<parameter>` also what
//! the parameter resolves to now (under [`RESOLVED`]); `normalize` reads the AMI back as
//! `resolve:ssm:<parameter>` while the two are equal.
//! A change creates a new version and makes it the default; the auto scaling group uses
//! `$Latest`, so instances launched afterwards get it.

use super::{describe_all, ids_filter, output, ownership, stack_filter, tag_spec, tags_value};
use crate::error::{aws_error, found, ignore_not_found, is_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{client_token, opt_bool, opt_str, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_ec2::types::{
    InstanceType, LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest, RequestLaunchTemplateData, ResourceType,
    ResponseLaunchTemplateData, VolumeType,
};
use hactl_core::kinds::ec2::LaunchTemplate as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct LaunchTemplate {
    pub ec2: aws_sdk_ec2::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl LaunchTemplate {
    /// The provider with an SSM client built from `config` (for `resolve:ssm:` images).
    pub fn new(
        ec2: aws_sdk_ec2::Client,
        config: &aws_config::SdkConfig,
        counter: &crate::ApiCounter,
    ) -> Self {
        LaunchTemplate { ec2, ssm: crate::client!(aws_sdk_ssm, config, counter) }
    }
}

const SSM_PREFIX: &str = "resolve:ssm:";

/// A live entry beside the properties (no property name has a `:`): the AMI each SSM
/// parameter a target's `image_id` names resolves to now, `{parameter: ami}`.
const RESOLVED: &str = "resolve:ssm";

/// The `RESOLVED` entry of one parameter.
fn resolved_entry(param: &str, ami: &str) -> Value {
    Value::Map(BTreeMap::from([(param.to_string(), Value::str(ami))]))
}

fn outputs(name: &str, latest_version: i64) -> BTreeMap<String, Value> {
    let mut o = output("name", name);
    o.insert("latest_version".into(), Value::Int(latest_version));
    o
}

/// The live template data in the shape of the desired properties (without `name`,
/// `image_id` and `tags`, which come from elsewhere).
fn data_props(d: &ResponseLaunchTemplateData) -> Props {
    let mut p = Props::new();
    p.insert(
        Kind::INSTANCE_TYPE.into(),
        d.instance_type().map(|t| Value::str(t.as_str())).unwrap_or(Value::Null),
    );
    p.insert(
        Kind::INSTANCE_PROFILE_ARN.into(),
        d.iam_instance_profile().and_then(|i| i.arn()).map(Value::str).unwrap_or(Value::Null),
    );
    // The groups ride on the network interface spec when there is one.
    let (groups, public_ip) = match d.network_interfaces().iter().find(|n| n.device_index().unwrap_or(0) == 0)
    {
        Some(ni) => {
            (ni.groups().to_vec(), ni.associate_public_ip_address().map(Value::Bool).unwrap_or(Value::Null))
        }
        None => (d.security_group_ids().to_vec(), Value::Null),
    };
    p.insert(Kind::SECURITY_GROUP_IDS.into(), Value::from_strings(groups));
    p.insert(Kind::ASSOCIATE_PUBLIC_IP_ADDRESS.into(), public_ip);
    let user_data = d
        .user_data()
        .filter(|u| !u.is_empty())
        .map(|u| match aws_smithy_types::base64::decode(u) {
            Ok(bytes) => Value::Str(String::from_utf8_lossy(&bytes).into_owned()),
            // Not base64: report it raw, it will differ from the desired text.
            Err(_) => Value::str(u),
        })
        .unwrap_or(Value::Null);
    p.insert(Kind::USER_DATA.into(), user_data);
    let metadata = d
        .metadata_options()
        .map(|m| {
            let mut o = BTreeMap::new();
            if let Some(t) = m.http_tokens() {
                o.insert("http_tokens".to_string(), Value::str(t.as_str()));
            }
            if let Some(h) = m.http_put_response_hop_limit() {
                o.insert("http_put_response_hop_limit".to_string(), Value::Int(h.into()));
            }
            if let Some(e) = m.http_endpoint() {
                o.insert("http_endpoint".to_string(), Value::str(e.as_str()));
            }
            Value::Map(o)
        })
        .unwrap_or(Value::Null);
    p.insert(Kind::METADATA_OPTIONS.into(), metadata);
    // The first mapping with an EBS volume (hactl writes one: the root volume).
    let root = d
        .block_device_mappings()
        .iter()
        .find_map(|m| {
            let ebs = m.ebs()?;
            let mut o = BTreeMap::new();
            o.insert("device_name".to_string(), m.device_name().map(Value::str).unwrap_or(Value::Null));
            o.insert(
                "volume_size".to_string(),
                ebs.volume_size().map(|v| Value::Int(v.into())).unwrap_or(Value::Null),
            );
            o.insert(
                "volume_type".to_string(),
                ebs.volume_type().map(|t| Value::str(t.as_str())).unwrap_or(Value::Null),
            );
            o.insert("encrypted".to_string(), Value::Bool(ebs.encrypted().unwrap_or(false)));
            Some(Value::Map(o))
        })
        .unwrap_or(Value::Null);
    p.insert(Kind::ROOT_VOLUME.into(), root);
    p
}

/// The block device mapping of the `root_volume` property (deleted with the instance).
fn root_volume(props: &Props) -> Result<Option<LaunchTemplateBlockDeviceMappingRequest>, ProviderError> {
    let Some(m) = props.get(Kind::ROOT_VOLUME).and_then(Value::as_map) else { return Ok(None) };
    let device = m
        .get("device_name")
        .and_then(Value::as_str)
        .ok_or_else(|| ProviderError::fatal("root_volume without device_name"))?;
    let size = match m.get("volume_size").and_then(Value::as_int) {
        Some(v) => Some(
            i32::try_from(v)
                .map_err(|_| ProviderError::fatal(format!("root volume size {v} is out of range")))?,
        ),
        None => None,
    };
    let ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
        .encrypted(m.get("encrypted").and_then(Value::as_bool).unwrap_or(false))
        .set_volume_size(size)
        .set_volume_type(m.get("volume_type").and_then(Value::as_str).map(VolumeType::from))
        .delete_on_termination(true)
        .build();
    Ok(Some(LaunchTemplateBlockDeviceMappingRequest::builder().device_name(device).ebs(ebs).build()))
}

impl LaunchTemplate {
    /// The AMI id for an `image_id` property value (`ami-...` or `resolve:ssm:<name>`).
    async fn resolve_image(&self, image: &str) -> Result<String, ProviderError> {
        let Some(param) = image.strip_prefix(SSM_PREFIX) else { return Ok(image.to_string()) };
        let out =
            self.ssm.get_parameter().name(param).send().await.map_err(|e| aws_error("GetParameter", e))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::fatal(format!("SSM parameter {param} has no value")))
    }

    /// What the SSM parameter resolves to now (`None`: no such parameter), asked once per
    /// read (`cache`).
    async fn resolve_cached(
        &self,
        param: &str,
        cache: &mut BTreeMap<String, Option<String>>,
    ) -> Result<Option<String>, ProviderError> {
        if let Some(v) = cache.get(param) {
            return Ok(v.clone());
        }
        let value = match self.resolve_image(&format!("{SSM_PREFIX}{param}")).await {
            Ok(ami) => Some(ami),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e),
        };
        cache.insert(param.to_string(), value.clone());
        Ok(value)
    }

    async fn template_data(&self, props: &Props) -> Result<RequestLaunchTemplateData, ProviderError> {
        let image = self.resolve_image(req_str(props, Kind::IMAGE_ID)?).await?;
        let groups = str_list(props, Kind::SECURITY_GROUP_IDS);
        let mut d = RequestLaunchTemplateData::builder()
            .image_id(image)
            .instance_type(InstanceType::from(req_str(props, Kind::INSTANCE_TYPE)?));
        if let Some(arn) = opt_str(props, Kind::INSTANCE_PROFILE_ARN) {
            d = d.iam_instance_profile(
                LaunchTemplateIamInstanceProfileSpecificationRequest::builder().arn(arn).build(),
            );
        }
        if let Some(u) = opt_str(props, Kind::USER_DATA).filter(|u| !u.is_empty()) {
            d = d.user_data(aws_smithy_types::base64::encode(u.as_bytes()));
        }
        if let Some(m) = props.get(Kind::METADATA_OPTIONS).and_then(Value::as_map) {
            let mut o = LaunchTemplateInstanceMetadataOptionsRequest::builder();
            if let Some(t) = m.get("http_tokens").and_then(Value::as_str) {
                o = o.http_tokens(LaunchTemplateHttpTokensState::from(t));
            }
            if let Some(h) = m.get("http_put_response_hop_limit").and_then(Value::as_int) {
                let h = i32::try_from(h).map_err(|_| {
                    ProviderError::fatal(format!("http_put_response_hop_limit {h} is out of range"))
                })?;
                o = o.http_put_response_hop_limit(h);
            }
            if let Some(e) = m.get("http_endpoint").and_then(Value::as_str) {
                o = o.http_endpoint(LaunchTemplateInstanceMetadataEndpointState::from(e));
            }
            d = d.metadata_options(o.build());
        }
        if let Some(m) = root_volume(props)? {
            d = d.block_device_mappings(m);
        }
        match opt_bool(props, Kind::ASSOCIATE_PUBLIC_IP_ADDRESS) {
            // A network interface spec (no subnet: the auto scaling group picks it) with the
            // groups; the groups cannot also be given at the top level then.
            Some(public) => {
                d = d.network_interfaces(
                    LaunchTemplateInstanceNetworkInterfaceSpecificationRequest::builder()
                        .device_index(0)
                        .associate_public_ip_address(public)
                        .delete_on_termination(true)
                        .set_groups(Some(groups))
                        .build(),
                )
            }
            None => d = d.set_security_group_ids(Some(groups)),
        }
        Ok(d.build())
    }

    /// The template with this name, if any: (id, tags as the `tags` property, owned, address).
    async fn by_name(
        &self,
        ctx: &Ctx,
        name: &str,
    ) -> Result<Option<(String, Value, bool, Option<Address>)>, ProviderError> {
        let c = &self.ec2;
        let found: Vec<aws_sdk_ec2::types::LaunchTemplate> = describe_all!(
            c,
            describe_launch_templates,
            filters,
            ids_filter("launch-template-name", &[name.to_string()]),
            "DescribeLaunchTemplates"
        )?;
        Ok(found.into_iter().find(|t| t.launch_template_name() == Some(name)).and_then(|t| {
            let (owned, address) = ownership(&ctx.stack, t.tags());
            Some((t.launch_template_id()?.to_string(), tags_value(t.tags()), owned, address))
        }))
    }

    /// A new version with the full desired data, made the default. Returns its number.
    async fn new_version(&self, id: &str, props: &Props) -> Result<i64, ProviderError> {
        let data = self.template_data(props).await?;
        let out = self
            .ec2
            .create_launch_template_version()
            .launch_template_id(id)
            .launch_template_data(data)
            .send()
            .await
            .map_err(|e| retry_not_found(aws_error("CreateLaunchTemplateVersion", e)))?;
        let version = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| ProviderError::fatal("CreateLaunchTemplateVersion returned no version"))?;
        self.ec2
            .modify_launch_template()
            .launch_template_id(id)
            .default_version(version.to_string())
            .send()
            .await
            .map_err(|e| aws_error("ModifyLaunchTemplate", e))?;
        Ok(version)
    }
}

#[async_trait]
impl Provider for LaunchTemplate {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// `image_id` `resolve:ssm:<parameter>` stands for the live AMI while the parameter
    /// resolves to it (read reports both); the [`RESOLVED`] entry is dropped either way.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        let resolved = live.remove(RESOLVED);
        let Some(wanted) = desired.get(Kind::IMAGE_ID).and_then(Value::as_str) else { return };
        let Some(param) = wanted.strip_prefix(SSM_PREFIX) else { return };
        let current = resolved.as_ref().and_then(Value::as_map).and_then(|m| m.get(param));
        if current.is_some() && current == live.get(Kind::IMAGE_ID) {
            live.insert(Kind::IMAGE_ID.into(), Value::str(wanted));
        }
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let c = &self.ec2;
        let mut templates: Vec<aws_sdk_ec2::types::LaunchTemplate> = describe_all!(
            c,
            describe_launch_templates,
            filters,
            stack_filter(&ctx.stack),
            "DescribeLaunchTemplates"
        )?;
        // Recorded templates that lost the stack tag: found by name (a filter never fails
        // on a template that is gone, as LaunchTemplateIds would).
        let have: BTreeSet<String> =
            templates.iter().filter_map(|t| t.launch_template_id().map(str::to_string)).collect();
        let missing: Vec<&ReadTarget> =
            targets.iter().filter(|t| t.id.as_ref().is_some_and(|id| !have.contains(id))).collect();
        let names: Vec<String> =
            missing.iter().filter_map(|t| opt_str(&t.props, Kind::NAME).map(str::to_string)).collect();
        if !names.is_empty() {
            let wanted: BTreeSet<&str> = missing.iter().filter_map(|t| t.id.as_deref()).collect();
            let more: Vec<aws_sdk_ec2::types::LaunchTemplate> = describe_all!(
                c,
                describe_launch_templates,
                filters,
                ids_filter("launch-template-name", &names),
                "DescribeLaunchTemplates"
            )?;
            templates.extend(
                more.into_iter().filter(|t| t.launch_template_id().is_some_and(|id| wanted.contains(id))),
            );
        }

        let mut resolved: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut out = Vec::new();
        for t in &templates {
            let (Some(id), Some(name)) = (t.launch_template_id(), t.launch_template_name()) else { continue };
            let (owned, address) = ownership(&ctx.stack, t.tags());
            // The latest version is what the auto scaling group launches (`$Latest`).
            let versions = self
                .ec2
                .describe_launch_template_versions()
                .launch_template_id(id)
                .versions("$Latest")
                .send()
                .await;
            // Deleted between the two calls.
            let Some(versions) = found(versions.map_err(|e| aws_error("DescribeLaunchTemplateVersions", e)))?
            else {
                continue;
            };
            let Some(v) = versions.launch_template_versions().first() else { continue };
            let data = v
                .launch_template_data()
                .cloned()
                .unwrap_or_else(|| ResponseLaunchTemplateData::builder().build());
            let mut props = data_props(&data);
            // The SSM parameter the target's image names (if any): what it resolves to now.
            let target = targets
                .iter()
                .find(|tg| tg.id.as_deref() == Some(id))
                .or_else(|| targets.iter().find(|tg| Some(&tg.address) == address.as_ref()));
            let wanted_image = target.and_then(|tg| opt_str(&tg.props, Kind::IMAGE_ID));
            if let Some(param) = wanted_image.and_then(|w| w.strip_prefix(SSM_PREFIX)) {
                if let Some(ami) = self.resolve_cached(param, &mut resolved).await? {
                    props.insert(RESOLVED.into(), resolved_entry(param, &ami));
                }
            }
            props.insert(Kind::NAME.into(), Value::str(name));
            props.insert(Kind::IMAGE_ID.into(), Value::str(data.image_id().unwrap_or_default()));
            props.insert(Kind::TAGS.into(), tags_value(t.tags()));
            let latest = t.latest_version_number().or(v.version_number()).unwrap_or(1);
            out.push(LiveObject {
                id: id.to_string(),
                address,
                props,
                outputs: outputs(name, latest),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        let data = self.template_data(props).await?;
        let created = self
            .ec2
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(data)
            .client_token(client_token(ctx, address, props))
            .tag_specifications(tag_spec(ResourceType::LaunchTemplate, props))
            .send()
            .await
            .map_err(|e| aws_error("CreateLaunchTemplate", e));
        match created {
            Ok(out) => {
                let t = out
                    .launch_template()
                    .ok_or_else(|| ProviderError::fatal("CreateLaunchTemplate returned no template"))?;
                let id = t
                    .launch_template_id()
                    .ok_or_else(|| ProviderError::fatal("CreateLaunchTemplate returned no id"))?
                    .to_string();
                Ok(Applied { id, outputs: outputs(name, t.latest_version_number().unwrap_or(1)) })
            }
            Err(e) if e.code() == Some("InvalidLaunchTemplateName.AlreadyExistsException") => {
                // A create retried after a crash: adopt ours and converge it.
                let Some((id, live_tags, owned, live_address)) = self.by_name(ctx, name).await? else {
                    // Not visible by name yet: eventual consistency, try again.
                    let mut e = e;
                    e.make_retryable();
                    return Err(e);
                };
                if !owned || live_address.as_ref() != Some(address) {
                    return Err(ProviderError::fatal(format!(
                        "launch template {name} ({id}) already exists and does not belong to {address} of stack {}",
                        ctx.stack
                    )));
                }
                let version = self.new_version(&id, props).await?;
                self.ec2.sync_tags(&id, Some(&live_tags), props.get(Kind::TAGS)).await?;
                Ok(Applied { id, outputs: outputs(name, version) })
            }
            Err(e) => Err(e),
        }
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let name = req_str(req.desired, Kind::NAME)?;
        let mut latest = None;
        for c in req.changes {
            match c.name.as_str() {
                Kind::TAGS => self.ec2.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                Kind::IMAGE_ID
                | Kind::INSTANCE_TYPE
                | Kind::INSTANCE_PROFILE_ARN
                | Kind::SECURITY_GROUP_IDS
                | Kind::USER_DATA
                | Kind::METADATA_OPTIONS
                | Kind::ASSOCIATE_PUBLIC_IP_ADDRESS => {}
                other => {
                    return Err(ProviderError::fatal(format!(
                        "ec2.launch_template cannot update `{other}` in place"
                    )))
                }
            }
        }
        if req.changes.iter().any(|c| c.name != Kind::TAGS) {
            latest = Some(self.new_version(req.id, req.desired).await?);
        }
        let latest = match latest {
            Some(v) => v,
            None => {
                let out = self
                    .ec2
                    .describe_launch_templates()
                    .launch_template_ids(req.id)
                    .send()
                    .await
                    .map_err(|e| aws_error("DescribeLaunchTemplates", e))?;
                out.launch_templates().first().and_then(|t| t.latest_version_number()).unwrap_or(1)
            }
        };
        Ok(Applied { id: req.id.to_string(), outputs: outputs(name, latest) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // Deleting a template is immediate; instances launched from it are not affected.
        ignore_not_found(
            self.ec2
                .delete_launch_template()
                .launch_template_id(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteLaunchTemplate", e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::config::{BehaviorVersion, Config};

    fn provider() -> LaunchTemplate {
        let ec2 = aws_sdk_ec2::Client::from_conf(
            Config::builder().behavior_version(BehaviorVersion::latest()).build(),
        );
        let ssm = aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::Config::builder().behavior_version(BehaviorVersion::latest()).build(),
        );
        LaunchTemplate { ec2, ssm }
    }

    const PARAM: &str = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id";

    fn image(v: Value) -> Props {
        Props::from([(Kind::IMAGE_ID.to_string(), v)])
    }

    fn live(ami: &str, resolved: Option<&str>) -> Props {
        let mut p = image(Value::str(ami));
        if let Some(r) = resolved {
            p.insert(RESOLVED.into(), resolved_entry(PARAM, r));
        }
        p
    }

    #[test]
    fn an_ssm_image_stands_for_the_ami_the_parameter_resolves_to() {
        let p = provider();
        let desired = image(Value::str(format!("{SSM_PREFIX}{PARAM}")));
        let mut current = live("ami-1", Some("ami-1"));
        p.normalize(&desired, &mut current);
        assert_eq!(current, desired, "read back as the parameter, the resolved entry dropped");
        assert_eq!(p.diff(&desired, &live("ami-1", Some("ami-1"))), vec![]);

        // The parameter moved on (or is gone): the live AMI is drift.
        for stale in [live("ami-1", Some("ami-2")), live("ami-1", None)] {
            let changes = p.diff(&desired, &stale);
            assert_eq!(changes.len(), 1);
            assert_eq!(changes[0].before, Some(Value::str("ami-1")));
        }
    }

    #[test]
    fn a_plain_or_unknown_image_is_compared_as_read() {
        let p = provider();
        let mut current = live("ami-1", Some("ami-1"));
        p.normalize(&image(Value::str("ami-1")), &mut current);
        assert_eq!(current, image(Value::str("ami-1")));
        let mut current = live("ami-1", Some("ami-1"));
        p.normalize(&image(Value::Unknown), &mut current);
        assert_eq!(current, image(Value::str("ami-1")), "an image known after apply is left alone");
        assert_eq!(p.diff(&image(Value::str("ami-2")), &live("ami-1", None)).len(), 1);
    }
}
