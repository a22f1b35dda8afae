//! Trust in a real account: objects that are not the stack's are never adopted, re-tagged
//! or deleted; the account-wide dashboard name carries the region; every command gets
//! through 20% injected faults; a change whose journal entry was lost is recorded by the
//! next plan. Effects are verified with the SDK and the aws CLI.

mod common;

use common::proxy::{Outcome, Proxy};
use common::{aws_cli, counts, ec2, sdk, Stack, DESTROY_ALL};
use std::collections::BTreeMap;

/// Operations that change something, from a proxy log.
fn mutating(log: &[common::proxy::Logged]) -> Vec<String> {
    log.iter().filter(|l| !l.read_only).map(|l| l.operation.clone()).collect()
}

fn first_of_kind(s: &Stack, kind: &str) -> String {
    let state = s.state();
    state["resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["kind"] == kind)
        .and_then(|r| r["id"].as_str())
        .unwrap_or_else(|| panic!("no {kind} in state"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn untagged_objects_with_the_stacks_names_are_conflicts_never_adopted_or_deleted() {
    let mut s = Stack::from_file("conflict", "config/ha-stack.toml");
    let sns = aws_sdk_sns::Client::new(&sdk().await);
    // Someone else's topic with the name of the stack's alarm topic, no hactl tags.
    let topic_name = format!("{}-alarms", s.name);
    let arn = sns.create_topic().name(&topic_name).send().await.unwrap().topic_arn().unwrap().to_string();

    let proxy = Proxy::start(0.0, 1);
    let direct = std::mem::replace(&mut s.endpoint, proxy.endpoint.clone());
    for args in [&["plan"][..], &["apply", "--auto-approve"][..]] {
        let r = s.ok(args, 1);
        assert!(r.stderr.contains(&arn), "{args:?} names the foreign topic:\n{}", r.stderr);
        assert!(r.stderr.contains("not this stack's"), "{args:?} says why:\n{}", r.stderr);
        assert!(
            r.stderr.contains("Import it (`hactl import ADDRESS ID`), rename the stack, or delete it"),
            "{}",
            r.stderr
        );
        let log = proxy.take_log();
        assert!(log.len() > 20, "the run read AWS through the proxy ({} requests)", log.len());
        assert_eq!(mutating(&log), Vec::<String>::new(), "{args:?} made no mutating call");
    }
    // The topic is untouched: no tags added.
    let tags = sns.list_tags_for_resource().resource_arn(&arn).send().await.unwrap();
    assert!(tags.tags().is_empty(), "the foreign topic was re-tagged: {:?}", tags.tags());
    assert_eq!(counts(&ec2().await, &s).await.vpcs, 0, "nothing was created");

    // Once the topic is gone, apply works.
    sns.delete_topic().topic_arn(&arn).send().await.unwrap();
    s.endpoint = direct;
    s.ok(&["apply", "--auto-approve"], 0);

    // A log group and an IAM role of the stack lose their hactl tags out of band, and the
    // state file is lost: by the ownership rule they are no longer the stack's.
    let log_group = first_of_kind(&s, "logs.log_group");
    let role = first_of_kind(&s, "iam.role");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk().await);
    let iam = aws_sdk_iam::Client::new(&sdk().await);
    let lg_arn = logs
        .describe_log_groups()
        .log_group_name_prefix(&log_group)
        .send()
        .await
        .unwrap()
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(log_group.as_str()))
        .and_then(|g| g.log_group_arn())
        .expect("log group")
        .trim_end_matches(":*")
        .to_string();
    logs.untag_resource()
        .resource_arn(&lg_arn)
        .tag_keys("hactl:stack")
        .tag_keys("hactl:address")
        .send()
        .await
        .unwrap();
    iam.untag_role().role_name(&role).tag_keys("hactl:stack").tag_keys("hactl:address").send().await.unwrap();
    std::fs::remove_file(s.state_dir.join(format!("{}.json", s.name))).unwrap();

    let r = s.ok(&DESTROY_ALL, 0);
    assert!(
        r.stdout.contains(&log_group) && r.stdout.contains(&role),
        "destroy names what it leaves:\n{}",
        r.stdout
    );
    // Both are still there (aws CLI), everything else is gone.
    let groups = aws_cli(&["logs", "describe-log-groups", "--log-group-name-prefix", &log_group]);
    assert!(groups.contains(&format!("\"logGroupName\": \"{log_group}\"")), "log group deleted: {groups}");
    let got = aws_cli(&["iam", "get-role", "--role-name", &role]);
    assert!(got.contains(&format!("\"RoleName\": \"{role}\"")), "role deleted: {got}");
    assert_eq!(counts(&ec2().await, &s).await, Default::default(), "the stack's own objects are gone");

    // Clean up the two leftovers by hand, as their owner would.
    for p in iam.list_role_policies().role_name(&role).send().await.unwrap().policy_names() {
        iam.delete_role_policy().role_name(&role).policy_name(p).send().await.unwrap();
    }
    for p in iam.list_instance_profiles_for_role().role_name(&role).send().await.unwrap().instance_profiles()
    {
        let name = p.instance_profile_name();
        iam.remove_role_from_instance_profile()
            .instance_profile_name(name)
            .role_name(&role)
            .send()
            .await
            .unwrap();
    }
    iam.delete_role().role_name(&role).send().await.unwrap();
    logs.delete_log_group().log_group_name(&log_group).send().await.unwrap();
}

/// The same stack name in two regions of one account: two dashboards, and destroying one
/// stack leaves the other's.
#[tokio::test(flavor = "multi_thread")]
async fn same_stack_in_two_regions_has_two_dashboards() {
    let east = Stack::from_file("tworegions", "config/ha-stack.toml");
    let text = std::fs::read_to_string(&east.config).unwrap().replace("us-east-1", "us-west-2");
    let west = Stack::named(&east.name, &text);
    assert_eq!(east.name, west.name);
    east.ok(&["apply", "--auto-approve"], 0);
    west.ok(&["apply", "--auto-approve"], 0);

    let cw = |region: &'static str| async move {
        let conf = sdk().await.into_builder().region(aws_config::Region::new(region)).build();
        aws_sdk_cloudwatch::Client::new(&conf)
    };
    let (cw_east, cw_west) = (cw("us-east-1").await, cw("us-west-2").await);
    let names = |c: aws_sdk_cloudwatch::Client, prefix: String| async move {
        let out = c.list_dashboards().dashboard_name_prefix(prefix).send().await.unwrap();
        out.dashboard_entries()
            .iter()
            .filter_map(|e| e.dashboard_name().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let east_names = names(cw_east.clone(), east.name.clone()).await;
    let west_names = names(cw_west.clone(), west.name.clone()).await;
    assert_eq!(east_names.len(), 1, "{east_names:?}");
    assert_eq!(west_names.len(), 1, "{west_names:?}");
    assert_ne!(east_names[0], west_names[0], "dashboard names are account-wide: they must differ");
    // Each carries its stack's ownership tags.
    for (c, name) in [(&cw_east, &east_names[0]), (&cw_west, &west_names[0])] {
        let arn =
            c.get_dashboard().dashboard_name(name).send().await.unwrap().dashboard_arn().unwrap().to_string();
        let tags: BTreeMap<String, String> = c
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .unwrap()
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect();
        assert_eq!(tags.get("hactl:stack"), Some(&east.name), "{name}: {tags:?}");
        assert_eq!(tags.get("hactl:address").map(String::as_str), Some("dashboard.main"));
    }

    west.ok(&DESTROY_ALL, 0);
    assert!(names(cw_west, west.name.clone()).await.is_empty(), "the destroyed stack's dashboard is gone");
    assert!(
        cw_east.get_dashboard().dashboard_name(&east_names[0]).send().await.is_ok(),
        "the other region's stays"
    );
    east.ok(&["drift"], 0);
    east.ok(&["plan", "--detailed-exitcode"], 0);
    east.ok(&DESTROY_ALL, 0);
}

/// Every command of a full stack's life gets through a proxy that answers 20% of the
/// requests with throttling or 5xx errors in each protocol's format, or cuts the
/// connection, for three seeds. The seeds run side by side (each its own stack and
/// proxy): most of their time is the SDK's backoff and adaptive rate limiting.
#[test]
fn twenty_percent_faults_apply_plan_drift_destroy() {
    let run_seed = |seed: u64| {
        let mut s = Stack::from_file(&format!("faults{seed}"), "config/ha-stack.toml");
        let proxy = Proxy::start(0.2, seed);
        s.endpoint = proxy.endpoint.clone();
        let (mut injected, mut total) = (0, 0);
        for args in [
            vec!["apply", "--auto-approve"],
            vec!["plan", "--detailed-exitcode"],
            vec!["drift"],
            DESTROY_ALL.to_vec(),
        ] {
            s.ok(&args, 0);
            let log = proxy.take_log();
            let faults = log.iter().filter(|l| l.outcome != Outcome::Forwarded).count();
            assert!(faults > 0, "seed {seed}: {args:?} met no fault in {} requests", log.len());
            injected += faults;
            total += log.len();
        }
        println!("seed {seed}: {injected} faults injected in {total} requests");
        // Verified directly against the emulator: nothing of the stack is left.
        s.endpoint = common::endpoint();
        let rt = tokio::runtime::Runtime::new().unwrap();
        assert_eq!(rt.block_on(async { counts(&ec2().await, &s).await }), Default::default(), "seed {seed}");
        let state = s.state();
        assert_eq!(state["resources"].as_object().map(|m| m.len()), Some(0), "seed {seed}");
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            [11u64, 23, 42].into_iter().map(|seed| scope.spawn(move || run_seed(seed))).collect();
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
}

/// A tag change reached AWS, then the process died before its journal entry: drift
/// reports it (state is older than AWS); one plan records it, and drift is clean again.
#[tokio::test(flavor = "multi_thread")]
async fn a_lost_journal_entry_is_recorded_by_the_next_plan() {
    let s = Stack::new("lostjournal");
    s.ok(&["apply", "--auto-approve"], 0);
    s.edit(|t| format!("{t}\n[resource_tags.\"vpc.main\"]\nteam = \"blue\"\n"));
    let out = s
        .command(&["apply", "--auto-approve"])
        .env("HACTL_FAULT", "crash-before-journal:vpc.main")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "the run was aborted");
    // AWS has the tag.
    let vpc = ec2()
        .await
        .describe_vpcs()
        .filters(s.tag_filter())
        .send()
        .await
        .unwrap()
        .vpcs()
        .first()
        .cloned()
        .expect("vpc");
    assert!(
        vpc.tags().iter().any(|t| t.key() == Some("team") && t.value() == Some("blue")),
        "{:?}",
        vpc.tags()
    );
    s.ok(&["drift"], 2);
    let r = s.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(r.stderr.contains("recorded in state: vpc.main"), "{}", r.stderr);
    s.ok(&["drift"], 0);
    s.ok(&DESTROY_ALL, 0);
}

/// State records the account and the endpoint it was made with: a run with another
/// account's credentials, through another endpoint, or against another region is refused
/// before any mutating call, naming both, and state is left as it was.
#[tokio::test(flavor = "multi_thread")]
async fn another_account_endpoint_or_region_is_refused() {
    let mut s = Stack::new("otheraccount");
    s.ok(&["apply", "--auto-approve"], 0);
    let state_file = s.state_dir.join(format!("{}.json", s.name));
    let before = std::fs::read(&state_file).unwrap();
    let recorded = s.state();
    assert_eq!(recorded["account_id"], "000000000000");
    assert_eq!(recorded["endpoint"].as_str(), Some(common::endpoint().trim_end_matches('/')));
    let vpcs_before = counts(&ec2().await, &s).await;

    // Another account: the emulator takes a 12-digit access key id as the account id.
    let out = s.command(&["plan"]).env("AWS_ACCESS_KEY_ID", "111111111111").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("000000000000") && err.contains("111111111111"), "names both accounts:\n{err}");
    let other = aws_sdk_ec2::Client::new(
        &sdk()
            .await
            .into_builder()
            .credentials_provider(aws_sdk_ec2::config::SharedCredentialsProvider::new(
                aws_sdk_ec2::config::Credentials::new("111111111111", "test", None, None, "test"),
            ))
            .build(),
    );
    assert_eq!(counts(&other, &s).await, Default::default(), "nothing was created in the other account");

    // Another endpoint (the same emulator behind a proxy): refused after the one STS read.
    let proxy = Proxy::start(0.0, 3);
    let direct = std::mem::replace(&mut s.endpoint, proxy.endpoint.clone());
    let r = s.ok(&["plan"], 1);
    assert!(
        r.stderr.contains(&proxy.endpoint) && r.stderr.contains(direct.trim_end_matches('/')),
        "{}",
        r.stderr
    );
    let log = proxy.take_log();
    assert!(!log.is_empty(), "the run went through the proxy");
    assert_eq!(mutating(&log), Vec::<String>::new());
    s.endpoint = direct;

    // Another region.
    let r = s.ok(&["plan", "--region", "us-west-2"], 1);
    assert!(r.stderr.contains("us-west-2") && r.stderr.contains("us-east-1"), "{}", r.stderr);

    // An account list that does not name this account.
    s.edit(|t| t.replacen("[stack]\n", "[stack]\nallowed_account_ids = [\"123456789012\"]\n", 1));
    let r = s.ok(&["apply", "--auto-approve"], 1);
    assert!(r.stderr.contains("000000000000") && r.stderr.contains("123456789012"), "{}", r.stderr);

    assert_eq!(std::fs::read(&state_file).unwrap(), before, "state untouched by the refused runs");
    assert_eq!(counts(&ec2().await, &s).await, vpcs_before, "nothing changed in AWS");
    s.edit(|t| {
        t.replace("allowed_account_ids = [\"123456789012\"]\n", "allowed_account_ids = [\"000000000000\"]\n")
    });
    s.ok(&DESTROY_ALL, 0);
}
