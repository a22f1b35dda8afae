//! Every resource kind's typed contract, shared by the expansion (hactl-config) and the
//! providers (hactl-aws): its name, its properties with how each one changes, whether its
//! API is global, and the read actions its provider calls.
//!
//! Each kind is a builder type (`kinds::ec2::Subnet`) with one method per property and a
//! constant per property name (`Subnet::VPC_ID`). The expansion builds resources through
//! the methods and the providers read properties through the constants, so a misspelt
//! property, or a property of another kind, does not compile:
//!
//! ```
//! use hactl_core::kinds::ec2::Subnet;
//! use hactl_core::{Address, ResourceSpec};
//! let spec: ResourceSpec = Subnet::new(Address::parse("subnet.app.us-east-1a").unwrap())
//!     .cidr_block("10.0.10.0/24")
//!     .map_public_ip_on_launch(false)
//!     .into();
//! assert_eq!(spec.kind, Subnet::KIND);
//! assert!(spec.props.contains_key(Subnet::CIDR_BLOCK));
//! ```
//!
//! ```compile_fail,E0599
//! use hactl_core::kinds::ec2::Subnet;
//! use hactl_core::Address;
//! // `cidr_blok` is not a property of ec2.subnet: error[E0599], no method named `cidr_blok`.
//! let _ = Subnet::new(Address::parse("subnet.app.us-east-1a").unwrap()).cidr_blok("10.0.10.0/24");
//! ```
//!
//! ```compile_fail,E0599
//! use hactl_core::kinds::ec2::Subnet;
//! // A property of another kind (ec2.vpc's `enable_dns_support`) is no subnet property.
//! let _ = Subnet::ENABLE_DNS_SUPPORT;
//! ```
//!
//! The serialised form is unchanged: properties stay a map of name to [`Value`] in state
//! and plan documents, so files written before this module read the same.

pub mod acm;
pub mod appautoscaling;
pub mod autoscaling;
pub mod cloudwatch;
pub mod docdb;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elbv2;
pub mod events;
pub mod iam;
pub mod lambda;
pub mod logs;
pub mod opensearch;
pub mod rds;
pub mod route53;
pub mod s3;
pub mod scheduler;
pub mod secretsmanager;
pub mod sfn;
pub mod sns;

use crate::{Address, KindSchema, Location, ResourceSpec, Value};

/// What the engine and the drift job's policy need to know of a kind beyond its schema.
#[derive(Debug)]
pub struct KindInfo {
    pub schema: &'static KindSchema,
    /// Its API is global (IAM, CloudWatch dashboards): objects live at
    /// [`Location::Global`].
    pub global: bool,
    /// Read actions that take no resource-level permission (`*` only), which the
    /// provider's read calls.
    pub reads: &'static [&'static str],
    /// Read actions the provider calls without naming a resource of the stack (listings
    /// AWS authorises against `*` only), although they take resource-level permissions.
    pub reads_account_wide: &'static [&'static str],
}

/// The typed builder every kind shares: placement and ordering.
pub trait Typed: Sized + Into<ResourceSpec> {
    fn spec_mut(&mut self) -> &mut ResourceSpec;

    /// Places the resource in `location` (`None`: the home region).
    fn at(mut self, location: Option<Location>) -> Self {
        self.spec_mut().location = location;
        self
    }

    /// An ordering dependency no property reference expresses.
    fn after(mut self, dep: &Address) -> Self {
        let deps = &mut self.spec_mut().depends_on;
        if !deps.contains(dep) {
            deps.push(dep.clone());
        }
        self
    }

    /// Sets a property by a name only known at run time (a map of optional keys); the
    /// typed methods are the rule.
    fn set(mut self, name: &'static str, v: impl Into<Value>) -> Self {
        self.spec_mut().props.insert(name.to_string(), v.into());
        self
    }
}

