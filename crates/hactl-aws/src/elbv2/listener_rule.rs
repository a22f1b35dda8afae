//! `elbv2.listener_rule`: a rule of a listener that sends the requests whose Host header is
//! one of `host_headers` to its action (issue 14: the internal services share one HTTP
//! listener of the internal load balancer, a rule each, instead of a listener each).
//!
//! Properties: `listener_arn` (replace), `priority` (Int, 1 to 50000, unique on the
//! listener), `host_headers` (List of Str: one host-header condition, any name matches),
//! `action` (a map of the shapes of `elbv2.listener`'s `default_action`, in practice
//! `{"type":"forward","target_group_arn":ARN}`; converted by the listener's functions),
//! `tags`. id = the rule ARN; output `arn`.
//!
//! Read: DescribeRules (by Marker, 400 rules a page) once per listener that a target names
//! (`listener_arn`) or that a recorded rule ARN belongs to
//! (`...:listener-rule/app/<lb>/<lb-id>/<listener-id>/<rule-id>` →
//! `...:listener/app/<lb>/<lb-id>/<listener-id>`), the default rule left out, then
//! DescribeTags for every rule in batches of 20. Cost per refresh: one DescribeRules per
//! listener (and per 400 rules) plus one DescribeTags per 20 rules, so one internal
//! listener with up to 20 services costs 2 calls. A rule is the stack's by its tags; a
//! rule without a `hactl:stack` tag is answered only when recorded, or, unowned, when it
//! holds a target's natural key (same listener, same priority): the plan reports a
//! conflict and never adopts it.
//!
//! Conditions: hactl writes one host-header condition (`HostHeaderConfig`). AWS answers
//! its names twice, in `HostHeaderConfig.Values` and in the legacy `Values`: read takes
//! one of them. Any other condition (path pattern, a second host-header condition, regex
//! values) reads as an extra `host_headers` entry `<field>:<values>`, i.e. drift, which the
//! update's ModifyRule (the desired conditions only) removes. normalize compares host
//! names as AWS matches them: case- and order-insensitively.
//!
//! Create: a rule already at the priority with this stack's and address's tags (a create
//! retried after a crash) is adopted and converged (ModifyRule, tags); a rule of another
//! address of this stack is waited for (retryable: priorities follow the config's order,
//! so they shift when services are added or removed, and the same apply moves or deletes
//! that rule); any other rule is an error naming the priority. Update: SetRulePriorities
//! for `priority`, one ModifyRule (conditions and action) for `host_headers` / `action`,
//! AddTags / RemoveTags. A priority another rule of this stack holds: this rule first
//! steps aside to the highest free priority, then the update is retried, so rules that
//! swap priorities (services reordered) do not wait on each other; host names are
//! distinct per rule, so the order of the rules never changes where a request goes.
//! Delete: DeleteRule; a rule or listener already gone is success.
//!
//! Emulator (LocalStack 4.14's moto): it answered a condition only in the shape it was
//! given (patched: both shapes, as AWS); its DescribeRules pages by 50 by default and
//! honours PageSize and Marker; DeleteRule of a missing rule succeeds and DescribeTags
//! still answers a deleted rule's tags (neither is read here); SetRulePriorities refuses
//! a rule's own current priority and swaps within one call (hactl sends one rule a call,
//! never to its current priority).

