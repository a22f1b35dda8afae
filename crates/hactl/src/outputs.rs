//! `hactl output`: the values a person (or a script) needs after an apply, read from
//! state like `terraform output` (no AWS call): where the app answers, the database's
//! endpoints, the secrets' ARNs, the dashboard.

use hactl_core::{Address, Value};
use hactl_state::{ResourceState, State};
use serde_json::Value as J;
use std::collections::BTreeMap;

/// One output: its value and a line saying what it is (`hactl output` without a name
/// lists them with it).
pub struct Output {
    pub value: J,
    pub about: &'static str,
}

fn res<'a>(state: &'a State, address: &str) -> Option<&'a ResourceState> {
    Address::parse(address).ok().and_then(|a| state.resources.get(&a))
}

fn out_str(r: &ResourceState, key: &str) -> Option<String> {
    r.outputs.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// The stack's outputs, by name (only those its state has: a Fargate stack has no
/// DocumentDB reader endpoint, an unapplied stack has none at all).
pub fn stack_outputs(state: &State) -> BTreeMap<&'static str, Output> {
    let mut o = BTreeMap::new();
    let mut put = |name: &'static str, value: Option<J>, about: &'static str| {
        if let Some(value) = value {
            o.insert(name, Output { value, about });
        }
    };
    let public_dns = res(state, "alb.public").and_then(|r| out_str(r, "dns_name"));
    let https = res(state, "listener.public.https").is_some();
    put(
        "url",
        public_dns.as_ref().map(|d| J::from(format!("{}://{d}/", if https { "https" } else { "http" }))),
        "the public service's URL (the public load balancer)",
    );
    put("alb_dns_name", public_dns.clone().map(J::from), "the public load balancer's DNS name");
    put(
        "alb_zone_id",
        res(state, "alb.public").and_then(|r| out_str(r, "zone_id")).map(J::from),
        "its hosted zone id (for a Route 53 alias record)",
    );
    let internal_dns = res(state, "alb.internal").and_then(|r| out_str(r, "dns_name"));
    put("internal_alb_dns_name", internal_dns.map(J::from), "the internal load balancer's DNS name");
    // listener_rule.<service>: one per internal service, routing its host name.
    let urls: serde_json::Map<String, J> = state
        .resources
        .iter()
        .filter_map(|(a, r)| {
            let service = a.as_str().strip_prefix("listener_rule.")?;
            let host = r.props.get("host_headers").and_then(Value::as_list)?.first()?.as_str()?;
            Some((service.to_string(), J::from(format!("http://{host}"))))
        })
        .collect();
    put(
        "internal_service_urls",
        (!urls.is_empty()).then_some(J::Object(urls)),
        "each internal service's URL (the VPC's private zone), reachable from the app tier only",
    );
    let db = res(state, "db_cluster.main").or_else(|| res(state, "db_instance.main"));
    put(
        "db_endpoint",
        db.and_then(|r| out_str(r, "endpoint")).map(J::from),
        "the database's writer endpoint",
    );
    put(
        "db_reader_endpoint",
        res(state, "db_cluster.main").and_then(|r| out_str(r, "reader_endpoint")).map(J::from),
        "the DocumentDB reader endpoint (spreads reads over the replicas)",
    );
    put(
        "db_port",
        db.and_then(|r| r.outputs.get("port")).and_then(Value::as_int).map(J::from),
        "the database port",
    );
    put(
        "db_secret_arn",
        res(state, "secret.db")
            .and_then(|r| out_str(r, "arn"))
            .or_else(|| db.and_then(|r| out_str(r, "master_user_secret_arn")))
            .map(J::from),
        "the secret holding the database credentials (read it with GetSecretValue): the one the \
         database manages and rotates, or with [dr] hactl's",
    );
    put(
        "db_connection_secret_arn",
        res(state, "secret.db_connection").and_then(|r| out_str(r, "arn")).map(J::from),
        "the secret holding host, port, database name and username (nothing secret)",
    );
    put(
        "ecs_cluster",
        res(state, "ecs_cluster.main")
            .and_then(|r| out_str(r, "name").or_else(|| Some(r.id.clone())))
            .map(J::from),
        "the ECS cluster",
    );
    put("vpc_id", res(state, "vpc.main").map(|r| J::from(r.id.clone())), "the VPC");
    put(
        "alarm_topic_arn",
        res(state, "sns_topic.alarms").map(|r| J::from(r.id.clone())),
        "the SNS topic the alarms notify",
    );
    put(
        "ci_plan_role_arn",
        res(state, "iam_role.ci_plan").and_then(|r| out_str(r, "arn")).map(J::from),
        "the role GitHub Actions assumes to plan and report drift ([ci]; the workflow's HACTL_PLAN_ROLE_ARN)",
    );
    put(
        "ci_deploy_role_arn",
        res(state, "iam_role.ci_deploy").and_then(|r| out_str(r, "arn")).map(J::from),
        "the role GitHub Actions assumes to push images and apply ([ci]; HACTL_DEPLOY_ROLE_ARN)",
    );
    put(
        "log_analytics_endpoint",
        res(state, "opensearch_domain.logs")
            .and_then(|r| out_str(r, "endpoint"))
            .map(|e| J::from(format!("https://{e}"))),
        "the log analytics domain's endpoint ([log_analytics]; inside the VPC, from the app tier)",
    );
    put(
        "log_analytics_secret_arn",
        res(state, "secret.log_analytics").and_then(|r| out_str(r, "arn")).map(J::from),
        "the secret holding the log analytics domain's master user and password ([log_analytics])",
    );
    multi_region_outputs(state, &mut put);
    let dashboard = res(state, "dashboard.main").map(|r| out_str(r, "name").unwrap_or_else(|| r.id.clone()));
    put(
        "dashboard_url",
        dashboard.filter(|_| !state.region.is_empty()).map(|name| {
            J::from(format!(
                "https://{r}.console.aws.amazon.com/cloudwatch/home?region={r}#dashboards:name={name}",
                r = state.region
            ))
        }),
        "the CloudWatch dashboard in the AWS console",
    );
    o
}

