//! The `elbv2.listener_rule` provider against the emulator (LocalStack + moto ELBv2). Each
//! test builds a VPC, two subnets, an internal load balancer, an HTTP listener and two
//! target groups with the SDK, drives the provider directly, checks every effect with the
//! SDK (DescribeRules, DescribeTags; never the provider's read), and removes everything it
//! made, also when it fails.

use crate::common;

use aws_sdk_elasticloadbalancingv2 as elb;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, FixedResponseActionConfig, HostHeaderConditionConfig, LoadBalancerSchemeEnum,
    PathPatternConditionConfig, ProtocolEnum, Rule, RuleCondition, Tag, TargetTypeEnum,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use common::sdk_config;
use hactl_aws::elbv2::listener_rule::ListenerRule;
use hactl_aws::ApiCounter;
use hactl_core::{Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{Ctx, LiveObject, NullSink, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What a test works with: the SDK client, a counted client for providers, and the
/// network, load balancer, listener and target groups made for it.
#[derive(Clone)]
struct Env {
    stack: String,
    ec2: aws_sdk_ec2::Client,
    elb: elb::Client,
    /// The providers' client: counts their calls by operation.
    counted: elb::Client,
    counter: ApiCounter,
    vpc: String,
    subnets: Vec<String>,
    lb: String,
    listener: String,
    tgs: Vec<String>,
}

impl Env {
    async fn new(test: &str) -> Env {
        let cfg = sdk_config().await;
        let stack = format!("t{}{test}", std::process::id() % 100_000);
        let ec2 = aws_sdk_ec2::Client::new(&cfg);
        let elb = elb::Client::new(&cfg);
        let counter = ApiCounter::default();
        let counted =
            elb::Client::from_conf(elb::config::Builder::from(&cfg).interceptor(counter.clone()).build());
        let vpc = ec2.create_vpc().cidr_block("10.88.0.0/16").send().await.expect("CreateVpc");
        let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
        let mut subnets = Vec::new();
        for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
            let s = ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(format!("10.88.{i}.0/24"))
                .availability_zone(*az)
                .send()
                .await
                .expect("CreateSubnet");
            subnets.push(s.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
        }
        let mut env = Env {
            stack,
            ec2,
            elb,
            counted,
            counter,
            vpc,
            subnets,
            lb: String::new(),
            listener: String::new(),
            tgs: Vec::new(),
        };
        env.traffic().await;
        env
    }

    /// The internal load balancer, its HTTP listener (404 by default) and two target groups.
    async fn traffic(&mut self) {
        let lb = self
            .elb
            .create_load_balancer()
            .name(format!("{}-int", self.stack))
            .scheme(LoadBalancerSchemeEnum::Internal)
            .set_subnets(Some(self.subnets.clone()))
            .send()
            .await
            .expect("CreateLoadBalancer");
        self.lb = lb.load_balancers()[0].load_balancer_arn().expect("lb arn").to_string();
        for name in ["a", "b"] {
            let tg = self
                .elb
                .create_target_group()
                .name(format!("{}-{name}", self.stack))
                .protocol(ProtocolEnum::Http)
                .port(3000)
                .vpc_id(&self.vpc)
                .target_type(TargetTypeEnum::Ip)
                .send()
                .await
                .expect("CreateTargetGroup");
            self.tgs.push(tg.target_groups()[0].target_group_arn().expect("tg arn").to_string());
        }
        let not_found = FixedResponseActionConfig::builder().status_code("404").build();
        let listener = self
            .elb
            .create_listener()
            .load_balancer_arn(&self.lb)
            .port(80)
            .protocol(ProtocolEnum::Http)
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::FixedResponse)
                    .fixed_response_config(not_found)
                    .build(),
            )
            .send()
            .await
            .expect("CreateListener");
        self.listener = listener.listeners()[0].listener_arn().expect("listener arn").to_string();
    }

    /// Runs `body`, then removes whatever the test made, then fails if the body failed.
    async fn run<F, Fut>(test: &str, body: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let env = Env::new(test).await;
        let result = tokio::spawn(body(env.clone())).await;
        env.cleanup().await;
        if let Err(e) = result {
            std::panic::resume_unwind(e.into_panic());
        }
    }

    async fn cleanup(&self) {
        for r in self.rules().await {
            let arn = r.rule_arn().unwrap();
            self.elb.delete_rule().rule_arn(arn).send().await.expect("cleanup: DeleteRule");
        }
        self.elb
            .delete_listener()
            .listener_arn(&self.listener)
            .send()
            .await
            .expect("cleanup: DeleteListener");
        self.elb.delete_load_balancer().load_balancer_arn(&self.lb).send().await.expect("cleanup: DeleteLB");
        for tg in &self.tgs {
            self.elb
                .delete_target_group()
                .target_group_arn(tg)
                .send()
                .await
                .expect("cleanup: DeleteTargetGroup");
        }
        for s in &self.subnets {
            self.ec2.delete_subnet().subnet_id(s).send().await.expect("cleanup: DeleteSubnet");
        }
        self.ec2.delete_vpc().vpc_id(&self.vpc).send().await.expect("cleanup: DeleteVpc");
    }

    fn provider(&self, page_size: i32) -> ListenerRule {
        ListenerRule { elb: self.counted.clone(), page_size }
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(&self.stack, Arc::new(NullSink))
    }

    fn host(&self, service: &str) -> String {
        format!("{service}.{}.internal", self.stack)
    }

    /// The desired rule of `address`: `hosts` forwarded to target group `tg`.
    fn desired(&self, address: &str, priority: i64, hosts: &[String], tg: usize) -> Props {
        let tags = [(TAG_STACK, self.stack.as_str()), (TAG_ADDRESS, address)];
        Props::from([
            ("listener_arn".to_string(), Value::str(&self.listener)),
            ("priority".to_string(), Value::Int(priority)),
            ("host_headers".to_string(), Value::from_strings(hosts.iter().cloned())),
            ("path_patterns".to_string(), Value::Null),
            ("http_header".to_string(), Value::Null),
            ("action".to_string(), forward(&self.tgs[tg])),
            ("tags".to_string(), Value::from_string_map(tags)),
        ])
    }

    /// The listener's rules as the SDK sees them, the default rule left out.
    async fn rules(&self) -> Vec<Rule> {
        let out = self.elb.describe_rules().listener_arn(&self.listener).send().await.expect("DescribeRules");
        assert!(out.next_marker().is_none(), "more than one page of rules");
        out.rules().iter().filter(|r| r.is_default() != Some(true)).cloned().collect()
    }

    /// The rule `arn` as the SDK sees it, `None` when AWS says it does not exist.
    async fn rule(&self, arn: &str) -> Option<Rule> {
        match self.elb.describe_rules().rule_arns(arn).send().await {
            Ok(o) => o.rules().first().cloned(),
            Err(e) if e.code() == Some("RuleNotFound") => None,
            Err(e) => panic!("DescribeRules: {e:?}"),
        }
    }

    async fn tags_of(&self, arn: &str) -> BTreeMap<String, String> {
        let out = self.elb.describe_tags().resource_arns(arn).send().await.expect("DescribeTags");
        out.tag_descriptions()[0]
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap_or_default().to_string()))
            .collect()
    }

    /// The provider's calls by operation since `before` (a counter snapshot).
    fn calls_since(&self, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        self.counter
            .snapshot()
            .into_iter()
            .filter_map(|(k, n)| {
                let d = n - before.get(&k).copied().unwrap_or(0);
                let op = k.rsplit(':').next().unwrap_or(&k).to_string();
                (d > 0).then_some((op, d))
            })
            .collect()
    }
}