use super::listener::{action_of, action_value, hide_redirect_defaults};
use super::{arn_resource, describe_tags, tags_of, target_ids};
use crate::error::{aws_error, ignore_not_found, is_not_found, retry_codes, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{ensure_ours, int_prop, match_target, opt_str, owner_of, req_str, str_list, tags_prop};
use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, HostHeaderConditionConfig, HttpHeaderConditionConfig, PathPatternConditionConfig, Rule,
    RuleCondition, RulePriorityPair,
};
use aws_sdk_elasticloadbalancingv2::Client;
use hactl_core::kinds::elbv2::ListenerRule as Kind;
use hactl_core::{Address, KindSchema, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

/// DescribeRules' largest page.
pub const MAX_PAGE_SIZE: i32 = 400;
/// The highest priority AWS accepts.
const MAX_PRIORITY: i64 = 50_000;
const HOST_HEADER: &str = "host-header";
const PATH_PATTERN: &str = "path-pattern";
const HTTP_HEADER: &str = "http-header";
/// AWS's answer when another rule of the listener holds the priority.
const PRIORITY_IN_USE: &str = "PriorityInUse";

type Tags = BTreeMap<String, String>;

pub struct ListenerRule {
    pub elb: Client,
    /// Rules per DescribeRules page ([`MAX_PAGE_SIZE`]; tests page with fewer).
    pub page_size: i32,
}

impl ListenerRule {
    pub fn new(elb: Client) -> Self {
        ListenerRule { elb, page_size: MAX_PAGE_SIZE }
    }
}

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn))])
}

/// The listener ARN a rule ARN belongs to:
/// `...:listener-rule/app/<lb>/<lb-id>/<listener-id>/<rule-id>` →
/// `...:listener/app/<lb>/<lb-id>/<listener-id>`.
fn listener_of(rule_arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn_resource(rule_arn).split('/').collect();
    if parts.len() != 6 || parts[0] != "listener-rule" || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let (listener, _) = rule_arn.rsplit_once('/')?;
    Some(listener.replacen(":listener-rule/", ":listener/", 1))
}

/// A rule's priority as a number; `None` for the default rule.
fn priority_of(rule: &Rule) -> Option<i64> {
    if rule.is_default() == Some(true) {
        return None;
    }
    rule.priority()?.parse().ok()
}

/// The desired `priority`.
fn priority_prop(props: &Props) -> Result<i32, ProviderError> {
    int_prop(props, Kind::PRIORITY)?.ok_or_else(|| ProviderError::fatal("property `priority` is missing"))
}

/// The values of a condition: those of its config where it has one, else the legacy
/// `Values` (AWS answers both for host-header and path-pattern conditions).
fn condition_values(c: &RuleCondition) -> Vec<&str> {
    let config: &[String] = match c.field() {
        Some(HOST_HEADER) => c.host_header_config().map(|h| h.values()).unwrap_or_default(),
        Some("path-pattern") => c.path_pattern_config().map(|p| p.values()).unwrap_or_default(),
        Some("source-ip") => c.source_ip_config().map(|s| s.values()).unwrap_or_default(),
        Some("http-request-method") => c.http_request_method_config().map(|m| m.values()).unwrap_or_default(),
        _ => &[],
    };
    let values = if config.is_empty() { c.values() } else { config };
    values.iter().map(String::as_str).collect()
}

/// The live conditions as the `host_headers`, `path_patterns` and `http_header`
/// properties: the names of the first plain host-header condition, the patterns of the
/// first path-pattern condition, the first http-header condition; `<field>:<values>` in
/// `host_headers` for every other condition.
fn conditions_value(conditions: &[RuleCondition]) -> (Value, Value, Value) {
    let mut out = Vec::new();
    let (mut hosts_read, mut paths, mut header) = (false, Value::Null, Value::Null);
    for c in conditions {
        let field = c.field().unwrap_or_default();
        let mut values = condition_values(c);
        let regex = c.host_header_config().map(|h| h.regex_values()).unwrap_or_default();
        let http = c.http_header_config();
        if field == HOST_HEADER && !hosts_read && regex.is_empty() {
            hosts_read = true;
            out.extend(values.into_iter().map(Value::str));
        } else if field == PATH_PATTERN && paths == Value::Null && !values.is_empty() {
            paths = Value::from_strings(values);
        } else if field == HTTP_HEADER && header == Value::Null && http.is_some() {
            let h = http.map(|h| (h.http_header_name().unwrap_or_default(), h.values())).unwrap_or_default();
            header = Value::Map(BTreeMap::from([
                ("name".to_string(), Value::str(h.0)),
                ("values".to_string(), Value::from_strings(h.1.iter().cloned())),
            ]));
        } else {
            values.extend(regex.iter().map(String::as_str));
            out.push(Value::str(format!("{field}:{}", values.join(","))));
        }
    }
    (Value::List(out), paths, header)
}

