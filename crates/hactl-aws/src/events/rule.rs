//! `events.rule`: a rule of the account's default event bus, with its targets. id = the
//! rule's name (`<stack>-...`).
//!
//! Read: ListRules (NamePrefix `<stack>-`, paged by NextToken) → the rules a target names
//! or state records → their tags from the stack's tag index ([`crate::tagging`];
//! ListTagsForResource only where [`crate::tagging::TagIndex::lookup`] asks) → for each
//! rule of this stack, ListTargetsByRule (documented exception: one call per rule; a stack
//! has one). Another stack's rule sharing the prefix costs no call.
//!
//! PutRule creates and updates (it replaces pattern, state and description; its tags only
//! count on creation, so an update syncs tags with TagResource/UntagResource). Targets:
//! PutTargets for the desired ones, RemoveTargets for the others. Delete removes the
//! targets first (EventBridge refuses to delete a rule that has any).

use crate::error::{aws_error, found, ignore_not_found, is_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, match_target, opt_str, owner_of, req_str, tags_prop};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_eventbridge::Client;
use hactl_core::kinds::events::Rule as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Rule(pub Client, pub crate::tagging::Tagging);

/// A listed rule: (name, ARN, event pattern, state, description).
struct Listed {
    name: String,
    arn: String,
    pattern: Value,
    state: Value,
    description: Value,
}

fn outputs(name: &str, arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("name".to_string(), Value::str(name))])
}

/// The `event_pattern` property as the JSON document EventBridge takes.
fn pattern_json(props: &Props) -> Result<String, ProviderError> {
    props
        .get(Kind::EVENT_PATTERN)
        .filter(|p| p.as_map().is_some())
        .map(|p| p.to_json().to_string())
        .ok_or_else(|| ProviderError::fatal("property `event_pattern` is missing or not a map"))
}

/// The `targets` property: a list of `{id, arn, role_arn}`.
fn desired_targets(props: &Props) -> Result<Vec<Target>, ProviderError> {
    let Some(Value::List(items)) = props.get(Kind::TARGETS) else { return Ok(Vec::new()) };
    items
        .iter()
        .map(|t| {
            let field = |k: &str| t.as_map().and_then(|m| m.get(k)).and_then(Value::as_str);
            let (Some(id), Some(arn)) = (field("id"), field("arn")) else {
                return Err(ProviderError::fatal("a target of `targets` lacks `id` or `arn`"));
            };
            Target::builder()
                .id(id)
                .arn(arn)
                .set_role_arn(field("role_arn").map(str::to_string))
                .build()
                .map_err(|e| ProviderError::fatal(format!("EventBridge target: {e}")))
        })
        .collect()
}

/// Live targets as the `targets` property, by id.
fn targets_prop(targets: &[Target]) -> Value {
    let mut sorted: Vec<&Target> = targets.iter().collect();
    sorted.sort_by(|a, b| a.id().cmp(b.id()));
    Value::List(
        sorted
            .into_iter()
            .map(|t| {
                Value::Map(BTreeMap::from([
                    ("id".to_string(), Value::str(t.id())),
                    ("arn".to_string(), Value::str(t.arn())),
                    ("role_arn".to_string(), t.role_arn().map_or(Value::Null, Value::str)),
                ]))
            })
            .collect(),
    )
}

fn parse_pattern(name: &str, raw: Option<&str>) -> Result<Value, ProviderError> {
    let Some(raw) = raw else { return Ok(Value::Null) };
    let json: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
        ProviderError::fatal(format!("rule {name} has an event pattern that is not JSON: {e}"))
    })?;
    Ok(Value::from_json(&json))
}

