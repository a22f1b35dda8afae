//! `autoscaling.group`: the auto scaling group of the ECS container instances. It launches
//! from the launch template's `$Latest` version, checks health with EC2 + ELB, protects
//! new instances from scale-in (the ECS capacity provider's managed termination protection
//! decides which instances may go) and propagates every tag (incl. `AmazonECSManaged`) to
//! its instances. `desired_capacity` is set at create only: the capacity provider's managed
//! scaling owns it afterwards. With Spot (`mixed_instances`) it launches through a
//! mixed-instances policy over the same template; min and max sizes set by the group's
//! scheduled actions read as configured (see [`crate::util::unscheduled`]).
//!
//! Delete (a destroy trap): protected instances would survive a plain delete, so scale-in
//! protection is removed from every instance first, then the group is force-deleted and
//! waited for until it is gone (its instances terminated).

use crate::error::aws_error;
use crate::util::ensure_ours;
use crate::util::tags::Tagger;
use crate::util::{int_prop, opt_bool, owner_of, req_str, str_list, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_autoscaling::types::{
    AutoScalingGroup, Filter, InstancesDistribution, LaunchTemplateOverrides, LaunchTemplateSpecification,
    MixedInstancesPolicy, Tag,
};
use aws_sdk_autoscaling::Client;
use hactl_core::kinds::autoscaling::Group as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Group(pub Client);

/// SetInstanceProtection takes at most 50 instance ids per call.
const PROTECTION_BATCH: usize = 50;

fn req_int(props: &Props, name: &str) -> Result<i32, ProviderError> {
    int_prop(props, name)?.ok_or_else(|| ProviderError::fatal(format!("property `{name}` is missing")))
}

fn launch_template(props: &Props) -> Result<LaunchTemplateSpecification, ProviderError> {
    Ok(LaunchTemplateSpecification::builder()
        .launch_template_id(req_str(props, Kind::LAUNCH_TEMPLATE_ID)?)
        .version(crate::util::opt_str(props, Kind::LAUNCH_TEMPLATE_VERSION).unwrap_or("$Latest"))
        .build())
}

/// The mixed-instances policy of `mixed_instances` (Spot), `None` when it is null: the
/// group then launches from the launch template alone.
fn mixed_instances(props: &Props) -> Result<Option<MixedInstancesPolicy>, ProviderError> {
    let Some(m) = props.get(Kind::MIXED_INSTANCES).and_then(Value::as_map) else { return Ok(None) };
    let int = |key: &str| {
        m.get(key).and_then(Value::as_int).and_then(|i| i32::try_from(i).ok()).ok_or_else(|| {
            ProviderError::fatal(format!("mixed_instances.{key} is missing or not an integer"))
        })
    };
    let overrides = m
        .get("instance_types")
        .map(Value::string_list)
        .unwrap_or_default()
        .into_iter()
        .map(|t| LaunchTemplateOverrides::builder().instance_type(t).build())
        .collect();
    let template = aws_sdk_autoscaling::types::LaunchTemplate::builder()
        .launch_template_specification(launch_template(props)?)
        .set_overrides(Some(overrides))
        .build();
    let distribution = InstancesDistribution::builder()
        .on_demand_base_capacity(int("on_demand_base")?)
        .on_demand_percentage_above_base_capacity(int("on_demand_percent_above_base")?)
        .set_spot_allocation_strategy(
            m.get("spot_allocation_strategy").and_then(Value::as_str).map(str::to_string),
        )
        .build();
    Ok(Some(
        MixedInstancesPolicy::builder()
            .launch_template(template)
            .instances_distribution(distribution)
            .build(),
    ))
}

/// `mixed_instances` as read: null without a policy.
fn live_mixed_instances(g: &AutoScalingGroup) -> Value {
    let Some(m) = g.mixed_instances_policy() else { return Value::Null };
    let types = m
        .launch_template()
        .map(|l| {
            l.overrides().iter().filter_map(|o| o.instance_type().map(str::to_string)).collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let d = m.instances_distribution();
    let int = |v: Option<i32>| v.map(|i| Value::Int(i.into())).unwrap_or(Value::Null);
    Value::Map(BTreeMap::from([
        ("instance_types".to_string(), Value::from_strings(types)),
        ("on_demand_base".to_string(), int(d.and_then(|d| d.on_demand_base_capacity()))),
        (
            "on_demand_percent_above_base".to_string(),
            int(d.and_then(|d| d.on_demand_percentage_above_base_capacity())),
        ),
        (
            "spot_allocation_strategy".to_string(),
            d.and_then(|d| d.spot_allocation_strategy()).map(Value::str).unwrap_or(Value::Null),
        ),
    ]))
}

/// Group tags: every one propagated to the instances.
fn group_tags(name: &str, tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(k)
                .value(v)
                .propagate_at_launch(true)
                .build()
        })
        .collect()
}

fn live_tags(g: &AutoScalingGroup) -> BTreeMap<String, String> {
    g.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// Auto Scaling's tag calls (groups, by name): CreateOrUpdateTags, DeleteTags.
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, name: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out = self.create_or_update_tags().set_tags(Some(group_tags(name, &tags))).send().await;
        out.map(drop).map_err(|e| aws_error("CreateOrUpdateTags", e))
    }

    async fn remove_tag_keys(&self, name: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let tags = keys
            .iter()
            .map(|k| Tag::builder().resource_id(name).resource_type("auto-scaling-group").key(k).build())
            .collect();
        self.delete_tags().set_tags(Some(tags)).send().await.map(drop).map_err(|e| aws_error("DeleteTags", e))
    }
}