/// The desired conditions: a host-header condition with every name of `host_headers`, a
/// path-pattern condition with `path_patterns`, an http-header condition of `http_header`
/// (each when set; at least one).
fn conditions_of(props: &Props) -> Result<Vec<RuleCondition>, ProviderError> {
    let mut out = Vec::new();
    let hosts = str_list(props, Kind::HOST_HEADERS);
    if !hosts.is_empty() {
        let config = HostHeaderConditionConfig::builder().set_values(Some(hosts)).build();
        out.push(RuleCondition::builder().field(HOST_HEADER).host_header_config(config).build());
    }
    let paths = str_list(props, Kind::PATH_PATTERNS);
    if !paths.is_empty() {
        let config = PathPatternConditionConfig::builder().set_values(Some(paths)).build();
        out.push(RuleCondition::builder().field(PATH_PATTERN).path_pattern_config(config).build());
    }
    if let Some(h) = props.get(Kind::HTTP_HEADER).and_then(Value::as_map) {
        let config = HttpHeaderConditionConfig::builder()
            .set_http_header_name(h.get("name").and_then(Value::as_str).map(str::to_string))
            .set_values(Some(h.get("values").map(Value::string_list).unwrap_or_default()))
            .build();
        out.push(RuleCondition::builder().field(HTTP_HEADER).http_header_config(config).build());
    }
    if out.is_empty() {
        return Err(ProviderError::fatal(
            "a listener rule needs a condition: host_headers, path_patterns or http_header",
        ));
    }
    Ok(out)
}

/// Whether ECS owns the desired action's weights (`"weights":"ecs"`).
fn ecs_weights(props: &Props) -> bool {
    props.get(Kind::ACTION).and_then(Value::as_map).and_then(|m| m.get("weights")).and_then(Value::as_str)
        == Some("ecs")
}

/// A rule whose forward weights ECS shifts (`"weights":"ecs"` in the desired action, a
/// blue/green service's production and test rules): a live weighted forward to the same
/// target groups, whatever the split, is the desired action.
fn hide_ecs_weights(desired: Option<&Value>, live: &mut Value) {
    let Some(want) = desired.and_then(Value::as_map) else { return };
    if want.get("weights").and_then(Value::as_str) != Some("ecs") {
        return;
    }
    let arns = |m: &BTreeMap<String, Value>| -> BTreeSet<String> {
        m.get("target_groups")
            .and_then(Value::as_list)
            .unwrap_or_default()
            .iter()
            .filter_map(|g| g.as_map()?.get("arn")?.as_str().map(str::to_string))
            .collect()
    };
    if let Some(have) = live.as_map() {
        if have.get("type") == want.get("type") && arns(have) == arns(want) {
            *live = Value::Map(want.clone());
        }
    }
}

/// Host names as AWS matches them: lowercase, each once, sorted.
fn host_set(values: &[Value]) -> Vec<String> {
    let set: BTreeSet<String> = values
        .iter()
        .map(|v| v.as_str().map(str::to_ascii_lowercase).unwrap_or_else(|| v.to_string()))
        .collect();
    set.into_iter().collect()
}

/// The highest priority that no rule but `me` holds, unless `me` holds it already (it
/// stepped aside before).
fn parking_slot(rules: &[Rule], me: &str) -> Option<i32> {
    let mine = rules.iter().find(|r| r.rule_arn() == Some(me)).and_then(priority_of);
    let taken: BTreeSet<i64> =
        rules.iter().filter(|r| r.rule_arn() != Some(me)).filter_map(priority_of).collect();
    let slot = (1..=MAX_PRIORITY).rev().find(|p| !taken.contains(p))?;
    if mine == Some(slot) {
        return None;
    }
    i32::try_from(slot).ok()
}

