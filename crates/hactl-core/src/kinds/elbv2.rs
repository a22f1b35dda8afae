//! `elbv2.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `elbv2.listener` (provider: `hactl-aws/src/elbv2/listener.rs`).
    Listener = "elbv2.listener" {
        reads: ["elasticloadbalancing:DescribeListeners"],
        reads_account_wide: [],
        load_balancer_arn / LOAD_BALANCER_ARN: replace,
        port / PORT: in_place,
        protocol / PROTOCOL: in_place,
        certificate_arn / CERTIFICATE_ARN: in_place,
        ssl_policy / SSL_POLICY: in_place,
        default_action / DEFAULT_ACTION: in_place,
        tags / TAGS: in_place,
    }
    /// `elbv2.listener_rule` (provider: `hactl-aws/src/elbv2/listener_rule.rs`): a rule of
    /// a listener that forwards the requests whose Host header is one of `host_headers` to a
    /// target group. `action` has the shape of a listener's `default_action`.
    ListenerRule = "elbv2.listener_rule" {
        reads: ["elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags"],
        reads_account_wide: [],
        listener_arn / LISTENER_ARN: replace,
        priority / PRIORITY: in_place,
        host_headers / HOST_HEADERS: in_place,
        // A path-pattern condition (e.g. ["/*"]), or null.
        path_patterns / PATH_PATTERNS: in_place,
        // An http-header condition {name, values}, or null.
        http_header / HTTP_HEADER: in_place,
        action / ACTION: in_place,
        tags / TAGS: in_place,
    }
    /// `elbv2.load_balancer` (provider: `hactl-aws/src/elbv2/load_balancer.rs`).
    LoadBalancer = "elbv2.load_balancer" {
        reads: ["ec2:DescribeNetworkInterfaces", "elasticloadbalancing:DescribeLoadBalancerAttributes", "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"],
        reads_account_wide: [],
        name / NAME: replace,
        scheme / SCHEME: replace,
        subnet_ids / SUBNET_IDS: in_place.as_set,
        security_group_ids / SECURITY_GROUP_IDS: in_place.as_set,
        deletion_protection / DELETION_PROTECTION: in_place,
        idle_timeout / IDLE_TIMEOUT: in_place,
        drop_invalid_header_fields / DROP_INVALID_HEADER_FIELDS: in_place,
        tags / TAGS: in_place,
    }
    /// `elbv2.target_group` (provider: `hactl-aws/src/elbv2/target_group.rs`).
    TargetGroup = "elbv2.target_group" {
        reads: ["elasticloadbalancing:DescribeTags", "elasticloadbalancing:DescribeTargetGroupAttributes", "elasticloadbalancing:DescribeTargetGroups"],
        reads_account_wide: [],
        name / NAME: replace,
        port / PORT: replace,
        protocol / PROTOCOL: replace,
        vpc_id / VPC_ID: replace,
        target_type / TARGET_TYPE: replace,
        health_check / HEALTH_CHECK: in_place,
        deregistration_delay / DEREGISTRATION_DELAY: in_place,
        tags / TAGS: in_place,
    }
}