fn forward(tg: &str) -> Value {
    Value::Map(Props::from([
        ("type".to_string(), Value::str("forward")),
        ("target_group_arn".to_string(), Value::str(tg)),
    ]))
}

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

/// The host names of a rule's host-header condition, as the SDK answers them.
fn hosts_of(rule: &Rule) -> Vec<String> {
    let c = rule.conditions().iter().find(|c| c.field() == Some("host-header")).expect("host-header");
    c.host_header_config().expect("HostHeaderConfig").values().to_vec()
}

fn forwards_to(rule: &Rule) -> Option<&str> {
    let a = rule.actions().first()?;
    a.target_group_arn().or_else(|| a.forward_config()?.target_groups().first()?.target_group_arn())
}

async fn read(p: &ListenerRule, env: &Env, address: &str, id: &str, desired: &Props) -> Option<LiveObject> {
    let objs = p.read(&env.ctx(), &[target(address, Some(id), desired)]).await.expect("read");
    objs.into_iter().find(|o| o.id == id)
}

/// Reads the rule and asserts that it matches `desired` exactly (no false drift).
async fn assert_no_diff(p: &ListenerRule, env: &Env, address: &str, id: &str, desired: &Props) {
    let live = read(p, env, address, id, desired).await.expect("rule not found by read");
    let changes = p.diff(desired, &live.props);
    assert!(changes.is_empty(), "{address}: unexpected diff {changes:?}\nlive: {:?}", live.props);
    assert!(live.owned, "{address} should be owned by the stack");
    assert_eq!(live.address, Some(addr(address)));
}

