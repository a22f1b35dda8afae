//! `docdb.cluster_parameter_group`: the cluster parameter group `<stack>-docdb` (family
//! `docdb5.0`) with the parameters hactl sets (`{"tls": "enabled"}`). id = name.
//!
//! The provider is the RDS family's parameter group
//! ([`crate::rds::family::parameter_group`]) on DocumentDB's cluster parameter group
//! calls: DescribeDBClusterParameterGroups, DescribeDBClusterParameters,
//! Create/Modify/Reset/DeleteDBClusterParameterGroup. Create and delete look the group up
//! first (the emulator replaces a group on a repeated create and fails with an internal
//! error when deleting a missing one); a parameter change reads every page of the group's
//! parameters for their ApplyType, and resets are `pending-reboot`.

use crate::error::{aws_error, retry_not_found};
use crate::rds::family::parameter_group::{
    ApplyMethods, GroupInfo, ParameterApi, ParameterGroupKind, ParameterGroups, ParameterInfo, Visit,
};
use crate::rds::family::{family_provider, Names};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_docdb::types::{ApplyMethod, DbClusterParameterGroup, Parameter};
use aws_sdk_docdb::Client;
use hactl_core::kinds::docdb::ClusterParameterGroup as Kind;
use hactl_core::Props;
use hactl_engine::ProviderError;

pub struct ClusterParameterGroup(pub Client, pub crate::tagging::Tagging);

static KIND: ParameterGroupKind = ParameterGroupKind {
    schema: Kind::SCHEMA,
    what: "DB cluster parameter group",
    names: Names::Exact,
    family_prefix: None,
    look_first: true,
    apply_methods: ApplyMethods::OfSetOnes,
    // Still used by a cluster that is being deleted.
    in_use: &["InvalidDBParameterGroupState"],
};

family_provider!(ClusterParameterGroup, ParameterGroups, KIND);

fn info(g: &DbClusterParameterGroup) -> GroupInfo {
    GroupInfo {
        name: g.db_cluster_parameter_group_name().map(str::to_string),
        arn: g.db_cluster_parameter_group_arn().map(str::to_string),
        family: g.db_parameter_group_family().map(str::to_string),
        description: g.description().map(str::to_string),
    }
}

fn method(immediate: bool) -> ApplyMethod {
    if immediate {
        ApplyMethod::Immediate
    } else {
        ApplyMethod::PendingReboot
    }
}

#[async_trait]
impl ParameterApi for Client {
    async fn groups(&self) -> Result<Vec<GroupInfo>, ProviderError> {
        let groups: Vec<DbClusterParameterGroup> = self
            .describe_db_cluster_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBClusterParameterGroups", e))?;
        Ok(groups.iter().map(info).collect())
    }

    async fn group(&self, name: &str) -> Result<Option<GroupInfo>, ProviderError> {
        let out =
            self.describe_db_cluster_parameter_groups().db_cluster_parameter_group_name(name).send().await;
        let out = out.map_err(|e| aws_error("DescribeDBClusterParameterGroups", e))?;
        Ok(out.db_cluster_parameter_groups().first().map(info))
    }

    async fn scan_parameters(&self, name: &str, user: bool, visit: Visit<'_>) -> Result<(), ProviderError> {
        let mut req = self.describe_db_cluster_parameters().db_cluster_parameter_group_name(name);
        if user {
            req = req.source("user");
        }
        let mut params = req.into_paginator().items().send();
        while let Some(p) = params.next().await {
            let p = p.map_err(|e| aws_error("DescribeDBClusterParameters", e))?;
            if !visit(ParameterInfo::from(&p)) {
                break;
            }
        }
        Ok(())
    }

    async fn create_group(&self, name: &str, props: &Props) -> Result<GroupInfo, ProviderError> {
        let out = self
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .db_parameter_group_family(req_str(props, Kind::FAMILY)?)
            .description(req_str(props, Kind::DESCRIPTION)?)
            .set_tags(Some(super::tags_of(props)))
            .send()
            .await
            .map_err(|e| aws_error("CreateDBClusterParameterGroup", e))?;
        let group = out.db_cluster_parameter_group();
        group.map(info).ok_or_else(|| ProviderError::fatal("CreateDBClusterParameterGroup returned no group"))
    }

    async fn modify_parameters(
        &self,
        name: &str,
        params: Vec<(&str, &str, bool)>,
    ) -> Result<(), ProviderError> {
        let params = params.into_iter().map(|(k, v, immediate)| {
            Parameter::builder().parameter_name(k).parameter_value(v).apply_method(method(immediate)).build()
        });
        self.modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .set_parameters(Some(params.collect()))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_not_found(aws_error("ModifyDBClusterParameterGroup", e)))
    }

    async fn reset_parameters(&self, name: &str, params: Vec<(&str, bool)>) -> Result<(), ProviderError> {
        let params = params.into_iter().map(|(k, immediate)| {
            Parameter::builder().parameter_name(k).apply_method(method(immediate)).build()
        });
        self.reset_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .set_parameters(Some(params.collect()))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_not_found(aws_error("ResetDBClusterParameterGroup", e)))
    }

    async fn delete_group(&self, name: &str) -> Result<(), ProviderError> {
        let out = self.delete_db_cluster_parameter_group().db_cluster_parameter_group_name(name).send().await;
        out.map(drop).map_err(|e| aws_error("DeleteDBClusterParameterGroup", e))
    }
}
