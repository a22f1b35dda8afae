//! `rds.subnet_group`: the DB subnet group `<stack>-db` over the data subnets. id = name.
//!
//! The provider is the RDS family's subnet group ([`super::family::subnet_group`]) with
//! RDS's rules: names compare case-insensitively (RDS stores them in lower case), and a
//! create's adoption or an update answers the group as described again afterwards.

use super::family::subnet_group::{SubnetGroupKind, SubnetGroups};
use super::family::{family_provider, Names};
use aws_sdk_rds::Client;

pub struct SubnetGroup(pub Client, pub crate::tagging::Tagging);

static KIND: SubnetGroupKind = SubnetGroupKind {
    schema: hactl_core::kinds::rds::SubnetGroup::SCHEMA,
    names: Names::CaseInsensitive,
    in_use: &["InvalidDBSubnetGroupStateFault", "InvalidDBSubnetGroupState"],
    reread: true,
};

family_provider!(SubnetGroup, SubnetGroups, KIND);