/// A live rule as hactl sees it, or `None` when it is none of the stack's business: not
/// tagged for the stack, not recorded, holding no target's listener and priority.
fn live_object(
    stack: &str,
    targets: &[ReadTarget],
    wanted: &BTreeSet<String>,
    listener: &str,
    rule: &Rule,
    tags: &BTreeMap<String, Tags>,
) -> Option<LiveObject> {
    let arn = rule.rule_arn()?;
    let priority = priority_of(rule)?;
    let r_tags = tags.get(arn).cloned().unwrap_or_default();
    let (owned, mut address) = owner_of(stack, &r_tags);
    if !owned && !r_tags.contains_key(TAG_STACK) {
        // Untagged: a target's only by its natural key, and unowned (a conflict).
        address = match_target(targets, |p| {
            opt_str(p, Kind::LISTENER_ARN) == Some(listener)
                && p.get(Kind::PRIORITY).and_then(Value::as_int) == Some(priority)
        })
        .cloned();
    }
    if !owned && address.is_none() && !wanted.contains(arn) {
        return None;
    }
    let (hosts, paths, header) = conditions_value(rule.conditions());
    let props = Props::from([
        (Kind::LISTENER_ARN.to_string(), Value::str(listener)),
        (Kind::PRIORITY.to_string(), Value::Int(priority)),
        (Kind::HOST_HEADERS.to_string(), hosts),
        (Kind::PATH_PATTERNS.to_string(), paths),
        (Kind::HTTP_HEADER.to_string(), header),
        (Kind::ACTION.to_string(), action_value(rule.actions())),
        (Kind::TAGS.to_string(), tags_prop(r_tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
    ]);
    Some(LiveObject { id: arn.to_string(), address, props, outputs: outputs(arn), owned })
}

/// The rule that holds a priority, with its tags.
struct Holder {
    arn: String,
    tags: Tags,
}

impl Holder {
    /// Whether the holder is a rule of this stack at another address than `address`.
    fn is_sibling(&self, stack: &str, address: &Address) -> bool {
        let (owned, tagged) = owner_of(stack, &self.tags);
        owned && tagged.as_ref() != Some(address)
    }

    /// What a refusal calls the holder.
    fn what(&self, listener: &str, priority: i32) -> String {
        format!("listener rule {} at priority {priority} of listener {listener}", self.arn)
    }

    /// The retryable error of a priority held by another rule of this stack.
    fn busy(&self, listener: &str, priority: i32) -> ProviderError {
        let owner = self.tags.get(TAG_ADDRESS).map(String::as_str).unwrap_or("no address");
        ProviderError::retryable(format!(
            "priority {priority} of listener {listener} is held by rule {} ({owner} of this stack), \
             waiting for it to move or go",
            self.arn
        ))
        .with_code(PRIORITY_IN_USE)
    }
}

impl ListenerRule {
    /// Every rule of the listener (its default rule too); none when the listener is gone.
    async fn rules_of(&self, listener: &str) -> Result<Vec<Rule>, ProviderError> {
        let r = self
            .elb
            .describe_rules()
            .listener_arn(listener)
            .page_size(self.page_size)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeRules", e));
        match r {
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            other => other,
        }
    }

    /// The rule among `rules` that holds `priority`, with its tags.
    async fn holder(&self, rules: &[Rule], priority: i32) -> Result<Option<Holder>, ProviderError> {
        let at = rules.iter().find(|r| priority_of(r) == Some(i64::from(priority)));
        let Some(arn) = at.and_then(Rule::rule_arn) else { return Ok(None) };
        let tags = describe_tags(&self.elb, &[arn.to_string()]).await?.remove(arn).unwrap_or_default();
        Ok(Some(Holder { arn: arn.to_string(), tags }))
    }

    /// Makes the rule's conditions and action the desired ones (one ModifyRule).
    /// ModifyRule: the conditions, and the action unless `None` (a rule whose weights
    /// ECS owns keeps the split a deployment left).
    async fn modify(
        &self,
        arn: &str,
        conditions: Vec<RuleCondition>,
        action: Option<Action>,
    ) -> Result<(), ProviderError> {
        self.elb
            .modify_rule()
            .rule_arn(arn)
            .set_conditions(Some(conditions))
            .set_actions(action.map(|a| vec![a]))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_not_found(aws_error("ModifyRule", e)))
    }

    async fn set_rule_priority(&self, arn: &str, priority: i32) -> Result<(), ProviderError> {
        let pair = RulePriorityPair::builder().rule_arn(arn).priority(priority).build();
        self.elb
            .set_rule_priorities()
            .rule_priorities(pair)
            .send()
            .await
            .map(drop)
            .map_err(|e| aws_error("SetRulePriorities", e))
    }

    /// Moves rule `id` to the desired priority (SetRulePriorities). When another rule holds
    /// it: one of this stack is waited for (this rule steps aside to a free priority
    /// first, so a swap converges); any other is an error naming the priority.
    async fn set_priority(
        &self,
        ctx: &Ctx,
        address: &Address,
        id: &str,
        props: &Props,
    ) -> Result<(), ProviderError> {
        let priority = priority_prop(props)?;
        let mut err = match self.set_rule_priority(id, priority).await {
            Ok(()) => return Ok(()),
            Err(e) if e.code() == Some(PRIORITY_IN_USE) => e,
            Err(e) => return Err(e),
        };
        let listener = listener_of(id)
            .ok_or_else(|| ProviderError::fatal(format!("`{id}` is not a listener rule ARN")))?;
        let rules = self.rules_of(&listener).await?;
        let Some(holder) = self.holder(&rules, priority).await? else {
            // The holder moved away meanwhile.
            err.make_retryable();
            return Err(err);
        };
        if holder.arn == id {
            // Already there: an earlier attempt's answer was lost.
            return Ok(());
        }
        if !owner_of(&ctx.stack, &holder.tags).0 {
            // Refuses: the holder is not the stack's.
            ensure_ours(ctx, address, &holder.tags, &holder.what(&listener, priority), PRIORITY_IN_USE)?;
        }
        if let Some(slot) = parking_slot(&rules, id) {
            match self.set_rule_priority(id, slot).await {
                Ok(()) => {
                    ctx.progress(format!("stepped aside to priority {slot} until {} moves", holder.arn))
                }
                Err(e) if e.code() == Some(PRIORITY_IN_USE) => {}
                Err(e) => return Err(e),
            }
        }
        Err(holder.busy(&listener, priority))
    }
}

#[async_trait]
impl Provider for ListenerRule {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    /// Host names compare as AWS matches them (case and order aside); redirect fields the
    /// desired action leaves out are AWS's pass-through defaults (as for the listener).
    fn normalize(&self, desired: &Props, live: &mut Props) {
        if let Some(Value::List(hosts)) = live.get_mut(Kind::HOST_HEADERS) {
            match desired.get(Kind::HOST_HEADERS) {
                Some(d) if d.has_unknown() => {}
                Some(Value::List(want)) if host_set(want) == host_set(hosts) => *hosts = want.clone(),
                _ => *hosts = host_set(hosts).into_iter().map(Value::Str).collect(),
            }
        }
        let wanted = desired.get(Kind::ACTION);
        if wanted.is_some_and(Value::has_unknown) {
            return;
        }
        if let Some(Value::Map(action)) = live.get_mut(Kind::ACTION) {
            hide_redirect_defaults(action, wanted.and_then(Value::as_map));
        }
        if let Some(action) = live.get_mut(Kind::ACTION) {
            hide_ecs_weights(wanted, action);
        }
    }

    /// Read keys: rules are found by listener and priority: the target groups of their actions are not waited for.
    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::LISTENER_ARN, Kind::PRIORITY])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let wanted = target_ids(targets);
        let listeners: BTreeSet<String> = targets
            .iter()
            .filter_map(|t| opt_str(&t.props, Kind::LISTENER_ARN).map(str::to_string))
            .chain(wanted.iter().filter_map(|id| listener_of(id)))
            .collect();
        let mut rules: Vec<(&str, Rule)> = Vec::new();
        let mut arns = BTreeSet::new();
        for listener in &listeners {
            for rule in self.rules_of(listener).await? {
                let Some(arn) = rule.rule_arn() else { continue };
                if priority_of(&rule).is_some() && arns.insert(arn.to_string()) {
                    rules.push((listener.as_str(), rule));
                }
            }
        }
        let tags = describe_tags(&self.elb, &arns.into_iter().collect::<Vec<_>>()).await?;
        Ok(rules
            .iter()
            .filter_map(|(listener, rule)| live_object(&ctx.stack, targets, &wanted, listener, rule, &tags))
            .collect())
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let listener = req_str(props, Kind::LISTENER_ARN)?;
        let priority = priority_prop(props)?;
        let conditions = conditions_of(props)?;
        let action = action_of(props.get(Kind::ACTION))?;
        // A rule at that priority already: ours (a create retried after a crash) is
        // converged, another rule of the stack is waited for, any other is an error.
        let rules = self.rules_of(listener).await?;
        if let Some(holder) = self.holder(&rules, priority).await? {
            if holder.is_sibling(&ctx.stack, address) {
                return Err(holder.busy(listener, priority));
            }
            ensure_ours(ctx, address, &holder.tags, &holder.what(listener, priority), PRIORITY_IN_USE)?;
            ctx.progress(format!("adopting existing listener rule {}", holder.arn));
            let action = (!ecs_weights(props)).then_some(action);
            self.modify(&holder.arn, conditions, action).await?;
            self.elb.converge_tags(&holder.arn, &holder.tags, props).await?;
            return Ok(Applied { outputs: outputs(&holder.arn), id: holder.arn });
        }
        let out = self
            .elb
            .create_rule()
            .listener_arn(listener)
            .priority(priority)
            .set_conditions(Some(conditions))
            .actions(action)
            .set_tags(Some(tags_of(props)))
            .send()
            .await
            // PriorityInUse: another rule took the priority since the look; the retry
            // looks again.
            .map_err(|e| retry_codes(retry_not_found(aws_error("CreateRule", e)), &[PRIORITY_IN_USE]))?;
        let arn = out
            .rules()
            .first()
            .and_then(Rule::rule_arn)
            .ok_or_else(|| ProviderError::fatal("CreateRule returned no rule"))?
            .to_string();
        Ok(Applied { outputs: outputs(&arn), id: arn })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let (mut modify, mut action_changed) = (false, false);
        for c in req.changes {
            match c.name.as_str() {
                Kind::PRIORITY => self.set_priority(ctx, req.address, req.id, req.desired).await?,
                Kind::HOST_HEADERS | Kind::PATH_PATTERNS | Kind::HTTP_HEADER => modify = true,
                // With ECS's weights, a change here is another pair of target groups (any
                // split of the same two reads as desired).
                Kind::ACTION => (modify, action_changed) = (true, true),
                Kind::TAGS => self.elb.sync_tags(req.id, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "elbv2.listener_rule cannot update `{other}` in place"
                    )))
                }
            }
        }
        if modify {
            let action = action_of(req.desired.get(Kind::ACTION))?;
            let action = (action_changed || !ecs_weights(req.desired)).then_some(action);
            self.modify(req.id, conditions_of(req.desired)?, action).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        // A rule of a deleted listener is gone with it (RuleNotFound, ListenerNotFound).
        ignore_not_found(
            self.elb
                .delete_rule()
                .rule_arn(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_error("DeleteRule", e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::config::{BehaviorVersion, Config};
    use aws_sdk_elasticloadbalancingv2::types::{ActionTypeEnum, PathPatternConditionConfig};

    const LISTENER: &str = concat!(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:",
        "listener/app/s-int/50dc6c495c0c9188/f2f7dc8efc522ab2"
    );

    fn provider() -> ListenerRule {
        ListenerRule::new(Client::from_conf(
            Config::builder().behavior_version(BehaviorVersion::latest()).build(),
        ))
    }

    fn rule_arn(id: &str) -> String {
        format!("{}/{id}", LISTENER.replacen(":listener/", ":listener-rule/", 1))
    }

    fn rule(id: &str, priority: &str, conditions: Vec<RuleCondition>) -> Rule {
        let forward = Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn("tg").build();
        Rule::builder()
            .rule_arn(rule_arn(id))
            .priority(priority)
            .is_default(priority == "default")
            .set_conditions(Some(conditions))
            .actions(forward)
            .build()
    }

    fn hosts(names: &[&str]) -> Value {
        Value::from_strings(names.iter().copied())
    }

    fn one(name: &str, v: Value) -> Props {
        Props::from([(name.to_string(), v)])
    }

    fn target(address: &str, id: Option<&str>, priority: i64) -> ReadTarget {
        ReadTarget {
            address: Address::parse(address).unwrap(),
            id: id.map(str::to_string),
            props: Props::from([
                (Kind::LISTENER_ARN.to_string(), Value::str(LISTENER)),
                (Kind::PRIORITY.to_string(), Value::Int(priority)),
            ]),
            recorded: None,
        }
    }

    #[test]
    fn a_rule_arn_names_its_listener() {
        assert_eq!(listener_of(&rule_arn("9683b2d02a6cabee")).as_deref(), Some(LISTENER));
        assert_eq!(listener_of(LISTENER), None, "a listener ARN is no rule ARN");
        assert_eq!(listener_of(&format!("{}/", rule_arn("x"))), None);
        assert_eq!(listener_of("not-an-arn"), None);
    }

    #[test]
    fn host_names_are_read_once_from_either_shape_and_other_conditions_show() {
        let both = RuleCondition::builder()
            .field(HOST_HEADER)
            .values("a.s.internal")
            .values("b.s.internal")
            .host_header_config(
                HostHeaderConditionConfig::builder().values("a.s.internal").values("b.s.internal").build(),
            )
            .build();
        let hosts_of = |c: &[RuleCondition]| conditions_value(c).0;
        assert_eq!(hosts_of(std::slice::from_ref(&both)), hosts(&["a.s.internal", "b.s.internal"]));
        let legacy = RuleCondition::builder().field(HOST_HEADER).values("c.s.internal").build();
        assert_eq!(hosts_of(std::slice::from_ref(&legacy)), hosts(&["c.s.internal"]));
        let path = RuleCondition::builder()
            .field("path-pattern")
            .values("/api/*")
            .path_pattern_config(PathPatternConditionConfig::builder().values("/api/*").build())
            .build();
        let header = RuleCondition::builder()
            .field("http-header")
            .http_header_config(
                HttpHeaderConditionConfig::builder().http_header_name("x-test").values("green").build(),
            )
            .build();
        // The first path pattern and http header are properties of their own; a second
        // path pattern shows in host_headers (drift: hactl writes one of each).
        let (h, paths, hdr) = conditions_value(&[both, path.clone(), legacy, header, path]);
        assert_eq!(
            h,
            hosts(&["a.s.internal", "b.s.internal", "host-header:c.s.internal", "path-pattern:/api/*"])
        );
        assert_eq!(paths, Value::from_strings(["/api/*"]));
        assert_eq!(
            hdr,
            Value::Map(BTreeMap::from([
                ("name".to_string(), Value::str("x-test")),
                ("values".to_string(), Value::from_strings(["green"])),
            ]))
        );
    }

    #[test]
    fn weights_ecs_owns_read_as_desired_for_the_same_target_groups_only() {
        let group = |arn: &str, w: i64| {
            Value::Map(BTreeMap::from([
                ("arn".to_string(), Value::str(arn)),
                ("weight".to_string(), Value::Int(w)),
            ]))
        };
        let action = |groups: Vec<Value>, owner: Option<&str>| {
            let mut m = BTreeMap::from([
                ("type".to_string(), Value::str("forward")),
                ("target_groups".to_string(), Value::List(groups)),
            ]);
            if let Some(o) = owner {
                m.insert("weights".to_string(), Value::str(o));
            }
            Value::Map(m)
        };
        let desired = action(vec![group("blue", 100), group("green", 0)], Some("ecs"));
        // ECS shifted all traffic to green: not drift.
        let mut live = action(vec![group("blue", 0), group("green", 100)], None);
        hide_ecs_weights(Some(&desired), &mut live);
        assert_eq!(live, desired);
        // Another target group: drift.
        let mut live = action(vec![group("blue", 0), group("other", 100)], None);
        hide_ecs_weights(Some(&desired), &mut live);
        assert_ne!(live, desired);
        // Weights hactl owns: a changed split is drift.
        let mine = action(vec![group("blue", 100), group("green", 0)], None);
        let mut live = action(vec![group("blue", 0), group("green", 100)], None);
        hide_ecs_weights(Some(&mine), &mut live);
        assert_ne!(live, mine);
    }

    #[test]
    fn host_names_compare_without_case_or_order() {
        let p = provider();
        let desired = one(Kind::HOST_HEADERS, hosts(&["api.s.internal", "b.s.internal"]));
        let live = one(Kind::HOST_HEADERS, hosts(&["B.s.internal", "API.s.internal"]));
        assert_eq!(p.diff(&desired, &live), vec![]);
        let other = one(Kind::HOST_HEADERS, hosts(&["B.s.internal", "web.s.internal"]));
        let changes = p.diff(&desired, &other);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].before, Some(hosts(&["b.s.internal", "web.s.internal"])));
        let mut untouched = live.clone();
        p.normalize(&one(Kind::HOST_HEADERS, Value::List(vec![Value::Unknown])), &mut untouched);
        assert_eq!(untouched, live, "names known after apply leave the live ones alone");
    }

    #[test]
    fn a_rule_steps_aside_to_the_highest_free_priority_once() {
        let rules = [rule("a", "1", vec![]), rule("b", "50000", vec![]), rule("d", "default", vec![])];
        assert_eq!(parking_slot(&rules, &rule_arn("a")), Some(49_999));
        let parked = [rule("a", "49999", vec![]), rule("b", "50000", vec![])];
        assert_eq!(parking_slot(&parked, &rule_arn("a")), None, "already aside");
        assert_eq!(parking_slot(&[rule("a", "1", vec![])], &rule_arn("a")), Some(50_000));
    }

    #[test]
    fn an_untagged_rule_is_answered_unowned_at_a_targets_priority_or_when_recorded() {
        let none = BTreeMap::new();
        let targets = [target("listener_rule.api", None, 7)];
        let foreign = rule("f", "7", vec![]);
        let o = live_object("s", &targets, &BTreeSet::new(), LISTENER, &foreign, &none).expect("a conflict");
        assert!(!o.owned);
        assert_eq!(o.address, Some(Address::parse("listener_rule.api").unwrap()));
        assert_eq!(o.props[Kind::PRIORITY], Value::Int(7));

        let elsewhere = rule("g", "8", vec![]);
        assert!(live_object("s", &targets, &BTreeSet::new(), LISTENER, &elsewhere, &none).is_none());
        let recorded = BTreeSet::from([rule_arn("g")]);
        let o = live_object("s", &targets, &recorded, LISTENER, &elsewhere, &none).expect("recorded");
        assert_eq!((o.owned, o.address), (false, None));

        // Another stack's rule at the priority is not this stack's business.
        let theirs =
            BTreeMap::from([(rule_arn("f"), BTreeMap::from([(TAG_STACK.to_string(), "other".to_string())]))]);
        assert!(live_object("s", &targets, &BTreeSet::new(), LISTENER, &foreign, &theirs).is_none());
        assert!(live_object("s", &targets, &BTreeSet::new(), LISTENER, &rule("d", "default", vec![]), &none)
            .is_none());
    }
}
