//! `cloudwatch.dashboard`: the stack's dashboard `<stack>`. id = dashboard name.
//!
//! Dashboards carry no tags: they are found by name. Read: ListDashboards
//! (DashboardNamePrefix=`<stack>`, paginated) for the names a target names or state
//! recorded, then GetDashboard per match (documented exception: a stack has one).

use crate::error::{aws_error, ignore_not_found, is_not_found};
use crate::util::req_str;
use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use hactl_core::{Address, KindSchema, PropSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct Dashboard(pub Client);

static SCHEMA: KindSchema = KindSchema {
    kind: "cloudwatch.dashboard",
    props: &[PropSchema::replace("name"), PropSchema::in_place("body")],
};

fn outputs(name: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("name".to_string(), Value::str(name))])
}

impl Dashboard {
    async fn put(&self, name: &str, props: &Props) -> Result<(), ProviderError> {
        let body = props
            .get("body")
            .filter(|b| b.as_map().is_some())
            .ok_or_else(|| ProviderError::fatal("property `body` is missing or not a map"))?
            .to_json()
            .to_string();
        let out = self
            .0
            .put_dashboard()
            .dashboard_name(name)
            .dashboard_body(body)
            .send()
            .await
            .map_err(|e| aws_error("PutDashboard", e))?;
        let messages: Vec<String> = out
            .dashboard_validation_messages()
            .iter()
            .map(|m| format!("{}: {}", m.data_path().unwrap_or("/"), m.message().unwrap_or("invalid")))
            .collect();
        if messages.is_empty() {
            Ok(())
        } else {
            Err(ProviderError::fatal(format!("dashboard {name} is invalid: {}", messages.join("; ")))
                .with_code("InvalidParameterInput"))
        }
    }

    /// The dashboard's body, or None when it does not exist (AWS: ResourceNotFound; the
    /// emulator: InvalidParameterValue "... does not exist").
    async fn body(&self, name: &str) -> Result<Option<Value>, ProviderError> {
        match self.0.get_dashboard().dashboard_name(name).send().await {
            Ok(out) => {
                let raw = out.dashboard_body().unwrap_or("{}");
                let json: serde_json::Value = serde_json::from_str(raw).map_err(|e| {
                    ProviderError::fatal(format!("dashboard {name} has a body that is not JSON: {e}"))
                })?;
                Ok(Some(Value::from_json(&json)))
            }
            Err(e) => {
                let err = aws_error("GetDashboard", e);
                let missing = err.code.as_deref() == Some("InvalidParameterValue")
                    && err.message.contains("does not exist");
                if is_not_found(&err) || missing {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }
}

#[async_trait]
impl Provider for Dashboard {
    fn schema(&self) -> &'static KindSchema {
        &SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let entries: Vec<_> = self
            .0
            .list_dashboards()
            .dashboard_name_prefix(&ctx.stack)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListDashboards", e))?;
        let mut out = Vec::new();
        for e in entries {
            let Some(name) = e.dashboard_name() else { continue };
            let by_name = targets.iter().find(|t| t.props.get("name").and_then(Value::as_str) == Some(name));
            let by_id = targets.iter().find(|t| t.id.as_deref() == Some(name));
            let Some(target) = by_name.or(by_id) else { continue };
            let Some(body) = self.body(name).await? else { continue };
            out.push(LiveObject {
                id: name.to_string(),
                address: Some(target.address.clone()),
                props: Props::from([("name".to_string(), Value::str(name)), ("body".to_string(), body)]),
                outputs: outputs(name),
                owned: true,
            });
        }
        Ok(out)
    }

    async fn create(&self, _ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let name = req_str(props, "name")?;
        self.put(name, props).await?;
        Ok(Applied { id: name.to_string(), outputs: outputs(name) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        if let Some(c) = req.changes.iter().find(|c| c.name != "body") {
            return Err(ProviderError::fatal(format!(
                "cloudwatch.dashboard cannot update `{}` in place",
                c.name
            )));
        }
        if !req.changes.is_empty() {
            self.put(req.id, req.desired).await?;
        }
        Ok(Applied { id: req.id.to_string(), outputs: outputs(req.id) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_dashboards()
                .dashboard_names(id)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("DeleteDashboards", e)),
        )
    }
}