fn outputs(g: &AutoScalingGroup) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("arn".to_string(), Value::str(g.auto_scaling_group_arn().unwrap_or_default())),
        ("name".to_string(), Value::str(g.auto_scaling_group_name().unwrap_or_default())),
    ])
}

/// A group being deleted (force delete in progress) is gone for every purpose here.
fn deleting(g: &AutoScalingGroup) -> bool {
    g.status().is_some_and(|s| s.to_ascii_lowercase().contains("delete"))
}

fn is_missing_group(e: &ProviderError) -> bool {
    e.code() == Some("ValidationError") && e.message().contains("not found")
}

impl Group {
    async fn describe(
        &self,
        filter: Option<Filter>,
        names: &[String],
    ) -> Result<Vec<AutoScalingGroup>, ProviderError> {
        self.0
            .describe_auto_scaling_groups()
            .set_filters(filter.map(|f| vec![f]))
            .set_auto_scaling_group_names((!names.is_empty()).then(|| names.to_vec()))
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeAutoScalingGroups", e))
    }

    async fn by_name(&self, name: &str) -> Result<Option<AutoScalingGroup>, ProviderError> {
        Ok(self
            .describe(None, &[name.to_string()])
            .await?
            .into_iter()
            .find(|g| g.auto_scaling_group_name() == Some(name)))
    }

    /// The {min, max} pairs of the stack's scheduled actions (named `<stack>-...`) on the
    /// group `name`, or null without any.
    async fn scheduled(&self, stack: &str, name: &str) -> Result<Value, ProviderError> {
        let actions: Vec<aws_sdk_autoscaling::types::ScheduledUpdateGroupAction> = self
            .0
            .describe_scheduled_actions()
            .auto_scaling_group_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeScheduledActions", e))?;
        let prefix = format!("{stack}-");
        let pairs: Vec<Value> = actions
            .iter()
            .filter(|a| a.scheduled_action_name().is_some_and(|n| n.starts_with(&prefix)))
            .map(|a| crate::util::size_pair(a.min_size(), a.max_size()))
            .collect();
        Ok(if pairs.is_empty() { Value::Null } else { Value::List(pairs) })
    }

