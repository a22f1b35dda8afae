//! `route53.*` kinds: their typed builders and property names (see [`crate::kinds`]).
//! Route 53 is a global API: every kind lives at `Location::Global`. AWS's `Type` fields
//! are `check_type` and `record_type` here (`type` is a Rust keyword: no builder method).

use crate::kinds::kinds;

kinds! {
    /// `route53.hosted_zone` (provider: `hactl-aws/src/route53/hosted_zone.rs`): a public
    /// hosted zone, or a private one associated with the VPC `vpc_id` of `vpc_region` (both
    /// null for a public zone). Outputs: `id` (the bare zone id), `name_servers`.
    HostedZone = "route53.hosted_zone" [global] {
        reads: ["route53:ListHostedZones"],
        reads_account_wide: [],
        name / NAME: replace,
        comment / COMMENT: in_place,
        vpc_id / VPC_ID: replace,
        vpc_region / VPC_REGION: replace,
        tags / TAGS: in_place,
    }
    /// `route53.health_check` (provider: `hactl-aws/src/route53/health_check.rs`): an HTTP
    /// or HTTPS health check of a domain name (the load balancer's DNS name).
    HealthCheck = "route53.health_check" [global] {
        reads: ["route53:ListHealthChecks"],
        reads_account_wide: [],
        check_type / CHECK_TYPE: replace,
        fqdn / FQDN: in_place,
        port / PORT: in_place,
        resource_path / RESOURCE_PATH: in_place,
        request_interval / REQUEST_INTERVAL: replace,
        failure_threshold / FAILURE_THRESHOLD: in_place,
        tags / TAGS: in_place,
    }
    /// `route53.record` (provider: `hactl-aws/src/route53/record.rs`): one alias record,
    /// failover (`failover` PRIMARY or SECONDARY, with `set_identifier` and an optional
    /// health check) or simple (`set_identifier`, `failover`, `health_check_id` null). No tags: the stack's records are the ones in its state. id =
    /// `<zone_id>/<name>/<type>/<set_identifier>`.
    Record = "route53.record" [global] {
        reads: [],
        reads_account_wide: [],
        zone_id / ZONE_ID: replace,
        name / NAME: replace,
        record_type / RECORD_TYPE: replace,
        set_identifier / SET_IDENTIFIER: replace,
        failover / FAILOVER: in_place,
        alias_dns_name / ALIAS_DNS_NAME: in_place,
        alias_zone_id / ALIAS_ZONE_ID: in_place,
        evaluate_target_health / EVALUATE_TARGET_HEALTH: in_place,
        health_check_id / HEALTH_CHECK_ID: in_place,
    }
}
