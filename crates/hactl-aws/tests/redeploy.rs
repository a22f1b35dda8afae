//! The `events.rule` and `sfn.state_machine` providers (the redeployment after a password
//! rotation) against the emulator: driven through the registry, every effect checked with
//! the EventBridge and Step Functions SDKs, names unique per process, everything removed
//! at the end.

use crate::common::Harness;
use hactl_core::{diff_props, Address, Props, Value, TAG_ADDRESS, TAG_STACK};
use hactl_engine::{ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

fn addr(s: &str) -> Address {
    Address::parse(s).unwrap()
}

fn target(address: &str, id: Option<&str>, props: &Props) -> ReadTarget {
    ReadTarget { address: addr(address), id: id.map(str::to_string), props: props.clone(), recorded: None }
}

fn json(text: &str) -> Value {
    Value::from_json(&serde_json::from_str(text).unwrap())
}

const ROLE: &str = "arn:aws:iam::000000000000:role/hactl/t/redeploy";

fn machine_props(h: &Harness, services: &[&str]) -> Props {
    let definition = format!(
        r#"{{"StartAt":"Services","States":{{"Services":{{"Type":"Pass","Result":{},"End":true}}}}}}"#,
        serde_json::to_string(services).unwrap()
    );
    Props::from([
        ("name".to_string(), Value::str(format!("{}-redeploy", h.stack))),
        ("machine_type".to_string(), Value::str("STANDARD")),
        ("definition".to_string(), json(&definition)),
        ("role_arn".to_string(), Value::str(ROLE)),
        ("tags".to_string(), h.tags("state_machine.redeploy", &[])),
    ])
}

fn rule_props(h: &Harness, secret: &str, machine_arn: &str) -> Props {
    let pattern = format!(
        r#"{{"source":["aws.secretsmanager"],"detail-type":["Secret Label Updated"],"resources":["{secret}"],"detail":{{"labelUpdated":["AWSCURRENT"]}}}}"#
    );
    Props::from([
        ("name".to_string(), Value::str(format!("{}-password-rotated", h.stack))),
        ("description".to_string(), Value::str("redeploy after a rotation")),
        ("event_pattern".to_string(), json(&pattern)),
        ("state".to_string(), Value::str("ENABLED")),
        (
            "targets".to_string(),
            Value::List(vec![Value::Map(BTreeMap::from([
                ("id".to_string(), Value::str("redeploy")),
                ("arn".to_string(), Value::str(machine_arn)),
                ("role_arn".to_string(), Value::str(ROLE)),
            ]))]),
        ),
        ("tags".to_string(), h.tags("event_rule.password_rotated", &[])),
    ])
}

/// The names of the properties `desired` and `live` differ in.
fn changed(h: &Harness, kind: &str, desired: &Props, live: &Props) -> Vec<String> {
    let schema = h.registry.schema(kind).unwrap();
    diff_props(schema, desired, live).into_iter().map(|c| c.name).collect()
}

#[tokio::test]
async fn state_machine_and_rule_lifecycle() {
    let (h, cfg) = Harness::new("redeploy").await;
    let (other, _) = Harness::new("redeploy-x").await;
    let events = aws_sdk_eventbridge::Client::new(&cfg);
    let sfn = aws_sdk_sfn::Client::new(&cfg);
    let result = lifecycle(&h, &other, &events, &sfn).await;
    for stack in [&h.stack, &other.stack] {
        let rule = format!("{stack}-password-rotated");
        let _ = events.remove_targets().rule(&rule).ids("redeploy").ids("extra").send().await;
        let _ = events.delete_rule().name(&rule).send().await;
        let arn = format!("arn:aws:states:us-east-1:000000000000:stateMachine:{stack}-redeploy");
        let _ = sfn.delete_state_machine().state_machine_arn(arn).send().await;
    }
    result.unwrap();
}

async fn lifecycle(
    h: &Harness,
    other: &Harness,
    events: &aws_sdk_eventbridge::Client,
    sfn: &aws_sdk_sfn::Client,
) -> Result<(), String> {
    let err = |e: hactl_engine::ProviderError| e.to_string();
    // The state machine: created with its tags, read back as written with the list, the
    // tag index and one describe.
    let machines = h.provider("sfn.state_machine");
    let mprops = machine_props(h, &["backend", "frontend"]);
    let machine = machines.create(&h.ctx(), &addr("state_machine.redeploy"), &mprops).await.map_err(err)?;
    let d = sfn
        .describe_state_machine()
        .state_machine_arn(&machine.id)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    assert_eq!(d.name(), format!("{}-redeploy", h.stack));
    assert_eq!(d.role_arn(), ROLE);
    let mt = target("state_machine.redeploy", Some(&machine.id), &mprops);
    let (objs, calls) = h.read("sfn.state_machine", std::slice::from_ref(&mt)).await;
    let [live] = objs.as_slice() else { panic!("{objs:?}") };
    assert!(live.owned);
    assert_eq!(changed(h, "sfn.state_machine", &mprops, &live.props), Vec::<String>::new());
    assert_eq!(
        calls,
        BTreeMap::from([
            ("Resource Groups Tagging API:GetResources".to_string(), 1),
            ("SFN:DescribeStateMachine".to_string(), 1),
            ("SFN:ListStateMachines".to_string(), 1),
        ])
    );

    // The rule: created with its target, read back as written.
    let rules = h.provider("events.rule");
    let secret = "arn:aws:secretsmanager:us-east-1:000000000000:secret:rds!cluster-x-AbCdEf";
    let rprops = rule_props(h, secret, &machine.id);
    let rule = rules.create(&h.ctx(), &addr("event_rule.password_rotated"), &rprops).await.map_err(err)?;
    assert_eq!(rule.id, format!("{}-password-rotated", h.stack));
    let listed = events.list_targets_by_rule().rule(&rule.id).send().await.map_err(|e| format!("{e:?}"))?;
    assert_eq!(listed.targets().iter().map(|t| t.arn()).collect::<Vec<_>>(), [machine.id.as_str()]);
    let rt = target("event_rule.password_rotated", Some(&rule.id), &rprops);
    let (objs, calls) = h.read("events.rule", std::slice::from_ref(&rt)).await;
    let [live] = objs.as_slice() else { panic!("{objs:?}") };
    assert!(live.owned);
    assert_eq!(changed(h, "events.rule", &rprops, &live.props), Vec::<String>::new());
    assert_eq!(
        calls,
        BTreeMap::from([
            ("EventBridge:ListRules".to_string(), 1),
            ("EventBridge:ListTargetsByRule".to_string(), 1),
            ("Resource Groups Tagging API:GetResources".to_string(), 1),
        ])
    );

    // Another stack whose name starts with this one's: neither of its objects is read as
    // this stack's, and this stack's are not its.
    let omachine = other
        .provider("sfn.state_machine")
        .create(&other.ctx(), &addr("state_machine.redeploy"), &machine_props(other, &["a"]))
        .await
        .map_err(err)?;
    let orule = rule_props(other, secret, &omachine.id);
    other
        .provider("events.rule")
        .create(&other.ctx(), &addr("event_rule.password_rotated"), &orule)
        .await
        .map_err(err)?;
    let (objs, _) = h.read("events.rule", std::slice::from_ref(&rt)).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [rule.id.as_str()]);
    let (objs, _) = h.read("sfn.state_machine", std::slice::from_ref(&mt)).await;
    assert_eq!(objs.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(), [machine.id.as_str()]);
    // Creating over the other stack's name is refused, never adopted.
    let mut taken = rprops.clone();
    taken.insert("name".to_string(), Value::str(format!("{}-password-rotated", other.stack)));
    let refused = rules.create(&h.ctx(), &addr("event_rule.password_rotated"), &taken).await;
    assert!(refused.is_err_and(|e| e.to_string().contains(&other.stack)));

    // Out of band: the rule disabled, a target added, a tag removed; the machine's
    // definition changed. Each read shows it, and the updates put it back.
    events.disable_rule().name(&rule.id).send().await.map_err(|e| format!("{e:?}"))?;
    let extra = aws_sdk_eventbridge::types::Target::builder()
        .id("extra")
        .arn(&machine.id)
        .role_arn(ROLE)
        .build()
        .unwrap();
    events.put_targets().rule(&rule.id).targets(extra).send().await.map_err(|e| format!("{e:?}"))?;
    let rule_arn = rule.outputs["arn"].as_str().unwrap().to_string();
    events
        .untag_resource()
        .resource_arn(&rule_arn)
        .tag_keys(TAG_ADDRESS)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let live = h.read_one("events.rule", &rt).await.expect("the rule, recorded in state");
    assert!(live.owned, "still the stack's: its stack tag");
    assert_eq!(changed(h, "events.rule", &rprops, &live.props), ["state", "tags", "targets"]);
    let changes = diff_props(h.registry.schema("events.rule").unwrap(), &rprops, &live.props);
    let req = UpdateRequest { address: &rt.address, id: &rule.id, desired: &rprops, changes: &changes };
    rules.update(&h.ctx(), req).await.map_err(err)?;
    let live = h.read_one("events.rule", &rt).await.expect("the rule");
    assert_eq!(changed(h, "events.rule", &rprops, &live.props), Vec::<String>::new());
    let listed = events.list_targets_by_rule().rule(&rule.id).send().await.map_err(|e| format!("{e:?}"))?;
    assert_eq!(listed.targets().len(), 1, "the extra target removed");

    let moved = machine_props(h, &["frontend"]);
    let live = h.read_one("sfn.state_machine", &mt).await.expect("the machine");
    let changes = diff_props(h.registry.schema("sfn.state_machine").unwrap(), &moved, &live.props);
    assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["definition"]);
    let req = UpdateRequest { address: &mt.address, id: &machine.id, desired: &moved, changes: &changes };
    machines.update(&h.ctx(), req).await.map_err(err)?;
    let d = sfn
        .describe_state_machine()
        .state_machine_arn(&machine.id)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    assert!(d.definition().contains("frontend") && !d.definition().contains("backend"), "{}", d.definition());

    // A create retried after a crash finds its own objects (its tags) and converges them.
    let again = rules.create(&h.ctx(), &addr("event_rule.password_rotated"), &rprops).await.map_err(err)?;
    assert_eq!(again.id, rule.id);
    let again = machines.create(&h.ctx(), &addr("state_machine.redeploy"), &mprops).await.map_err(err)?;
    assert_eq!(again.id, machine.id);
    let tags =
        sfn.list_tags_for_resource().resource_arn(&machine.id).send().await.map_err(|e| format!("{e:?}"))?;
    assert!(tags.tags().iter().any(|t| t.key() == Some(TAG_STACK) && t.value() == Some(h.stack.as_str())));

    // Delete: the rule (its targets first) and the machine are gone; deleting again is fine.
    rules.delete(&h.ctx(), &rule.id, &rprops).await.map_err(err)?;
    rules.delete(&h.ctx(), &rule.id, &rprops).await.map_err(err)?;
    let left = events.list_rules().name_prefix(&rule.id).send().await.map_err(|e| format!("{e:?}"))?;
    assert!(left.rules().iter().all(|r| r.name() != Some(rule.id.as_str())));
    machines.delete(&h.ctx(), &machine.id, &mprops).await.map_err(err)?;
    machines.delete(&h.ctx(), &machine.id, &mprops).await.map_err(err)?;
    let gone = sfn.describe_state_machine().state_machine_arn(&machine.id).send().await;
    assert!(gone.is_err(), "the state machine still exists");
    Ok(())
}