    /// UpdateAutoScalingGroup with the given settings (desired capacity never: the
    /// capacity provider owns it).
    async fn apply_settings(
        &self,
        name: &str,
        props: &Props,
        which: &BTreeSet<&str>,
    ) -> Result<(), ProviderError> {
        let mut req = self.0.update_auto_scaling_group().auto_scaling_group_name(name);
        let mut any = false;
        let template_keys = [Kind::LAUNCH_TEMPLATE_ID, Kind::LAUNCH_TEMPLATE_VERSION, Kind::MIXED_INSTANCES];
        if template_keys.iter().any(|k| which.contains(k)) {
            req = match mixed_instances(props)? {
                Some(policy) => req.mixed_instances_policy(policy),
                None => req.launch_template(launch_template(props)?),
            };
            any = true;
        }
        if which.contains(Kind::CAPACITY_REBALANCE) {
            req = req.capacity_rebalance(opt_bool(props, Kind::CAPACITY_REBALANCE).unwrap_or(false));
            any = true;
        }
        if which.contains(Kind::MIN_SIZE) {
            req = req.min_size(req_int(props, Kind::MIN_SIZE)?);
            any = true;
        }
        if which.contains(Kind::MAX_SIZE) {
            req = req.max_size(req_int(props, Kind::MAX_SIZE)?);
            any = true;
        }
        if which.contains(Kind::SUBNET_IDS) {
            req = req.vpc_zone_identifier(str_list(props, Kind::SUBNET_IDS).join(","));
            any = true;
        }
        if which.contains(Kind::HEALTH_CHECK_TYPE) {
            req = req.health_check_type(req_str(props, Kind::HEALTH_CHECK_TYPE)?);
            any = true;
        }
        if which.contains(Kind::HEALTH_CHECK_GRACE_PERIOD) {
            req = req.set_health_check_grace_period(int_prop(props, Kind::HEALTH_CHECK_GRACE_PERIOD)?);
            any = true;
        }
        if which.contains(Kind::PROTECT_FROM_SCALE_IN) {
            req = req.new_instances_protected_from_scale_in(
                opt_bool(props, Kind::PROTECT_FROM_SCALE_IN).unwrap_or(false),
            );
            any = true;
        }
        if !any {
            return Ok(());
        }
        req.send().await.map(|_| ()).map_err(|e| aws_error("UpdateAutoScalingGroup", e))
    }

    /// Brings an existing group (found on a retried create) to the desired settings.
    async fn converge(&self, g: &AutoScalingGroup, props: &Props) -> Result<(), ProviderError> {
        let name = g.auto_scaling_group_name().unwrap_or_default();
        let all: BTreeSet<&str> = Kind::SCHEMA
            .props
            .iter()
            .map(|p| p.name)
            .filter(|n| *n != Kind::TAGS && *n != Kind::SCHEDULED_SIZES)
            .collect();
        self.apply_settings(name, props, &all).await?;
        let live = Value::from_string_map(live_tags(g));
        self.0.sync_tags(name, Some(&live), props.get(Kind::TAGS)).await
    }
}