/// With `[dr]`, `[dns]` and `ecr:` images: the active region, the DR region's URL, the
/// failover domain and the repositories.
fn multi_region_outputs(state: &State, put: &mut impl FnMut(&'static str, Option<J>, &'static str)) {
    if res(state, "dr.vpc.main").is_some() {
        put(
            "active_region",
            Some(J::from(state.active_region.clone().unwrap_or_else(|| state.region.clone()))),
            "the region serving traffic (`hactl failover --to-region` moves it)",
        );
    }
    let dr_dns = res(state, "dr.alb.public").and_then(|r| out_str(r, "dns_name"));
    let https = res(state, "dr.listener.public.https").is_some();
    put(
        "dr_url",
        dr_dns.map(|d| J::from(format!("{}://{d}/", if https { "https" } else { "http" }))),
        "the public service's URL in the DR region (its public load balancer)",
    );
    put(
        "dns_name",
        res(state, "dns_record.public")
            .and_then(|r| r.props.get("name"))
            .and_then(Value::as_str)
            .map(J::from),
        "the failover domain: Route 53 answers with the active region's load balancer",
    );
    put(
        "dns_zone_name_servers",
        res(state, "dns_zone.main")
            .and_then(|r| r.outputs.get("name_servers"))
            .and_then(|v| serde_json::to_value(v).ok()),
        "the created hosted zone's name servers (delegate the domain to them)",
    );
    let repos: serde_json::Map<String, J> = state
        .resources
        .iter()
        .filter(|(a, r)| r.kind == "ecr.repository" && !a.as_str().starts_with("dr."))
        .filter_map(|(_, r)| {
            let name = r.props.get("name").and_then(Value::as_str)?;
            Some((name.to_string(), J::from(out_str(r, "repository_uri")?)))
        })
        .collect();
    put(
        "ecr_repositories",
        (!repos.is_empty()).then_some(J::Object(repos)),
        "the stack's ECR repositories (push here; with [dr] ECR copies them to the DR region)",
    );
}

/// A value as `output NAME` prints it: strings bare (for `$(hactl output url)`), the rest
/// as JSON.
pub fn raw(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}
