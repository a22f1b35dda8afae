//! Losing the state file: the whole stack (network, ECS on EC2 with its services and both
//! load balancers, DocumentDB, secrets, observability) is found again by its ownership
//! tags and adopted, address by address; nothing is created twice and nothing is lost.
//! Every count comes from the AWS services themselves (tests/common/census.rs).

mod common;

use common::census::{census, plan_kinds, KINDS};
use common::{Stack, DESTROY_ALL};
use std::collections::BTreeMap;

/// Address -> id, of a state file.
fn ids(state: &serde_json::Value) -> BTreeMap<String, String> {
    state["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .map(|(a, r)| (a.clone(), r["id"].as_str().expect("id").to_string()))
        .collect()
}

/// The census keyed as the plan is, for comparisons.
fn owned(c: &BTreeMap<&'static str, usize>) -> BTreeMap<String, usize> {
    c.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_state_file_is_rebuilt_by_adopting_every_object_of_the_full_stack() {
    let s = Stack::from_file("adoption", "config/ha-stack.toml");
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "a fresh stack name");

    // The first plan: every address a create, counted by kind.
    let r = s.ok(&["plan", "--json", "--detailed-exitcode"], 2);
    let first: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan json");
    let actions = first["actions"].as_array().expect("actions");
    assert!(actions.iter().all(|a| a["action"] == "create"), "a new stack is all creates");
    let mut want = plan_kinds(&first);
    for k in want.keys() {
        assert!(KINDS.contains(&k.as_str()), "the census cannot count {k}: add it to tests/common/census.rs");
    }
    for k in KINDS {
        want.entry(k.to_string()).or_insert(0);
    }
    let addresses: Vec<&str> = actions.iter().map(|a| a["address"].as_str().expect("address")).collect();

    s.ok(&["apply", "--auto-approve"], 0);
    let applied = census(&s.name).await;
    assert_eq!(owned(&applied), want, "each kind has as many live objects as the plan has addresses");

    // The state file is lost (what it recorded is kept here, to compare ids).
    let recorded = ids(&s.state());
    assert_eq!(recorded.len(), addresses.len(), "every address applied");
    let state_file = s.state_dir.join(format!("{}.json", s.name));
    std::fs::remove_file(&state_file).expect("remove the state file");
    assert!(!state_file.exists());

    // The next plan adopts every address, and does nothing else.
    let r = s.ok(&["plan", "--json", "--detailed-exitcode"], 2);
    let plan: serde_json::Value = serde_json::from_str(&r.stdout).expect("plan json");
    for key in ["conflicts", "unmanaged", "protected"] {
        assert!(plan.get(key).is_none(), "{key} in the plan: {}", plan[key]);
    }
    let mut adopted = Vec::new();
    for a in plan["actions"].as_array().expect("actions") {
        assert_eq!(a["action"], "adopt", "{} is not adopted: {a}", a["address"]);
        assert_eq!(a["adopted"], true, "{a}");
        assert_eq!(a["changes"].as_array().map_or(0, Vec::len), 0, "{a}");
        let address = a["address"].as_str().expect("address");
        assert_eq!(a["id"].as_str(), recorded.get(address).map(String::as_str), "{address}: the same object");
        adopted.push(address);
    }
    adopted.sort_unstable();
    let mut all = addresses.clone();
    all.sort_unstable();
    assert_eq!(adopted, all, "every address of the first plan is adopted");
    assert_eq!(plan_kinds(&plan), plan_kinds(&first));

    s.ok(&["apply", "--auto-approve"], 0);
    assert_eq!(ids(&s.state()), recorded, "state records the objects it had recorded");
    s.ok(&["plan", "--detailed-exitcode"], 0);
    let readopted = census(&s.name).await;
    assert_eq!(readopted, applied, "nothing duplicated, nothing lost");

    s.ok(&DESTROY_ALL, 0);
    assert_eq!(census(&s.name).await, KINDS.iter().map(|k| (*k, 0)).collect(), "destroy leaves nothing");
}