#[async_trait]
impl Provider for Group {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// Min and max sizes set by the stack's scheduled actions on the group read as
    /// configured.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        let (min, max) = crate::util::unscheduled(
            (
                live.get(Kind::MIN_SIZE).cloned().unwrap_or(Value::Null),
                live.get(Kind::MAX_SIZE).cloned().unwrap_or(Value::Null),
            ),
            (desired.get(Kind::MIN_SIZE), desired.get(Kind::MAX_SIZE)),
            live.get(Kind::SCHEDULED_SIZES),
        );
        live.insert(Kind::MIN_SIZE.to_string(), min);
        live.insert(Kind::MAX_SIZE.to_string(), max);
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let filter = Filter::builder().name(format!("tag:{TAG_STACK}")).values(&ctx.stack).build();
        let mut groups = self.describe(Some(filter), &[]).await?;
        // Recorded groups that lost the stack tag (names that are gone are simply absent).
        let have: BTreeSet<String> =
            groups.iter().filter_map(|g| g.auto_scaling_group_name().map(str::to_string)).collect();
        let missing: Vec<String> =
            targets.iter().filter_map(|t| t.id.clone()).filter(|id| !have.contains(id)).collect();
        if !missing.is_empty() {
            groups.extend(self.describe(None, &missing).await?);
        }
        let mut scheduled = BTreeMap::new();
        for g in groups.iter().filter(|g| !deleting(g)) {
            if let Some(name) = g.auto_scaling_group_name() {
                scheduled.insert(name.to_string(), self.scheduled(&ctx.stack, name).await?);
            }
        }
        Ok(groups
            .iter()
            .filter(|g| !deleting(g))
            .filter_map(|g| {
                let name = g.auto_scaling_group_name()?;
                let tags = live_tags(g);
                let (owned, address) = owner_of(&ctx.stack, &tags);
                let lt = g.launch_template().or_else(|| {
                    g.mixed_instances_policy()
                        .and_then(|m| m.launch_template())
                        .and_then(|l| l.launch_template_specification())
                });
                let opt_str = |v: Option<&str>| v.map(Value::str).unwrap_or(Value::Null);
                let opt_int = |v: Option<i32>| v.map(|i| Value::Int(i.into())).unwrap_or(Value::Null);
                let subnets = g
                    .vpc_zone_identifier()
                    .unwrap_or_default()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string);
                let props = Props::from([
                    (Kind::NAME.to_string(), Value::str(name)),
                    (Kind::MIXED_INSTANCES.to_string(), live_mixed_instances(g)),
                    (
                        Kind::CAPACITY_REBALANCE.to_string(),
                        Value::Bool(g.capacity_rebalance().unwrap_or(false)),
                    ),
                    (Kind::SCHEDULED_SIZES.to_string(), scheduled.get(name).cloned().unwrap_or(Value::Null)),
                    (Kind::LAUNCH_TEMPLATE_ID.to_string(), opt_str(lt.and_then(|l| l.launch_template_id()))),
                    (Kind::LAUNCH_TEMPLATE_VERSION.to_string(), opt_str(lt.and_then(|l| l.version()))),
                    (Kind::MIN_SIZE.to_string(), opt_int(g.min_size())),
                    (Kind::MAX_SIZE.to_string(), opt_int(g.max_size())),
                    (Kind::DESIRED_CAPACITY.to_string(), opt_int(g.desired_capacity())),
                    (Kind::SUBNET_IDS.to_string(), Value::from_strings(subnets)),
                    (Kind::HEALTH_CHECK_TYPE.to_string(), opt_str(g.health_check_type())),
                    (Kind::HEALTH_CHECK_GRACE_PERIOD.to_string(), opt_int(g.health_check_grace_period())),
                    (
                        Kind::PROTECT_FROM_SCALE_IN.to_string(),
                        Value::Bool(g.new_instances_protected_from_scale_in().unwrap_or(false)),
                    ),
                    (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
                ]);
                Some(LiveObject { id: name.to_string(), address, props, outputs: outputs(g), owned })
            })
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        // Look first: a retried create must not replace the group (the emulator silently
        // replaces a group of the same name, orphaning its instances; AWS says AlreadyExists).
        let existing = match self.by_name(name).await? {
            Some(g) => Some(g),
            None => {
                // A mixed-instances policy (Spot) or the launch template alone.
                let mixed = mixed_instances(props)?;
                let template = if mixed.is_none() { Some(launch_template(props)?) } else { None };
                let created = self
                    .0
                    .create_auto_scaling_group()
                    .auto_scaling_group_name(name)
                    .set_mixed_instances_policy(mixed)
                    .set_launch_template(template)
                    .set_capacity_rebalance(opt_bool(props, Kind::CAPACITY_REBALANCE))
                    .min_size(req_int(props, Kind::MIN_SIZE)?)
                    .max_size(req_int(props, Kind::MAX_SIZE)?)
                    .set_desired_capacity(int_prop(props, Kind::DESIRED_CAPACITY)?)
                    .vpc_zone_identifier(str_list(props, Kind::SUBNET_IDS).join(","))
                    .set_health_check_type(
                        crate::util::opt_str(props, Kind::HEALTH_CHECK_TYPE).map(str::to_string),
                    )
                    .set_health_check_grace_period(int_prop(props, Kind::HEALTH_CHECK_GRACE_PERIOD)?)
                    .new_instances_protected_from_scale_in(
                        opt_bool(props, Kind::PROTECT_FROM_SCALE_IN).unwrap_or(false),
                    )
                    .set_tags(Some(group_tags(name, &tag_map(props))))
                    .send()
                    .await
                    .map_err(|e| crate::error::retry_not_found(aws_error("CreateAutoScalingGroup", e)));
                match created {
                    Ok(_) => None,
                    Err(e) if e.code() == Some("AlreadyExists") => {
                        Some(self.by_name(name).await?.ok_or(e.into_retryable())?)
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if let Some(g) = existing {
            ensure_ours(
                ctx,
                address,
                &live_tags(&g),
                &format!("Auto Scaling group `{name}`"),
                "AlreadyExists",
            )?;
            self.converge(&g, props).await?;
        }
        let g = ctx
            .wait_for(&format!("auto scaling group {name} to be visible"), || async {
                self.by_name(name).await
            })
            .await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(&g) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut which = BTreeSet::new();
        for c in req.changes {
            match c.name.as_str() {
                Kind::TAGS => self.0.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                Kind::LAUNCH_TEMPLATE_ID
                | Kind::LAUNCH_TEMPLATE_VERSION
                | Kind::MIN_SIZE
                | Kind::MAX_SIZE
                | Kind::SUBNET_IDS
                | Kind::HEALTH_CHECK_TYPE
                | Kind::HEALTH_CHECK_GRACE_PERIOD
                | Kind::PROTECT_FROM_SCALE_IN
                | Kind::MIXED_INSTANCES
                | Kind::CAPACITY_REBALANCE => {
                    which.insert(c.name.as_str());
                }
                // The scheduled sizes are the actions' (their own resources): nothing to call.
                Kind::SCHEDULED_SIZES => {}
                other => {
                    return Err(ProviderError::fatal(format!(
                        "autoscaling.group cannot update `{other}` in place"
                    )))
                }
            }
        }
        self.apply_settings(req.id, req.desired, &which).await?;
        let g = self
            .by_name(req.id)
            .await?
            .ok_or_else(|| ProviderError::fatal(format!("auto scaling group {} is gone", req.id)))?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&g) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let Some(g) = self.by_name(id).await? else { return Ok(()) };
        if !deleting(&g) {
            // Protected instances would keep running (and keep the capacity provider and
            // the cluster busy): lift the protection first.
            let protected: Vec<String> = g
                .instances()
                .iter()
                .filter(|i| i.protected_from_scale_in() == Some(true))
                .filter_map(|i| i.instance_id().map(str::to_string))
                .collect();
            for batch in protected.chunks(PROTECTION_BATCH) {
                let r = self
                    .0
                    .set_instance_protection()
                    .auto_scaling_group_name(id)
                    .set_instance_ids(Some(batch.to_vec()))
                    .protected_from_scale_in(false)
                    .send()
                    .await
                    .map_err(|e| aws_error("SetInstanceProtection", e));
                match r {
                    Ok(_) => {}
                    Err(e) if is_missing_group(&e) => return Ok(()),
                    Err(e) => return Err(e),
                }
            }
            if !protected.is_empty() {
                ctx.progress(format!("scale-in protection removed from {} instance(s)", protected.len()));
            }
            let r = self
                .0
                .delete_auto_scaling_group()
                .auto_scaling_group_name(id)
                .force_delete(true)
                .send()
                .await
                .map_err(|e| aws_error("DeleteAutoScalingGroup", e));
            match r {
                Ok(_) => {}
                Err(e) if is_missing_group(&e) => return Ok(()),
                // A scaling activity in progress: the engine tries again.
                Err(mut e) if matches!(e.code(), Some("ScalingActivityInProgress" | "ResourceInUse")) => {
                    e.make_retryable();
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        ctx.wait_for(&format!("auto scaling group {id} and its instances to be deleted"), || async {
            Ok(self.by_name(id).await?.is_none().then_some(()))
        })
        .await
    }
}
