//! The provider tests, one binary: each module drives one service's providers (or checks
//! the kinds contract or the operator policy). One binary links the SDK once: nineteen
//! binaries of 170–260 MB each filled a CI machine's disk and took nineteen links.
//! Run one module with `cargo test -p hactl-aws --test providers <module>::`.

mod acm;
mod appautoscaling;
mod autoscaling;
mod cloudwatch;
mod common;
mod docdb;
mod ecr;
mod ecs;
mod elbv2;
mod iam;
mod iam_oidc_provider;
mod iam_policy;
mod kinds;
mod listener_rule;
mod log_shipping;
mod logs;
mod nacl;
mod opensearch;
mod operator_policy;
mod rds;
mod redeploy;
mod route53;
mod route53_private;
mod scheduler;
mod secretsmanager;
mod sns;