/// Brings the rule to `desired` through the provider's update; the changed properties.
async fn update(
    p: &ListenerRule,
    env: &Env,
    address: &str,
    id: &str,
    desired: &Props,
) -> Result<Vec<String>, ProviderError> {
    let live = read(p, env, address, id, desired).await.expect("rule not found by read");
    let changes = p.diff(desired, &live.props);
    assert!(!changes.is_empty(), "{address}: expected changes");
    assert!(changes.iter().all(|c| !c.forces_replacement), "{address}: {changes:?} would replace");
    let a = addr(address);
    p.update(&env.ctx(), UpdateRequest { address: &a, id, desired, changes: &changes }).await?;
    Ok(changes.into_iter().map(|c| c.name).collect())
}

/// The update, retried on retryable errors as the engine does (shorter waits).
async fn update_retrying(p: &ListenerRule, env: &Env, address: &str, id: &str, desired: &Props) {
    for _ in 0..40 {
        match update(p, env, address, id, desired).await {
            Ok(_) => return,
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{address}: update failed: {e}"),
        }
    }
    panic!("{address}: the update did not converge");
}

#[tokio::test]
async fn listener_rule_lifecycle_conflicts_and_drift() {
    Env::run("lr", |env| async move {
        let p = env.provider(hactl_aws::elbv2::listener_rule::MAX_PAGE_SIZE);
        let ctx = env.ctx();
        let api = "listener_rule.api";
        let desired = env.desired(api, 10, &[env.host("api")], 0);

        // Create: one rule, as desired, with the stack's tags.
        let created = p.create(&ctx, &addr(api), &desired).await.expect("create");
        let arn = created.id.clone();
        assert_eq!(created.outputs["arn"], Value::str(&arn));
        let rules = env.rules().await;
        assert_eq!(rules.len(), 1, "{rules:?}");
        assert_eq!(rules[0].rule_arn(), Some(arn.as_str()));
        assert_eq!(rules[0].priority(), Some("10"));
        assert_eq!(hosts_of(&rules[0]), vec![env.host("api")]);
        assert_eq!(forwards_to(&rules[0]), Some(env.tgs[0].as_str()));
        let tags = env.tags_of(&arn).await;
        assert_eq!((tags[TAG_STACK].as_str(), tags[TAG_ADDRESS].as_str()), (env.stack.as_str(), api));
        assert_no_diff(&p, &env, api, &arn, &desired).await;
        // The emulator answers the names twice (Values and HostHeaderConfig, as AWS): read once.
        let live = read(&p, &env, api, &arn, &desired).await.unwrap();
        assert_eq!(live.props["host_headers"], Value::from_strings([env.host("api")]));

        // Host names compare without case or order.
        let shouty = env.desired(api, 10, &[env.host("api").to_uppercase()], 0);
        assert_no_diff(&p, &env, api, &arn, &shouty).await;

        // A retried create adopts the rule at its priority instead of adding one.
        let again = p.create(&ctx, &addr(api), &desired).await.expect("retried create");
        assert_eq!(again.id, arn);
        assert_eq!(env.rules().await.len(), 1, "a retried create must not add a rule");

        // Another rule of this stack at the priority: waited for (retryable), not adopted.
        let web_at_10 = env.desired("listener_rule.web", 10, &[env.host("web")], 1);
        let err = p.create(&ctx, &addr("listener_rule.web"), &web_at_10).await.expect_err("priority of api");
        assert!(err.is_retryable() && err.message().contains("priority 10"), "{err}");

        // A rule without tags at priority 20: never adopted, a clear error, left as it was.
        let foreign = env
            .elb
            .create_rule()
            .listener_arn(&env.listener)
            .priority(20)
            .conditions(host_condition("someone.else.example"))
            .actions(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&env.tgs[1]).build())
            .send()
            .await
            .expect("CreateRule (foreign)");
        let foreign = foreign.rules()[0].rule_arn().unwrap().to_string();
        let web = env.desired("listener_rule.web", 20, &[env.host("web")], 1);
        let err = p.create(&ctx, &addr("listener_rule.web"), &web).await.expect_err("priority 20 is taken");
        assert!(!err.is_retryable(), "{err}");
        assert_eq!(err.code(), Some("PriorityInUse"), "{err}");
        assert!(err.message().contains("priority 20") && err.message().contains(&foreign), "{err}");
        assert!(env.tags_of(&foreign).await.is_empty(), "the foreign rule must not be tagged");
        let f = env.rule(&foreign).await.expect("foreign rule still there");
        assert_eq!(hosts_of(&f), vec!["someone.else.example".to_string()]);
        assert_eq!(env.rules().await.len(), 2);
        // Read answers it for the target whose natural key it holds, unowned: a conflict.
        let found = p.read(&ctx, &[target("listener_rule.web", None, &web)]).await.expect("read");
        let f = found.iter().find(|o| o.id == foreign).expect("foreign rule answered for its priority");
        assert!(!f.owned);
        assert_eq!(f.address, Some(addr("listener_rule.web")));
        // The stack's own rule on that listener is answered too (by its tags).
        let own = found.iter().find(|o| o.id == arn).expect("the stack's rule, by its tags");
        assert_eq!((own.owned, own.address.as_ref()), (true, Some(&addr(api))));

        // Priority 10 → 11: SetRulePriorities only.
        let moved = env.desired(api, 11, &[env.host("api")], 0);
        let before = env.counter.snapshot();
        update(&p, &env, api, &arn, &moved).await.expect("update priority");
        let calls = env.calls_since(&before);
        assert_eq!(calls.get("SetRulePriorities"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("ModifyRule"), None, "{calls:?}");
        assert_eq!(env.rule(&arn).await.unwrap().priority(), Some("11"));
        assert_no_diff(&p, &env, api, &arn, &moved).await;

        // Host names: ModifyRule only.
        let two = env.desired(api, 11, &[env.host("api"), env.host("api-v2")], 0);
        let before = env.counter.snapshot();
        assert_eq!(update(&p, &env, api, &arn, &two).await.expect("update hosts"), vec!["host_headers"]);
        let calls = env.calls_since(&before);
        assert_eq!((calls.get("ModifyRule"), calls.get("SetRulePriorities")), (Some(&1), None), "{calls:?}");
        let r = env.rule(&arn).await.unwrap();
        assert_eq!(hosts_of(&r), vec![env.host("api"), env.host("api-v2")]);
        assert_eq!(r.priority(), Some("11"));
        assert_no_diff(&p, &env, api, &arn, &two).await;

        // Action (another target group) and tags.
        let mut other = env.desired(api, 11, &[env.host("api"), env.host("api-v2")], 1);
        let mut tags = other["tags"].string_map();
        tags.insert("team".into(), "payments".into());
        other.insert("tags".into(), Value::from_string_map(tags));
        update(&p, &env, api, &arn, &other).await.expect("update action and tags");
        assert_eq!(forwards_to(&env.rule(&arn).await.unwrap()), Some(env.tgs[1].as_str()));
        assert_eq!(env.tags_of(&arn).await.get("team").map(String::as_str), Some("payments"));
        assert_no_diff(&p, &env, api, &arn, &other).await;

        // Drift: a path pattern added outside hactl shows, and the update takes it away.
        env.elb
            .modify_rule()
            .rule_arn(&arn)
            .conditions(host_condition(&env.host("api")))
            .conditions(
                RuleCondition::builder()
                    .field("path-pattern")
                    .path_pattern_config(PathPatternConditionConfig::builder().values("/admin/*").build())
                    .build(),
            )
            .send()
            .await
            .expect("out-of-band ModifyRule");
        let live = read(&p, &env, api, &arn, &other).await.unwrap();
        assert_eq!(live.props["path_patterns"], Value::from_strings(["/admin/*"]));
        // The hosts it set (one of the two) and the pattern.
        assert_eq!(
            update(&p, &env, api, &arn, &other).await.expect("repair"),
            vec!["host_headers", "path_patterns"]
        );
        let r = env.rule(&arn).await.unwrap();
        assert_eq!(r.conditions().len(), 1, "{:?}", r.conditions());
        assert_eq!(hosts_of(&r), vec![env.host("api"), env.host("api-v2")]);

        // Moving onto the foreign rule's priority: an error naming it; nothing moves.
        let mut onto_foreign = other.clone();
        onto_foreign.insert("priority".into(), Value::Int(20));
        let err = update(&p, &env, api, &arn, &onto_foreign).await.expect_err("priority 20 is taken");
        assert!(!err.is_retryable() && err.message().contains("priority 20"), "{err}");
        assert_eq!(env.rule(&arn).await.unwrap().priority(), Some("11"));
        assert_eq!(env.rule(&foreign).await.unwrap().priority(), Some("20"));

        // Found by its recorded id alone (no listener in the target).
        let by_id = p.read(&ctx, &[target(api, Some(&arn), &Props::new())]).await.expect("read by id");
        assert!(by_id.iter().any(|o| o.id == arn && o.owned));

        // Delete: gone; the foreign rule stays; deleting again is success.
        p.delete(&ctx, &arn, &other).await.expect("delete");
        assert!(env.rule(&arn).await.is_none(), "rule still there after delete");
        let left: Vec<_> = env.rules().await.iter().map(|r| r.rule_arn().unwrap().to_string()).collect();
        assert_eq!(left, vec![foreign.clone()]);
        assert!(read(&p, &env, api, &arn, &other).await.is_none());
        p.delete(&ctx, &arn, &other).await.expect("delete of a deleted rule");
    })
    .await;
}

