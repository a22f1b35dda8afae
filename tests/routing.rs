//! Routing that scales (issue 14): 100 internal services (AWS's default quota of rules per
//! load balancer) share the internal load balancer's one listener, each through a
//! host-header rule; the app tier admits the internal load balancer once. The stack
//! validates, applies, and every service is reachable through its rule: checked with the
//! ELBv2, ECS and EC2 APIs, never by asking hactl. One more internal service is refused
//! before any AWS call.

mod common;

use common::census::{census, KINDS};
use common::stackgen::{self, service_name};
use common::{state_id, unique_token, Stack, DESTROY_ALL};
use std::collections::{BTreeMap, BTreeSet};

/// Internal services of the stack: the demo's backend and 99 generated ones.
const INTERNAL: usize = 100;

fn stack(services: usize) -> Stack {
    let name = format!("t{}-route", unique_token());
    Stack::named(&name, &stackgen::generate(&name, services))
}

/// Host → target group ARN of every rule of the listener (its default rule left out).
async fn rules(elb: &aws_sdk_elasticloadbalancingv2::Client, listener: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut marker = None;
    loop {
        let page = elb
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker)
            .send()
            .await
            .expect("DescribeRules");
        for r in page.rules().iter().filter(|r| r.is_default() != Some(true)) {
            let hosts: Vec<&String> = r
                .conditions()
                .iter()
                .flat_map(|c| match c.host_header_config() {
                    Some(h) => h.values().iter().collect::<Vec<_>>(),
                    None => c.values().iter().collect(),
                })
                .collect();
            assert_eq!(hosts.len(), 1, "one host per rule: {r:?}");
            let action = &r.actions()[0];
            let tg = action
                .target_group_arn()
                .or_else(|| action.forward_config()?.target_groups().first()?.target_group_arn())
                .expect("a forward action");
            let before = out.insert(hosts[0].clone(), tg.to_string());
            assert!(before.is_none(), "two rules for {}", hosts[0]);
        }
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_internal_services_share_one_listener_and_are_reached_by_host() {
    let s = stack(INTERNAL - 1);
    s.ok(&["validate"], 0);
    s.ok(&["apply", "--auto-approve"], 0);
    let conf = common::sdk().await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let ecs = aws_sdk_ecs::Client::new(&conf);

    // One listener on the internal load balancer, a rule per service to its target group.
    let lb = state_id(&s, "alb.internal");
    let listeners = elb.describe_listeners().load_balancer_arn(&lb).send().await.expect("DescribeListeners");
    let [listener] = listeners.listeners() else { panic!("one internal listener: {listeners:?}") };
    assert_eq!(listener.port(), Some(80));
    let by_host = rules(&elb, listener.listener_arn().expect("listener arn")).await;
    assert_eq!(by_host.len(), INTERNAL, "a rule per internal service");
    let mut internal: Vec<String> = (1..INTERNAL).map(service_name).collect();
    internal.push("backend".to_string());
    let mut tg_of = BTreeMap::new();
    for name in &internal {
        let host = format!("{name}.{}.internal", s.name);
        let tg = state_id(&s, &format!("target_group.{name}"));
        assert_eq!(by_host.get(&host), Some(&tg), "{host} forwards to its service's target group");
        tg_of.insert(format!("{}-{name}", s.name), tg);
    }

    // Each service registers its tasks with that target group (ECS describes 10 at a time).
    let mut seen = BTreeSet::new();
    let arns: Vec<String> = internal.iter().map(|n| state_id(&s, &format!("ecs_service.{n}"))).collect();
    for chunk in arns.chunks(10) {
        let d = ecs
            .describe_services()
            .cluster(&s.name)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .expect("DescribeServices");
        for svc in d.services() {
            let name = svc.service_name().expect("service name");
            let lbs = svc.load_balancers();
            let tg = lbs.first().and_then(|l| l.target_group_arn()).unwrap_or_default();
            let want = tg_of.iter().find(|(k, _)| name == k.as_str() || k.ends_with(&format!("-{name}")));
            let (_, want) = want.unwrap_or_else(|| panic!("unexpected service {name}"));
            assert_eq!(tg, want, "{name} behind its target group");
            seen.insert(name.to_string());
        }
    }
    assert_eq!(seen.len(), INTERNAL, "every internal service described");

    // The app tier admits the internal load balancer's group with one rule.
    let app = state_id(&s, "sg.app");
    let internal_group = state_id(&s, "sg.alb_internal");
    let ec2 = common::ec2().await;
    let sg_rules = ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(&app).build())
        .send()
        .await
        .expect("DescribeSecurityGroupRules");
    let from_internal: Vec<_> = sg_rules
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(false) && r.group_id() == Some(app.as_str()))
        .filter(|r| r.referenced_group_info().and_then(|g| g.group_id()) == Some(internal_group.as_str()))
        .collect();
    assert_eq!(from_internal.len(), 1, "one rule from the internal load balancer: {from_internal:?}");
    assert_eq!((from_internal[0].from_port(), from_internal[0].to_port()), (Some(80), Some(8099)));

    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&DESTROY_ALL, 0);
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "destroy leaves nothing");
}

#[test]
fn one_more_internal_service_is_refused_before_any_aws_call() {
    let s = stack(INTERNAL);
    let r = s.ok(&["validate"], 1);
    assert!(r.stderr.contains("101 listener rules; AWS allows 100"), "{}", r.stderr);
    assert!(r.stderr.contains(&format!("services[{}]", INTERNAL + 1)), "{}", r.stderr);
}
