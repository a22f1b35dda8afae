//! `ecr.replication`: this stack's rule in the registry's replication configuration of
//! one region. id = the rule's repository prefix (the provider is bound to its region,
//! and the registry is the account's: the prefix is what tells the stack's rule apart).
//!
//! The configuration is a singleton of the account and region that other rules share
//! (other stacks', the account's own). A rule is the stack's when its repository filters
//! are exactly one PREFIX_MATCH filter of its `repository_prefix`; every other rule is
//! foreign: kept as it is on every write, never read, never reported as drift. There are
//! no tags on a registry: the rule is the stack's because its id is in state; a rule of
//! that prefix that state does not record is read as not owned (the plan reports a
//! conflict) and a create refuses it.
//!
//! Read: DescribeRegistry (one call). Create/update/delete: DescribeRegistry → the
//! foreign rules kept in their order, the stack's rule put in place of its old one (or
//! appended; left out by a delete) → PutReplicationConfiguration (an empty rule list
//! when nothing remains). The writes of this process are serialized, so two replication
//! resources of one stack never overwrite each other's rule; a concurrent writer outside
//! hactl can (the API has no conditional write).

use crate::error::aws_error;
use crate::util::{req_str, str_list};
use async_trait::async_trait;
use aws_sdk_ecr::types::{
    ReplicationConfiguration, ReplicationDestination, ReplicationRule, RepositoryFilter, RepositoryFilterType,
};
use aws_sdk_ecr::Client;
use hactl_core::kinds::ecr::Replication as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct Replication(pub Client);

/// Serializes this process's read-modify-write cycles of replication configurations.
static WRITES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The registry as DescribeRegistry answers it.
struct Registry {
    id: String,
    rules: Vec<ReplicationRule>,
}

/// Whether `rule` is the rule of `prefix`: exactly one PREFIX_MATCH filter of it.
fn is_rule_of(rule: &ReplicationRule, prefix: &str) -> bool {
    matches!(rule.repository_filters(), [f] if f.filter() == prefix && *f.filter_type() == RepositoryFilterType::PrefixMatch)
}

/// The destinations of the rules of `prefix` in `registry`, as the `destinations`
/// property (sorted): a region of the registry's own account by its name, another
/// account's as `<registry id>:<region>`. `None` when no rule has that prefix.
fn destinations_of(registry: &Registry, prefix: &str) -> Option<Vec<String>> {
    let rules: Vec<&ReplicationRule> = registry.rules.iter().filter(|r| is_rule_of(r, prefix)).collect();
    if rules.is_empty() {
        return None;
    }
    let all: BTreeSet<String> = rules
        .iter()
        .flat_map(|r| r.destinations())
        .map(|d| {
            if d.registry_id() == registry.id {
                d.region().to_string()
            } else {
                format!("{}:{}", d.registry_id(), d.region())
            }
        })
        .collect();
    Some(all.into_iter().collect())
}

fn outputs(registry_id: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("registry_id".to_string(), Value::str(registry_id))])
}

fn build_error(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::fatal(format!("ECR replication configuration: {e}"))
}