fn host_condition(host: &str) -> RuleCondition {
    RuleCondition::builder()
        .field("host-header")
        .host_header_config(HostHeaderConditionConfig::builder().values(host).build())
        .build()
}

#[tokio::test]
async fn reads_page_and_batch_and_swapped_priorities_converge() {
    Env::run("lp", |env| async move {
        // 21 rules + the default one: 3 pages of 10, tags in 2 batches (20 + 1).
        let p = env.provider(10);
        let ctx = env.ctx();
        let mut targets = Vec::new();
        let mut ids = Vec::new();
        for i in 1..=21 {
            let address = format!("listener_rule.s{i:02}");
            let desired = env.desired(&address, i, &[env.host(&format!("s{i:02}"))], 0);
            ids.push(p.create(&ctx, &addr(&address), &desired).await.expect("create").id);
            targets.push((address, desired));
        }
        // Another stack's rule on the same listener is not read as ours.
        env.elb
            .create_rule()
            .listener_arn(&env.listener)
            .priority(100)
            .conditions(host_condition("x.other.internal"))
            .actions(Action::builder().r#type(ActionTypeEnum::Forward).target_group_arn(&env.tgs[1]).build())
            .tags(Tag::builder().key(TAG_STACK).value("another-stack").build())
            .send()
            .await
            .expect("CreateRule (other stack)");
        assert_eq!(env.rules().await.len(), 22);

        let read_targets: Vec<ReadTarget> =
            targets.iter().zip(&ids).map(|((a, d), id)| target(a, Some(id), d)).collect();
        let before = env.counter.snapshot();
        let objs = p.read(&ctx.with_fresh_cache(), &read_targets).await.expect("read");
        let calls = env.calls_since(&before);
        assert_eq!(calls.get("DescribeRules"), Some(&3), "23 rules, 10 a page: {calls:?}");
        assert_eq!(calls.get("DescribeTags"), Some(&2), "22 rules, 20 a call: {calls:?}");
        assert_eq!(calls.values().sum::<u64>(), 5, "{calls:?}");
        assert_eq!(objs.len(), 21, "each rule once, the other stack's left out");
        for ((address, desired), id) in targets.iter().zip(&ids) {
            let o = objs.iter().find(|o| &o.id == id).expect("rule read");
            assert_eq!((o.owned, o.address.as_ref()), (true, Some(&addr(address))));
            assert!(p.diff(desired, &o.props).is_empty(), "{address}: {:?}", p.diff(desired, &o.props));
        }

        // s01 and s02 swap priorities (services reordered), both at once: each steps aside
        // when the other holds its priority, and both land.
        let (a, b) = (&targets[0], &targets[1]);
        let mut a_moved = a.1.clone();
        a_moved.insert("priority".into(), Value::Int(2));
        let mut b_moved = b.1.clone();
        b_moved.insert("priority".into(), Value::Int(1));
        let p = Arc::new(env.provider(10));
        let (pa, pb, ea, eb) = (p.clone(), p.clone(), env.clone(), env.clone());
        let (ida, idb) = (ids[0].clone(), ids[1].clone());
        let (aa, ba) = (a.0.clone(), b.0.clone());
        let ja = tokio::spawn(async move { update_retrying(&pa, &ea, &aa, &ida, &a_moved).await });
        let jb = tokio::spawn(async move { update_retrying(&pb, &eb, &ba, &idb, &b_moved).await });
        ja.await.expect("s01 update");
        jb.await.expect("s02 update");
        assert_eq!(env.rule(&ids[0]).await.unwrap().priority(), Some("2"));
        assert_eq!(env.rule(&ids[1]).await.unwrap().priority(), Some("1"));
    })
    .await;
}