impl Rule {
    /// The default bus's rules named `prefix...`.
    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, ProviderError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .0
                .list_rules()
                .name_prefix(prefix)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("ListRules", e))?;
            for r in page.rules() {
                let (Some(name), Some(arn)) = (r.name(), r.arn()) else { continue };
                out.push(Listed {
                    name: name.to_string(),
                    arn: arn.to_string(),
                    pattern: parse_pattern(name, r.event_pattern())?,
                    state: r.state().map_or(Value::Null, |s| Value::str(s.as_str())),
                    description: r.description().map_or(Value::Null, Value::str),
                });
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// The rule `name` as the list answers it; None when it does not exist.
    async fn get(&self, name: &str) -> Result<Option<Listed>, ProviderError> {
        Ok(self.list(name).await?.into_iter().find(|r| r.name == name))
    }

    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
        let out = self.0.list_tags_for_resource().resource_arn(arn).send().await;
        let out = out.map_err(|e| retry_not_found(aws_error("ListTagsForResource", e)))?;
        Ok(out.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect())
    }

    async fn targets(&self, name: &str) -> Result<Vec<Target>, ProviderError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .0
                .list_targets_by_rule()
                .rule(name)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("ListTargetsByRule", e))?;
            out.extend(page.targets().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => return Ok(out),
            }
        }
    }

    /// PutRule with every property but the tags (which count on creation only).
    async fn put(&self, name: &str, props: &Props, tags: bool) -> Result<String, ProviderError> {
        let state = opt_str(props, Kind::STATE).unwrap_or("ENABLED");
        let mut req = self
            .0
            .put_rule()
            .name(name)
            .event_pattern(pattern_json(props)?)
            .state(RuleState::from(state))
            .description(opt_str(props, Kind::DESCRIPTION).unwrap_or_default());
        if tags {
            req = req.set_tags(Some(super::tag_list(crate::util::tag_map(props))?));
        }
        let out = req.send().await.map_err(|e| aws_error("PutRule", e))?;
        out.rule_arn().map(str::to_string).ok_or_else(|| ProviderError::fatal("PutRule returned no ARN"))
    }

    /// Brings the rule's targets to the desired ones: PutTargets, then RemoveTargets of
    /// any other id.
    async fn converge_targets(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let want = desired_targets(props)?;
        let live = self.targets(name).await?;
        let changed: Vec<Target> = want.iter().filter(|t| !live.contains(t)).cloned().collect();
        if !changed.is_empty() {
            let out = self
                .0
                .put_targets()
                .rule(name)
                .set_targets(Some(changed))
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("PutTargets", e)))?;
            if let Some(f) = out.failed_entries().first() {
                return Err(ProviderError::fatal(format!(
                    "PutTargets on rule {name}: target {} refused: {}",
                    f.target_id().unwrap_or("?"),
                    f.error_message().unwrap_or("no reason given")
                ))
                .with_code(f.error_code().unwrap_or("FailedEntry")));
            }
        }
        self.remove_targets(name, &live, |id| want.iter().any(|t| t.id() == id)).await
    }

    async fn remove_targets(
        &self,
        name: &str,
        live: &[Target],
        keep: impl Fn(&str) -> bool,
    ) -> Result<(), ProviderError> {
        let gone: Vec<String> = live.iter().map(|t| t.id().to_string()).filter(|id| !keep(id)).collect();
        if gone.is_empty() {
            return Ok(());
        }
        let out = self.0.remove_targets().rule(name).set_ids(Some(gone)).send().await;
        let out = out.map_err(|e| aws_error("RemoveTargets", e))?;
        match out.failed_entries().first() {
            Some(f) => Err(ProviderError::retryable(format!(
                "RemoveTargets on rule {name}: {}",
                f.error_message().unwrap_or("a target was not removed")
            ))),
            None => Ok(()),
        }
    }
}