/// The stack's rule: `destinations` (regions of the registry's account, or
/// `<registry id>:<region>`) from `prefix`.
fn rule(registry_id: &str, prefix: &str, destinations: &[String]) -> Result<ReplicationRule, ProviderError> {
    let dests = destinations
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|d| {
            let (account, region) = d.split_once(':').unwrap_or((registry_id, d));
            ReplicationDestination::builder().region(region).registry_id(account).build().map_err(build_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let filter = RepositoryFilter::builder()
        .filter(prefix)
        .filter_type(RepositoryFilterType::PrefixMatch)
        .build()
        .map_err(build_error)?;
    ReplicationRule::builder()
        .set_destinations(Some(dests))
        .repository_filters(filter)
        .build()
        .map_err(build_error)
}

/// `rules` with the rules of `prefix` replaced by `own` (at the place of the first of
/// them, else at the end) or, `None`, left out; every other rule kept in its order.
fn merged(rules: &[ReplicationRule], prefix: &str, own: Option<ReplicationRule>) -> Vec<ReplicationRule> {
    let mut out = Vec::new();
    let mut own = own;
    for r in rules {
        if is_rule_of(r, prefix) {
            out.extend(own.take());
        } else {
            out.push(r.clone());
        }
    }
    out.extend(own);
    out
}

impl Replication {
    async fn registry(&self) -> Result<Registry, ProviderError> {
        let out = self.0.describe_registry().send().await.map_err(|e| aws_error("DescribeRegistry", e))?;
        let id = out
            .registry_id()
            .ok_or_else(|| ProviderError::fatal("DescribeRegistry returned no registry id"))?;
        let rules = out.replication_configuration().map(|c| c.rules().to_vec()).unwrap_or_default();
        Ok(Registry { id: id.to_string(), rules })
    }

    async fn put(&self, rules: Vec<ReplicationRule>) -> Result<(), ProviderError> {
        let config =
            ReplicationConfiguration::builder().set_rules(Some(rules)).build().map_err(build_error)?;
        self.0
            .put_replication_configuration()
            .replication_configuration(config)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_error("PutReplicationConfiguration", e))
    }

    /// Puts the stack's rule of `props` (replacing its old one) beside the foreign rules;
    /// `refuse_existing`: a rule of that prefix is already there and is not ours (create).
    async fn put_own(&self, props: &Props, refuse_existing: bool) -> Result<Applied, ProviderError> {
        let prefix = req_str(props, Kind::REPOSITORY_PREFIX)?;
        let destinations = str_list(props, Kind::DESTINATIONS);
        if destinations.is_empty() {
            return Err(ProviderError::fatal("ecr.replication: `destinations` names no region"));
        }
        let _write = WRITES.lock().await;
        let registry = self.registry().await?;
        if refuse_existing && destinations_of(&registry, prefix).is_some() {
            return Err(ProviderError::conflict(format!(
                "the ECR replication configuration of registry {} already has a rule for the repository \
                 prefix `{prefix}` that this stack's state does not record; remove that rule or choose \
                 another repository_prefix",
                registry.id
            ))
            .with_code("ReplicationRuleAlreadyExists"));
        }
        let own = rule(&registry.id, prefix, &destinations)?;
        let mut want = destinations.clone();
        want.sort();
        self.write_verified(
            registry,
            |r| merged(&r.rules, prefix, Some(own.clone())),
            |r| {
                destinations_of(r, prefix).map(|mut d| {
                    d.sort();
                    d
                }) == Some(want.clone())
            },
        )
        .await?;
        let registry = self.registry().await?;
        Ok(Applied { id: prefix.to_string(), outputs: outputs(&registry.id) })
    }

    /// Puts `rules_of(registry)` until a read shows `done`: the configuration is one
    /// document for the whole registry with no conditional write, so another process (a
    /// second stack applying at the same time) can put its own read of it over ours.
    /// Each attempt reads again, merges again and checks after a short pause.
    async fn write_verified(
        &self,
        mut registry: Registry,
        rules_of: impl Fn(&Registry) -> Vec<ReplicationRule>,
        done: impl Fn(&Registry) -> bool,
    ) -> Result<(), ProviderError> {
        for attempt in 0..WRITE_ATTEMPTS {
            self.put(rules_of(&registry)).await?;
            tokio::time::sleep(settle_pause(attempt)).await;
            registry = self.registry().await?;
            if done(&registry) {
                return Ok(());
            }
            tracing::debug!(
                attempt,
                "ecr replication: another writer replaced the configuration; writing again"
            );
        }
        Err(ProviderError::retryable(format!(
            "the ECR replication configuration of registry {} kept changing under this write ({WRITE_ATTEMPTS} \
             attempts): another process writes it at the same time",
            registry.id
        )))
    }
}

/// Writes of the registry's configuration before giving up (the engine retries the step).
const WRITE_ATTEMPTS: u32 = 5;

/// 150 to 450 ms, growing with the attempt and varied per process and moment, so two
/// writers racing each other fall out of step.
fn settle_pause(attempt: u32) -> std::time::Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let jitter = u64::from((nanos ^ std::process::id()) % 150);
    std::time::Duration::from_millis(150 + u64::from(attempt) * 75 + jitter)
}

