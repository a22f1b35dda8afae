//! config/multi-region.toml: the stack in a primary region (us-east-1) and a warm standby
//! (us-west-2), a DocumentDB global cluster with the credentials secret replicated, ECR
//! repositories replicated from the primary, Route 53 failover records, and the failover
//! drill there and back. Every effect is checked with the aws CLI in
//! each region, never by asking hactl.

mod common;

use common::{aws_cli, aws_cli_in, counts, sdk_in, Counts, Stack};
use serde_json::Value as J;

const HOME: &str = "us-east-1";
const DR: &str = "us-west-2";

fn cli(region: &str, args: &[&str]) -> J {
    serde_json::from_str(&aws_cli_in(region, args)).unwrap_or(J::Null)
}

/// What the network tier gives in each region: NAT per zone, three route tables for two
/// zones and the public one, three security groups plus the internal load balancer's.
fn network_counts() -> Counts {
    Counts {
        vpcs: 1,
        subnets: 6,
        igws: 1,
        eips: 2,
        nats: 2,
        route_tables: 3,
        security_groups: 4,
        endpoints: 1,
        network_acls: 3,
    }
}

/// Each service's desired count in `region`.
fn service_counts(region: &str, s: &Stack) -> Vec<(String, i64)> {
    let out = cli(region, &["ecs", "describe-services", "--cluster", &s.name, "--services", "web", "api"]);
    let mut v: Vec<(String, i64)> = out["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter(|x| x["status"] == "ACTIVE")
        .map(|x| (x["serviceName"].as_str().unwrap().to_string(), x["desiredCount"].as_i64().unwrap()))
        .collect();
    v.sort();
    v
}

fn counts_of(web: i64, api: i64) -> Vec<(String, i64)> {
    vec![("api".to_string(), api), ("web".to_string(), web)]
}

/// The public load balancer's DNS name in `region`.
fn alb_dns(region: &str, s: &Stack) -> String {
    let out = cli(region, &["elbv2", "describe-load-balancers", "--names", &format!("{}-public", s.name)]);
    out["LoadBalancers"][0]["DNSName"].as_str().expect("DNSName").to_string()
}

/// The stack's public hosted zone id (by its hactl:stack tag: `zone` is shared by test
/// runs; the stack's private zones of its internal services are left out).
fn zone_id(s: &Stack) -> Option<String> {
    let zones = cli(HOME, &["route53", "list-hosted-zones"]);
    for z in zones["HostedZones"].as_array().expect("HostedZones") {
        if z["Config"]["PrivateZone"] == true {
            continue;
        }
        let id = z["Id"].as_str().unwrap().trim_start_matches("/hostedzone/").to_string();
        let tags = cli(
            HOME,
            &["route53", "list-tags-for-resource", "--resource-type", "hostedzone", "--resource-id", &id],
        );
        let ours = tags["ResourceTagSet"]["Tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["Key"] == "hactl:stack" && t["Value"] == s.name.as_str()));
        if ours {
            return Some(id);
        }
    }
    None
}

/// The failover records of the domain: (set identifier, PRIMARY/SECONDARY, alias DNS
/// name, health check's FQDN and path), by set identifier.
fn failover_records(zone: &str) -> Vec<(String, String, String, String, String)> {
    let sets = cli(HOME, &["route53", "list-resource-record-sets", "--hosted-zone-id", zone]);
    let mut out = Vec::new();
    for r in sets["ResourceRecordSets"].as_array().expect("record sets") {
        if r["Type"] != "A" {
            continue;
        }
        assert_eq!(r["Name"], "app.hactl-demo.example.com.");
        assert_eq!(r["AliasTarget"]["EvaluateTargetHealth"], true);
        let hc = r["HealthCheckId"].as_str().expect("a health check on each record");
        let check = cli(HOME, &["route53", "get-health-check", "--health-check-id", hc]);
        let c = &check["HealthCheck"]["HealthCheckConfig"];
        out.push((
            r["SetIdentifier"].as_str().unwrap().to_string(),
            r["Failover"].as_str().unwrap().to_string(),
            r["AliasTarget"]["DNSName"].as_str().unwrap().trim_end_matches('.').to_lowercase(),
            c["FullyQualifiedDomainName"].as_str().unwrap().to_lowercase(),
            c["ResourcePath"].as_str().unwrap().to_string(),
        ));
    }
    out.sort();
    out
}

/// Records as they should be with `primary` serving traffic: the record `primary`
/// (PRIMARY) at its load balancer, `secondary` (SECONDARY) at the other region's.
fn expected_records(s: &Stack, primary: &str) -> Vec<(String, String, String, String, String)> {
    let other = if primary == HOME { DR } else { HOME };
    let mut want: Vec<_> = [("primary", "PRIMARY", primary), ("secondary", "SECONDARY", other)]
        .iter()
        .map(|(id, role, region)| {
            let dns = alb_dns(region, s).to_lowercase();
            (id.to_string(), role.to_string(), dns.clone(), dns, "/".to_string())
        })
        .collect();
    want.sort();
    want
}

fn repository(region: &str, s: &Stack) -> Option<J> {
    let out = cli(region, &["ecr", "describe-repositories"]);
    let name = format!("{}/api", s.name);
    out["repositories"]
        .as_array()
        .expect("repositories")
        .iter()
        .find(|r| r["repositoryName"] == name.as_str())
        .cloned()
}

/// The registry's replication rules filtering on the stack's prefix.
fn replication_rules(s: &Stack) -> Vec<J> {
    let out = cli(HOME, &["ecr", "describe-registry"]);
    let prefix = format!("{}/", s.name);
    out["replicationConfiguration"]["rules"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .filter(|r| {
                    r["repositoryFilters"]
                        .as_array()
                        .is_some_and(|f| f.iter().any(|f| f["filter"] == prefix.as_str()))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The global cluster's members: (region of the member cluster, is it the writer).
fn global_members(s: &Stack) -> Vec<(String, bool)> {
    let out = cli(
        HOME,
        &[
            "docdb",
            "describe-global-clusters",
            "--global-cluster-identifier",
            &format!("{}-{HOME}-global", s.name),
        ],
    );
    let mut m: Vec<(String, bool)> = out["GlobalClusters"][0]["GlobalClusterMembers"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            let arn = m["DBClusterArn"].as_str().unwrap();
            (arn.split(':').nth(3).unwrap().to_string(), m["IsWriter"].as_bool().unwrap())
        })
        .collect();
    m.sort();
    m
}

fn writer_in(region: &str) -> Vec<(String, bool)> {
    vec![(HOME.to_string(), region == HOME), (DR.to_string(), region == DR)]
}

/// The stack's DocumentDB clusters in `region` (live, any status).
fn db_clusters(region: &str, s: &Stack) -> Vec<J> {
    let out = cli(region, &["docdb", "describe-db-clusters"]);
    out["DBClusters"]
        .as_array()
        .expect("DBClusters")
        .iter()
        .filter(|c| c["DBClusterIdentifier"].as_str().is_some_and(|i| i.starts_with(&s.name)))
        .cloned()
        .collect()
}

/// The step times a failover printed (ms) and its total (ms).
fn step_times(stdout: &str) -> (Vec<u64>, u64) {
    let ms = |t: &str| -> u64 {
        let t = t.trim().trim_end_matches('s');
        let (s, frac) = t.split_once('.').expect("seconds with 3 decimals");
        s.parse::<u64>().unwrap() * 1000 + frac.parse::<u64>().unwrap()
    };
    let steps: Vec<u64> = stdout
        .lines()
        .filter(|l| l.trim_start().chars().next().is_some_and(|c| c.is_ascii_digit()))
        .map(|l| ms(l.rsplit(' ').next().unwrap()))
        .collect();
    let total = stdout
        .lines()
        .find_map(|l| l.split("after ").nth(1))
        .map(|t| ms(t.split(' ').next().unwrap()))
        .expect("a total");
    (steps, total)
}

/// The drill: traffic to `to`, checked with the CLI; the next plan is empty.
fn fail_over(s: &Stack, to: &str) {
    let r = s.ok(&["failover", "--to-region", to], 0);
    let (steps, total) = step_times(&r.stdout);
    assert_eq!(steps.len(), 6, "{}", r.stdout);
    assert_eq!(global_members(s), writer_in(to), "the DocumentDB cluster in {to} writes");
    assert_eq!(steps.iter().sum::<u64>(), total, "the printed step times add up to the total: {}", r.stdout);
    let other = if to == HOME { DR } else { HOME };
    assert_eq!(service_counts(to, s), counts_of(2, 2), "{to} serves at full counts");
    assert_eq!(service_counts(other, s), counts_of(1, 1), "{other} stands by");
    let zone = zone_id(s).expect("zone");
    assert_eq!(failover_records(&zone), expected_records(s, to));
    s.ok(&["plan", "--detailed-exitcode"], 0);
    assert_eq!(s.ok(&["output", "active_region"], 0).stdout.trim(), to);
}

#[tokio::test]
async fn two_regions_with_ecr_dns_failover_drill_and_destroy() {
    let s = Stack::from_file("mr", "config/multi-region.toml");
    s.ok(&["apply", "--auto-approve"], 0);

    // Each region: its VPC and subnets over two zones, NAT per zone, the services at
    // their counts (the standby at [dr.desired_counts]).
    for (region, cidr) in [(HOME, "10.0.0.0/16"), (DR, "10.1.0.0/16")] {
        let ec2 = aws_sdk_ec2::Client::new(&sdk_in(region).await);
        assert_eq!(counts(&ec2, &s).await, network_counts(), "{region}");
        let vpcs = cli(
            region,
            &["ec2", "describe-vpcs", "--filters", &format!("Name=tag:hactl:stack,Values={}", s.name)],
        );
        assert_eq!(vpcs["Vpcs"][0]["CidrBlock"], cidr);
        let subnets = cli(
            region,
            &["ec2", "describe-subnets", "--filters", &format!("Name=tag:hactl:stack,Values={}", s.name)],
        );
        let mut zones: Vec<&str> = subnets["Subnets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["AvailabilityZone"].as_str().unwrap())
            .collect();
        zones.sort();
        zones.dedup();
        assert_eq!(zones, [format!("{region}a"), format!("{region}b")]);
        // ECR: the api repository, scanned on push, AES256, with the lifecycle policy.
        let repo = repository(region, &s).expect("the api repository");
        assert_eq!(repo["imageScanningConfiguration"]["scanOnPush"], true, "{region}");
        assert_eq!(repo["encryptionConfiguration"]["encryptionType"], "AES256", "{region}");
        let policy =
            cli(region, &["ecr", "get-lifecycle-policy", "--repository-name", &format!("{}/api", s.name)]);
        let doc: J = serde_json::from_str(policy["lifecyclePolicyText"].as_str().unwrap()).unwrap();
        assert_eq!(doc["rules"][0]["selection"]["tagStatus"], "untagged");
        assert_eq!(doc["rules"][0]["selection"]["countNumber"], 7);
        assert_eq!(doc["rules"][1]["selection"]["countNumber"], 20);
        // The task definition pulls from its own region's repository.
        let td = cli(
            region,
            &["ecs", "describe-task-definition", "--task-definition", &format!("{}-api", s.name)],
        );
        let image = td["taskDefinition"]["containerDefinitions"][0]["image"].as_str().unwrap().to_string();
        assert!(image.contains(&format!(".dkr.ecr.{region}.amazonaws.com/{}/api:1.0.0", s.name)), "{image}");
    }
    assert_eq!(service_counts(HOME, &s), counts_of(2, 2));
    assert_eq!(service_counts(DR, &s), counts_of(1, 1));

    // The database: the primary cluster writes, a secondary in the DR region with its
    // two instances; the credentials replicated there, each region's connection secret
    // naming its own cluster, each region's tasks reading their own region's secrets.
    assert_eq!(global_members(&s), writer_in(HOME));
    let dr_cluster = db_clusters(DR, &s);
    assert_eq!(dr_cluster.len(), 1);
    assert_eq!(dr_cluster[0]["DBClusterMembers"].as_array().unwrap().len(), 2);
    assert_eq!(dr_cluster[0]["StorageEncrypted"], true);
    let secret = format!("hactl/{}/db-credentials", s.name);
    let status = cli(HOME, &["secretsmanager", "describe-secret", "--secret-id", &secret]);
    assert_eq!(status["ReplicationStatus"][0]["Region"], DR);
    assert_eq!(status["ReplicationStatus"][0]["Status"], "InSync");
    let replica = cli(DR, &["secretsmanager", "describe-secret", "--secret-id", &secret]);
    assert_eq!(replica["PrimaryRegion"], HOME);
    for region in [HOME, DR] {
        let conn = cli(
            region,
            &[
                "secretsmanager",
                "get-secret-value",
                "--secret-id",
                &format!("hactl/{}/db-connection", s.name),
            ],
        );
        let fields: J = serde_json::from_str(conn["SecretString"].as_str().unwrap()).unwrap();
        assert_eq!(fields["host"], db_clusters(region, &s)[0]["Endpoint"], "{region}");
        let td = cli(
            region,
            &["ecs", "describe-task-definition", "--task-definition", &format!("{}-web", s.name)],
        );
        for var in td["taskDefinition"]["containerDefinitions"][0]["secrets"].as_array().unwrap() {
            let from = var["valueFrom"].as_str().unwrap();
            assert!(from.starts_with(&format!("arn:aws:secretsmanager:{region}:")), "{region}: {from}");
        }
    }
    let rules = replication_rules(&s);
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["destinations"][0]["region"], DR);

    // DNS: the primary record at us-east-1's load balancer, the secondary at us-west-2's,
    // each health checked on its own load balancer.
    let zone = zone_id(&s).expect("the stack's hosted zone");
    assert_eq!(failover_records(&zone), expected_records(&s, HOME));

    // Nothing to do, no drift.
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);

    rotate_replicated_credentials(&s, &secret);

    // A rule added by hand to the standby's app security group: drift of that region's
    // resource, named with its region; apply takes it out again.
    let sg = common::state_id(&s, "dr.sg.app");
    aws_cli_in(
        DR,
        &[
            "ec2",
            "authorize-security-group-ingress",
            "--group-id",
            &sg,
            "--protocol",
            "tcp",
            "--port",
            "22",
            "--cidr",
            "10.9.0.0/16",
        ],
    );
    let d = s.ok(&["drift", "--json"], 2);
    let report: J = serde_json::from_str(&d.stdout).expect("drift json");
    let changed = report["changed"].as_array().expect("changed");
    assert_eq!(changed.len(), 1, "{}", d.stdout);
    assert_eq!(changed[0]["address"], "dr.sg_rules.app");
    assert_eq!(changed[0]["location"], DR);
    s.ok(&["apply", "--auto-approve"], 0);
    let rules = cli(
        DR,
        &["ec2", "describe-security-group-rules", "--filters", &format!("Name=group-id,Values={sg}")],
    );
    assert!(
        !rules["SecurityGroupRules"].as_array().unwrap().iter().any(|r| r["CidrIpv4"] == "10.9.0.0/16"),
        "the rule added by hand is gone"
    );
    s.ok(&["drift"], 0);

    // The drill: to the standby and back.
    fail_over(&s, DR);
    s.ok(&["drift"], 0);
    fail_over(&s, HOME);

    // After the drill there and back: a failover to the standby once more, then destroy
    // (the order between the databases follows their roles).
    fail_over(&s, DR);

    // Destroy leaves nothing in either region, nor the global objects.
    s.ok(
        &[
            "destroy",
            "--auto-approve",
            "--force-delete-secrets",
            "--allow-delete-protected",
            "--skip-final-snapshot",
        ],
        0,
    );
    for region in [HOME, DR] {
        let ec2 = aws_sdk_ec2::Client::new(&sdk_in(region).await);
        assert_eq!(counts(&ec2, &s).await, Counts::default(), "{region}");
        assert!(repository(region, &s).is_none(), "{region}: repository left");
        let clusters = cli(region, &["ecs", "describe-clusters", "--clusters", &s.name]);
        assert!(
            clusters["clusters"].as_array().unwrap().iter().all(|c| c["status"] != "ACTIVE"),
            "{region}: cluster left"
        );
        let lbs = cli(region, &["elbv2", "describe-load-balancers"]);
        assert!(
            !lbs["LoadBalancers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["LoadBalancerName"].as_str().is_some_and(|n| n.starts_with(&s.name))),
            "{region}: load balancer left"
        );
        let topics = cli(region, &["sns", "list-topics"]);
        assert!(
            !topics["Topics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["TopicArn"].as_str().unwrap().contains(&s.name)),
            "{region}: topic left"
        );
        let alarms = cli(region, &["cloudwatch", "describe-alarms", "--alarm-name-prefix", &s.name]);
        assert!(alarms["MetricAlarms"].as_array().unwrap().is_empty(), "{region}: alarms left");
        assert!(db_clusters(region, &s).is_empty(), "{region}: DocumentDB cluster left");
        let secrets = cli(region, &["secretsmanager", "list-secrets"]);
        assert!(
            !secrets["SecretList"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["Name"].as_str().unwrap().contains(&s.name)),
            "{region}: secret left"
        );
    }
    let globals = cli(HOME, &["docdb", "describe-global-clusters"]);
    assert!(!globals.to_string().contains(&format!("{}-{HOME}-global", s.name)), "global cluster left");
    assert!(replication_rules(&s).is_empty());
    assert!(zone_id(&s).is_none(), "hosted zone left");
    let checks = aws_cli(&["route53", "list-health-checks"]);
    assert!(!checks.contains(&s.name), "health checks left");
    assert!(s.state()["resources"].as_object().unwrap().is_empty());
}

/// The password in the secret's current version in `region` (compared, never printed).
fn current_password(region: &str, secret: &str) -> String {
    let v = cli(region, &["secretsmanager", "get-secret-value", "--secret-id", secret]);
    let j: J = serde_json::from_str(v["SecretString"].as_str().expect("string")).expect("JSON");
    j["password"].as_str().expect("password").to_string()
}

/// Each service's PRIMARY deployment id in `region`.
fn primary_deployments(region: &str, s: &Stack) -> Vec<(String, String)> {
    let listed = cli(region, &["ecs", "list-services", "--cluster", &s.name]);
    let arns: Vec<String> =
        listed["serviceArns"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    assert_eq!(arns.len(), 2, "{region}: web and api: {arns:?}");
    let mut args = vec!["ecs", "describe-services", "--cluster", s.name.as_str(), "--services"];
    args.extend(arns.iter().map(String::as_str));
    let d = cli(region, &args);
    let mut out: Vec<(String, String)> = d["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|svc| {
            let primary = svc["deployments"].as_array().unwrap().iter().find(|x| x["status"] == "PRIMARY");
            (svc["serviceName"].as_str().unwrap().to_string(), primary.expect("PRIMARY")["id"].to_string())
        })
        .collect();
    out.sort();
    out
}

/// `rotate-credentials` on a [dr] stack: hactl's replicated secret gets a new password in
/// both regions, a version a stopped run left pending is taken up, every service of both
/// regions is redeployed, and the next plan and drift find nothing.
fn rotate_replicated_credentials(s: &Stack, secret: &str) {
    let before = current_password(HOME, secret);
    let deployed = [primary_deployments(HOME, s), primary_deployments(DR, s)];
    // A run stopped after staging its version: the next run finishes that one.
    let staged = format!("Staged{}", common::unique_token().replace('-', ""));
    let value =
        serde_json::json!({"username": "hactladmin", "password": staged, "engine": "docdb"}).to_string();
    cli(
        HOME,
        &[
            "secretsmanager",
            "put-secret-value",
            "--secret-id",
            secret,
            "--secret-string",
            &value,
            "--version-stages",
            "AWSPENDING",
        ],
    );
    let r = s.ok(&["rotate-credentials"], 0);
    assert!(r.stderr.contains("taking up the rotation left pending"), "{}", r.stderr);
    assert_eq!(current_password(HOME, secret), staged);
    assert_eq!(current_password(DR, secret), staged, "the replica");
    // And a rotation of its own: a new password, everywhere, never printed.
    let r = s.ok(&["rotate-credentials"], 0);
    let after = current_password(HOME, secret);
    assert!(after != before && after != staged && !after.is_empty());
    assert_eq!(current_password(DR, secret), after, "the replica");
    let stages = cli(HOME, &["secretsmanager", "describe-secret", "--secret-id", secret]);
    let pending = stages["VersionIdsToStages"].to_string();
    assert!(!pending.contains("AWSPENDING"), "{pending}");
    for (i, region) in [HOME, DR].into_iter().enumerate() {
        let now = primary_deployments(region, s);
        for ((name, id), (_, was)) in now.iter().zip(&deployed[i]) {
            assert_ne!(id, was, "{region}: {name} got no new deployment");
        }
        assert!(r.stderr.contains(&format!("service(s) in {region} stable")), "{}", r.stderr);
    }
    for text in [format!("{}{}", r.stdout, r.stderr), s.state().to_string()] {
        for p in [&after, &before, &staged] {
            assert!(!text.contains(p.as_str()), "a password leaked");
        }
    }
    s.ok(&["plan", "--detailed-exitcode"], 0);
    s.ok(&["drift"], 0);
}

/// The instance `id` in `region`: (its replica source, if a read replica).
fn rds_source(region: &str, id: &str) -> Option<String> {
    let out = cli(region, &["rds", "describe-db-instances", "--db-instance-identifier", id]);
    out["DBInstances"][0]["ReadReplicaSourceDBInstanceIdentifier"].as_str().map(String::from)
}

#[tokio::test]
async fn postgres_across_regions_is_a_replica_promoted_one_way() {
    // config/multi-region.toml with RDS PostgreSQL instead of DocumentDB.
    let text = std::fs::read_to_string(common::repo_root().join("config/multi-region.toml")).expect("config");
    let text = text
        .replace("engine = \"docdb\"", "engine = \"postgres\"")
        .replace("instance_class = \"db.r5.large\"\ninstances = 2\n", "instance_class = \"db.t3.medium\"\n")
        .replace("[database]\n", "[database]\npassword_rotation_days = 14\n");
    // State in S3 and the drift job's image: the scheduled rotation runs `hactl
    // rotate-credentials` as the drift job runs `hactl drift`.
    let s = Stack::from_text("mrpg", &text);
    let bucket = format!("{}-state", s.name);
    let s3 = common::s3().await;
    s3.create_bucket().bucket(&bucket).send().await.expect("CreateBucket");
    s.edit(|t| {
        format!(
            "{t}\n[state]\nbackend = \"s3\"\nbucket = \"{bucket}\"\n\n[drift]\nschedule = \"rate(1 hour)\"\n\
             image = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/hactl:0.1\"\nconfig_path = \"config/stack.toml\"\n"
        )
    });
    s.ok(&["apply", "--auto-approve"], 0);
    scheduled_rotation_job(&s);
    let id = format!("{}-pg", s.name);
    let primary_arn = format!("arn:aws:rds:{HOME}:000000000000:db:{id}");
    assert_eq!(rds_source(HOME, &id), None);
    assert_eq!(rds_source(DR, &id).as_deref(), Some(primary_arn.as_str()), "a cross-region read replica");
    let replica = cli(DR, &["rds", "describe-db-instances", "--db-instance-identifier", &id]);
    assert_eq!(replica["DBInstances"][0]["StorageEncrypted"], true);
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // The drill: the replica is promoted and writes; the next plan is empty.
    let r = s.ok(&["failover", "--to-region", DR], 0);
    assert!(
        r.stdout.contains("make the PostgreSQL instance in us-west-2 the writer (promoted)"),
        "{}",
        r.stdout
    );
    assert_eq!(rds_source(DR, &id), None);
    assert_eq!(service_counts(DR, &s), counts_of(2, 2));
    s.ok(&["plan", "--detailed-exitcode"], 0);
    // A rotation (what the job runs) now sets the password on the DR region's instance,
    // the writer since the promotion.
    let secret = format!("hactl/{}/db-credentials", s.name);
    let before = current_password(HOME, &secret);
    let r = s.ok(&["rotate-credentials"], 0);
    assert!(r.stderr.contains("Rotated:"), "{}", r.stderr);
    let after = current_password(HOME, &secret);
    assert_ne!(after, before);
    assert_eq!(current_password(DR, &secret), after, "the replica");
    s.ok(&["plan", "--detailed-exitcode"], 0);

    // Back: refused while the old primary is standalone (its data stopped at the
    // promotion), with nothing changed.
    let serial = s.state_serial();
    let back = s.ok(&["failover", "--to-region", HOME], 1);
    assert!(back.stderr.contains("is no longer a read replica"), "{}", back.stderr);
    assert_eq!(s.state_serial(), serial);
    assert_eq!(service_counts(HOME, &s), counts_of(1, 1));

    // Re-created as a replica of the new writer, it can take over again.
    aws_cli_in(
        HOME,
        &[
            "rds",
            "modify-db-instance",
            "--db-instance-identifier",
            &id,
            "--no-deletion-protection",
            "--apply-immediately",
        ],
    );
    aws_cli_in(
        HOME,
        &["rds", "delete-db-instance", "--db-instance-identifier", &id, "--skip-final-snapshot"],
    );
    s.ok(&["apply", "--auto-approve"], 0);
    let dr_arn = format!("arn:aws:rds:{DR}:000000000000:db:{id}");
    assert_eq!(rds_source(HOME, &id).as_deref(), Some(dr_arn.as_str()));
    s.ok(&["failover", "--to-region", HOME], 0);
    assert_eq!(rds_source(HOME, &id), None);
    assert_eq!(service_counts(HOME, &s), counts_of(2, 2));
    s.ok(&["plan", "--detailed-exitcode"], 0);

    s.ok(&common::DESTROY_ALL, 0);
    for region in [HOME, DR] {
        let all = cli(region, &["rds", "describe-db-instances"]);
        assert!(!all.to_string().contains(&id), "{region}: instance left");
    }
    let schedules = cli(HOME, &["scheduler", "list-schedules"]);
    assert!(!schedules.to_string().contains(&format!("hactl-{}", s.name)), "{schedules}");
    common::delete_bucket(&s3, &bucket).await;
}

/// With `[dr]` and `password_rotation_days`: a schedule of the drift job's group runs
/// `hactl rotate-credentials` as a Fargate task of the stack's cluster every 14 days,
/// with a task role that may change only the stack's secret, databases and services
/// (both regions). The emulator runs no task: what the task runs is `hactl
/// rotate-credentials` with the same config and state, which the test runs itself.
fn scheduled_rotation_job(s: &Stack) {
    let group = format!("hactl-{}", s.name);
    let schedule =
        cli(HOME, &["scheduler", "get-schedule", "--group-name", &group, "--name", "rotate-credentials"]);
    assert_eq!(schedule["ScheduleExpression"], "rate(14 days)", "{schedule}");
    assert_eq!(schedule["State"], "ENABLED");
    let td_arn = schedule["Target"]["EcsParameters"]["TaskDefinitionArn"].as_str().expect("task definition");
    assert!(td_arn.contains(&format!(":task-definition/{}-rotation_job:", s.name)), "{td_arn}");
    let td = cli(HOME, &["ecs", "describe-task-definition", "--task-definition", td_arn]);
    let container = &td["taskDefinition"]["containerDefinitions"][0];
    assert_eq!(
        container["command"],
        serde_json::json!(["--config", "config/stack.toml", "rotate-credentials"])
    );
    let role = td["taskDefinition"]["taskRoleArn"].as_str().expect("task role");
    let name = role.rsplit('/').next().expect("role name");
    let doc =
        cli(HOME, &["iam", "get-role-policy", "--role-name", name, "--policy-name", "rotate-credentials"]);
    let doc = match &doc["PolicyDocument"] {
        J::String(text) => serde_json::from_str(&common::percent_decode(text)).expect("policy JSON"),
        other => other.clone(),
    };
    let sid = |sid: &str| {
        doc["Statement"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["Sid"] == sid))
            .cloned()
            .unwrap_or(J::Null)
    };
    assert_eq!(
        sid("SetDatabasePassword")["Resource"],
        serde_json::json!([
            format!("arn:aws:rds:{HOME}:000000000000:db:{}-*", s.name),
            format!("arn:aws:rds:{DR}:000000000000:db:{}-*", s.name)
        ])
    );
    assert_eq!(
        sid("SetDatabasePassword")["Action"],
        serde_json::json!(["rds:ModifyDBInstance", "rds:DescribeDBInstances"])
    );
    let secret = sid("RotateCredentialsSecret")["Resource"].as_str().unwrap_or_default().to_string();
    assert!(secret.contains(&format!(":secret:hactl/{}/db-credentials", s.name)), "{doc}");
    assert_eq!(
        sid("RedeployServices")["Resource"],
        serde_json::json!([
            format!("arn:aws:ecs:{HOME}:000000000000:service/{}/*", s.name),
            format!("arn:aws:ecs:{DR}:000000000000:service/{}/*", s.name)
        ])
    );
}