#[async_trait]
impl Provider for Rule {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let prefix = format!("{}-", ctx.stack);
        let (rules, index) = futures::try_join!(self.list(&prefix), self.1.index(ctx))?;
        let mut out = Vec::new();
        for r in rules {
            let record = targets.iter().find(|t| t.id.as_deref() == Some(r.name.as_str()));
            let named = match_target(targets, |p| p.get(Kind::NAME).and_then(Value::as_str) == Some(&r.name));
            let ask = || async { found(self.tags(&r.arn).await) };
            let Some(tags) = index.tags(&r.arn, Known::of(record, named.is_some()), ask).await? else {
                continue;
            };
            let (owned, mut address) = owner_of(&ctx.stack, &tags);
            if address.is_none() && !tags.contains_key(TAG_STACK) {
                address = named.cloned();
            }
            // `<stack>-` is also the prefix of a stack named `<stack>-x`: its rules are not ours.
            if !owned && address.is_none() && record.is_none() {
                continue;
            }
            // Deleted since the list.
            let Some(live_targets) = found(self.targets(&r.name).await)? else { continue };
            let props = Props::from([
                (Kind::NAME.to_string(), Value::str(&r.name)),
                (Kind::DESCRIPTION.to_string(), r.description),
                (Kind::EVENT_PATTERN.to_string(), r.pattern),
                (Kind::STATE.to_string(), r.state),
                (Kind::TARGETS.to_string(), targets_prop(&live_targets)),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            out.push(LiveObject {
                id: r.name.clone(),
                address,
                props,
                outputs: outputs(&r.name, &r.arn),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, Kind::NAME)?;
        // PutRule overwrites a rule of the same name: look first, and only a rule with this
        // stack's and address's tags is converged.
        let arn = match self.get(name).await? {
            Some(live) => {
                let tags = self.tags(&live.arn).await?;
                ensure_ours(
                    ctx,
                    address,
                    &tags,
                    &format!("EventBridge rule `{name}`"),
                    "ResourceAlreadyExists",
                )?;
                let arn = self.put(name, props, false).await?;
                self.0.converge_tags(&arn, &tags, props).await?;
                arn
            }
            None => self.put(name, props, true).await?,
        };
        self.converge_targets(name, props).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(name, &arn) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let mut arn = None;
        if req
            .changes
            .iter()
            .any(|c| [Kind::DESCRIPTION, Kind::EVENT_PATTERN, Kind::STATE].contains(&c.name.as_str()))
        {
            arn = Some(self.put(req.id, req.desired, false).await?);
        }
        let arn = match arn {
            Some(a) => a,
            None => self.get(req.id).await?.map(|r| r.arn).ok_or_else(|| {
                ProviderError::retryable(format!("EventBridge rule `{}` not found", req.id))
            })?,
        };
        for c in req.changes {
            match c.name.as_str() {
                n if n == Kind::TAGS => self.0.sync_tags(&arn, c.before.as_ref(), c.after.as_ref()).await?,
                n if n == Kind::TARGETS => self.converge_targets(req.id, req.desired).await?,
                n if [Kind::DESCRIPTION, Kind::EVENT_PATTERN, Kind::STATE].contains(&n) => {}
                other => {
                    return Err(ProviderError::fatal(format!("events.rule cannot update `{other}` in place")))
                }
            }
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id, &arn) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let live = match self.targets(id).await {
            Ok(t) => t,
            Err(e) if is_not_found(&e) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.remove_targets(id, &live, |_| false).await?;
        ignore_not_found(
            self.0.delete_rule().name(id).send().await.map(drop).map_err(|e| aws_error("DeleteRule", e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_back_as_the_property_writes_them() {
        let props = Props::from([(
            Kind::TARGETS.to_string(),
            Value::List(vec![Value::Map(BTreeMap::from([
                ("id".to_string(), Value::str("redeploy")),
                ("arn".to_string(), Value::str("arn:aws:states:us-east-1:1:stateMachine:s-redeploy")),
                ("role_arn".to_string(), Value::str("arn:aws:iam::1:role/r")),
            ]))]),
        )]);
        let built = desired_targets(&props).unwrap();
        assert_eq!(targets_prop(&built), props[Kind::TARGETS]);
        let missing =
            Props::from([(Kind::TARGETS.to_string(), Value::List(vec![Value::Map(BTreeMap::new())]))]);
        assert!(desired_targets(&missing).is_err());
    }

    #[test]
    fn the_pattern_is_compared_as_a_document_not_as_text() {
        let a = parse_pattern(
            "r",
            Some(r#"{"source":["aws.secretsmanager"],"detail":{"labelUpdated":["AWSCURRENT"]}}"#),
        );
        let b = parse_pattern(
            "r",
            Some(
                "{ \"detail\": {\"labelUpdated\": [\"AWSCURRENT\"]}, \"source\": [\"aws.secretsmanager\"] }",
            ),
        );
        assert_eq!(a.unwrap(), b.unwrap());
        assert!(parse_pattern("r", Some("{not json")).is_err());
        assert_eq!(parse_pattern("r", None).unwrap(), Value::Null);
    }
}
