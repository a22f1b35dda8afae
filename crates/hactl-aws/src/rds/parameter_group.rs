//! `rds.parameter_group`: the DB parameter group `<stack>-pg` (family `postgres16`) with
//! the parameters the stack sets (`{"rds.force_ssl": "1"}`). id = name.
//!
//! The provider is the RDS family's parameter group ([`super::family::parameter_group`])
//! on the DB parameter group calls: DescribeDBParameterGroups (whose answer holds every
//! engine's groups: only `postgres` families are read, recorded ones aside),
//! DescribeDBParameters, Create/Modify/Reset/DeleteDBParameterGroup. Create comes first
//! and adopts a group that exists already (checking its family); a parameter change reads
//! the group's parameters until it has found the ApplyType of every parameter it sets or
//! resets.

use super::family::parameter_group::{
    ApplyMethods, GroupInfo, ParameterApi, ParameterGroupKind, ParameterGroups, ParameterInfo, Visit,
};
use super::family::{family_provider, Names};
use super::tags_of;
use crate::error::{aws_error, retry_not_found};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_rds::types::{ApplyMethod, DbParameterGroup, Parameter};
use aws_sdk_rds::Client;
use hactl_core::kinds::rds::ParameterGroup as Kind;
use hactl_core::Props;
use hactl_engine::ProviderError;

pub struct ParameterGroup(pub Client, pub crate::tagging::Tagging);

static KIND: ParameterGroupKind = ParameterGroupKind {
    schema: Kind::SCHEMA,
    what: "DB parameter group",
    names: Names::CaseInsensitive,
    family_prefix: Some("postgres"),
    look_first: false,
    apply_methods: ApplyMethods::OfAll,
    in_use: &["InvalidDBParameterGroupState", "InvalidDBParameterGroupStateFault"],
};

family_provider!(ParameterGroup, ParameterGroups, KIND);

fn info(g: &DbParameterGroup) -> GroupInfo {
    GroupInfo {
        name: g.db_parameter_group_name().map(str::to_string),
        arn: g.db_parameter_group_arn().map(str::to_string),
        family: g.db_parameter_group_family().map(str::to_string),
        description: g.description().map(str::to_string),
    }
}

/// `immediate` for dynamic parameters, `pending-reboot` for the others.
fn method(immediate: bool) -> ApplyMethod {
    match immediate {
        true => ApplyMethod::Immediate,
        false => ApplyMethod::PendingReboot,
    }
}

#[async_trait]
impl ParameterApi for Client {
    async fn groups(&self) -> Result<Vec<GroupInfo>, ProviderError> {
        let all: Vec<DbParameterGroup> = self
            .describe_db_parameter_groups()
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("DescribeDBParameterGroups", e))?;
        Ok(all.iter().map(info).collect())
    }

    async fn group(&self, name: &str) -> Result<Option<GroupInfo>, ProviderError> {
        let answer = self.describe_db_parameter_groups().db_parameter_group_name(name).send().await;
        Ok(answer
            .map_err(|e| aws_error("DescribeDBParameterGroups", e))?
            .db_parameter_groups()
            .first()
            .map(info))
    }

    async fn scan_parameters(&self, name: &str, user: bool, visit: Visit<'_>) -> Result<(), ProviderError> {
        let source = user.then(|| "user".to_string());
        let req = self.describe_db_parameters().db_parameter_group_name(name).set_source(source);
        let mut pages = req.into_paginator().items().send();
        while let Some(p) = pages.next().await {
            let p = p.map_err(|e| aws_error("DescribeDBParameters", e))?;
            if !visit(ParameterInfo::from(&p)) {
                break;
            }
        }
        Ok(())
    }

    async fn create_group(&self, name: &str, props: &Props) -> Result<GroupInfo, ProviderError> {
        let created = self
            .create_db_parameter_group()
            .db_parameter_group_name(name)
            .db_parameter_group_family(req_str(props, Kind::FAMILY)?)
            .description(req_str(props, Kind::DESCRIPTION)?)
            .set_tags(Some(tags_of(props)))
            .send()
            .await
            .map_err(|e| aws_error("CreateDBParameterGroup", e))?;
        let group = created.db_parameter_group().map(info);
        group.ok_or_else(|| ProviderError::fatal("CreateDBParameterGroup returned no parameter group"))
    }

    async fn modify_parameters(
        &self,
        name: &str,
        params: Vec<(&str, &str, bool)>,
    ) -> Result<(), ProviderError> {
        let list: Vec<Parameter> = params
            .into_iter()
            .map(|(k, v, now)| {
                Parameter::builder().parameter_name(k).parameter_value(v).apply_method(method(now)).build()
            })
            .collect();
        self.modify_db_parameter_group()
            .db_parameter_group_name(name)
            .set_parameters(Some(list))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_not_found(aws_error("ModifyDBParameterGroup", e)))
    }

    async fn reset_parameters(&self, name: &str, params: Vec<(&str, bool)>) -> Result<(), ProviderError> {
        let list: Vec<Parameter> = params
            .into_iter()
            .map(|(k, now)| Parameter::builder().parameter_name(k).apply_method(method(now)).build())
            .collect();
        self.reset_db_parameter_group()
            .db_parameter_group_name(name)
            .set_parameters(Some(list))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_not_found(aws_error("ResetDBParameterGroup", e)))
    }

    async fn delete_group(&self, name: &str) -> Result<(), ProviderError> {
        let answer = self.delete_db_parameter_group().db_parameter_group_name(name).send().await;
        answer.map(drop).map_err(|e| aws_error("DeleteDBParameterGroup", e))
    }
}