#[async_trait]
impl Provider for Replication {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, _ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        // The rule each target names: its recorded id, else its desired prefix.
        let wanted: Vec<(&ReadTarget, &str, bool)> = targets
            .iter()
            .filter_map(|t| match t.id.as_deref() {
                Some(id) => Some((t, id, true)),
                None => t.props.get(Kind::REPOSITORY_PREFIX).and_then(Value::as_str).map(|p| (t, p, false)),
            })
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let registry = self.registry().await?;
        let mut out = Vec::new();
        for (t, prefix, recorded) in wanted {
            let Some(destinations) = destinations_of(&registry, prefix) else { continue };
            let props = Props::from([
                (Kind::DESTINATIONS.to_string(), Value::from_strings(destinations)),
                (Kind::REPOSITORY_PREFIX.to_string(), Value::str(prefix)),
            ]);
            out.push(LiveObject {
                id: prefix.to_string(),
                address: Some(t.address.clone()),
                props,
                outputs: outputs(&registry.id),
                // No tags on a registry: the stack's when state records it.
                owned: recorded,
            });
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        self.put_own(props, true).await
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        if let Some(other) = req.changes.iter().find(|c| c.name != Kind::DESTINATIONS) {
            return Err(ProviderError::fatal(format!(
                "ecr.replication cannot update `{}` in place",
                other.name
            )));
        }
        if req.desired.get(Kind::REPOSITORY_PREFIX).and_then(Value::as_str) != Some(req.id) {
            return Err(ProviderError::fatal(format!(
                "ecr.replication {}: the desired repository_prefix is not the rule's ({})",
                req.address, req.id
            )));
        }
        self.put_own(req.desired, false).await
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let _write = WRITES.lock().await;
        let registry = self.registry().await?;
        if destinations_of(&registry, id).is_none() {
            return Ok(());
        }
        self.write_verified(registry, |r| merged(&r.rules, id, None), |r| destinations_of(r, id).is_none())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn foreign(filter: Option<&str>, region: &str) -> ReplicationRule {
        let dest = ReplicationDestination::builder().region(region).registry_id("111").build().unwrap();
        let mut b = ReplicationRule::builder().destinations(dest);
        if let Some(f) = filter {
            b = b.repository_filters(
                RepositoryFilter::builder()
                    .filter(f)
                    .filter_type(RepositoryFilterType::PrefixMatch)
                    .build()
                    .unwrap(),
            );
        }
        b.build().unwrap()
    }

    #[test]
    fn only_the_exact_prefix_rule_is_the_stacks_and_foreign_rules_keep_their_order() {
        let own = rule("111", "app", &["us-west-2".into(), "eu-west-1".into(), "us-west-2".into()]).unwrap();
        let rules = vec![foreign(Some("app-other"), "eu-west-1"), own.clone(), foreign(None, "us-west-2")];
        let registry = Registry { id: "111".into(), rules: rules.clone() };
        assert_eq!(destinations_of(&registry, "app"), Some(vec!["eu-west-1".into(), "us-west-2".into()]));
        assert_eq!(destinations_of(&registry, "ap"), None, "a prefix of the prefix is another rule");
        let updated = rule("111", "app", &["ap-south-1".into(), "222:us-east-2".into()]).unwrap();
        let merged_rules = merged(&rules, "app", Some(updated.clone()));
        assert_eq!(merged_rules, vec![rules[0].clone(), updated.clone(), rules[2].clone()]);
        let registry = Registry { id: "111".into(), rules: merged_rules };
        assert_eq!(
            destinations_of(&registry, "app"),
            Some(vec!["222:us-east-2".into(), "ap-south-1".into()])
        );
        assert_eq!(merged(&rules, "app", None), vec![rules[0].clone(), rules[2].clone()]);
        assert_eq!(merged(&rules[..1], "app", Some(own.clone())), vec![rules[0].clone(), own]);
        assert!(merged(&[], "app", None).is_empty());
    }
}