/// Declares the kinds of one service: see the service modules.
macro_rules! kinds {
    ($(
        $(#[doc = $doc:literal])*
        $ty:ident = $kind:literal $([$global:ident])? {
            reads: [$($read:literal),* $(,)?],
            reads_account_wide: [$($wide:literal),* $(,)?],
            $( $prop:ident / $name:ident : $mode:ident $(. $flag:ident)* ),* $(,)?
        }
    )*) => {
        $(
            $(#[doc = $doc])*
            #[derive(Clone, Debug, PartialEq)]
            #[must_use]
            pub struct $ty($crate::ResourceSpec);

            impl $ty {
                pub const KIND: &'static str = $kind;
                $(
                    #[doc = concat!("The `", stringify!($prop), "` property.")]
                    pub const $name: &'static str = stringify!($prop);
                )*
                pub const SCHEMA: $crate::KindSchema = $crate::KindSchema {
                    kind: $kind,
                    props: &[$( $crate::PropSchema::$mode(stringify!($prop)) $(.$flag())* ),*],
                };
                pub const INFO: $crate::kinds::KindInfo = $crate::kinds::KindInfo {
                    schema: &Self::SCHEMA,
                    global: $crate::kinds::kinds!(@global $($global)?),
                    reads: &[$($read),*],
                    reads_account_wide: &[$($wide),*],
                };

                /// A resource of this kind at `address`, no property set yet.
                pub fn new(address: $crate::Address) -> Self {
                    $ty($crate::ResourceSpec::new(address, $kind))
                }

                $(
                    #[doc = concat!("Sets `", stringify!($prop), "`.")]
                    pub fn $prop(mut self, v: impl Into<$crate::Value>) -> Self {
                        self.0.props.insert(stringify!($prop).to_string(), v.into());
                        self
                    }
                )*
            }

            impl From<$ty> for $crate::ResourceSpec {
                fn from(k: $ty) -> $crate::ResourceSpec {
                    k.0
                }
            }

            impl $crate::kinds::Typed for $ty {
                fn spec_mut(&mut self) -> &mut $crate::ResourceSpec {
                    &mut self.0
                }
            }
        )*

        /// This service's kinds.
        pub const ALL: &[&$crate::kinds::KindInfo] = &[$(&$ty::INFO),*];
    };
    (@global global) => { true };
    (@global) => { false };
}
pub(crate) use kinds;

/// Every kind hactl knows, by service.
pub fn all() -> impl Iterator<Item = &'static KindInfo> {
    [
        acm::ALL,
        appautoscaling::ALL,
        autoscaling::ALL,
        cloudwatch::ALL,
        docdb::ALL,
        ec2::ALL,
        ecr::ALL,
        ecs::ALL,
        elbv2::ALL,
        events::ALL,
        iam::ALL,
        lambda::ALL,
        logs::ALL,
        opensearch::ALL,
        rds::ALL,
        route53::ALL,
        s3::ALL,
        scheduler::ALL,
        secretsmanager::ALL,
        sfn::ALL,
        sns::ALL,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// The kind named `kind`, if hactl knows it.
pub fn info(kind: &str) -> Option<&'static KindInfo> {
    all().find(|k| k.schema.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn kinds_are_unique_and_named_by_their_service_module() {
        let names: Vec<&str> = all().map(|k| k.schema.kind).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "a kind is declared twice: {names:?}");
        assert_eq!(names.len(), 62);
        for k in all() {
            let props: BTreeSet<&str> = k.schema.props.iter().map(|p| p.name).collect();
            assert_eq!(props.len(), k.schema.props.len(), "{}: a property is declared twice", k.schema.kind);
        }
        assert_eq!(acm::ALL[0].schema.kind, "acm.certificate");
    }

    #[test]
    fn global_kinds_are_iam_and_dashboards() {
        let global: Vec<&str> = all().filter(|k| k.global).map(|k| k.schema.kind).collect();
        assert_eq!(
            global,
            [
                "cloudwatch.dashboard",
                "iam.instance_profile",
                "iam.oidc_provider",
                "iam.policy",
                "iam.role",
                "route53.hosted_zone",
                "route53.health_check",
                "route53.record",
            ]
        );
    }

    #[test]
    fn builders_set_properties_by_name_and_keep_placement() {
        let a = Address::parse("dr.vpc.main").unwrap();
        let spec: ResourceSpec = ec2::Vpc::new(a.clone())
            .cidr_block("10.1.0.0/16")
            .at(Some(Location::region("us-west-2")))
            .after(&Address::parse("igw.main").unwrap())
            .into();
        assert_eq!(spec.kind, "ec2.vpc");
        assert_eq!(spec.props.get(ec2::Vpc::CIDR_BLOCK), Some(&Value::str("10.1.0.0/16")));
        assert_eq!(spec.location, Some(Location::region("us-west-2")));
        assert_eq!(spec.depends_on.len(), 1);
        assert_eq!(info("ec2.vpc").map(|k| k.schema.kind), Some("ec2.vpc"));
        assert!(info("ec2.vpcs").is_none());
    }
}
