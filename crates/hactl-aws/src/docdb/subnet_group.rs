//! `docdb.subnet_group`: the DB subnet group `<stack>-db` over the data subnets. id = name.
//!
//! The provider is the RDS family's subnet group ([`crate::rds::family::subnet_group`])
//! with DocumentDB's rules: names as written, and a create's adoption or an update
//! answers the group as described before its changes.

use crate::rds::family::subnet_group::{SubnetGroupKind, SubnetGroups};
use crate::rds::family::{family_provider, Names};
use aws_sdk_docdb::Client;

pub struct SubnetGroup(pub Client, pub crate::tagging::Tagging);

static KIND: SubnetGroupKind = SubnetGroupKind {
    schema: hactl_core::kinds::docdb::SubnetGroup::SCHEMA,
    names: Names::Exact,
    // Still used by a cluster that is being deleted.
    in_use: &["InvalidDBSubnetGroupStateFault"],
    reread: false,
};

family_provider!(SubnetGroup, SubnetGroups, KIND);
