//! `docdb.global_cluster`: the DocumentDB global cluster `<stack>-...` made from the
//! primary cluster (`source_db_cluster_arn`); secondary clusters in other regions join it
//! as `docdb.cluster`s with `global_cluster_identifier`. id = global cluster identifier
//! (AWS's spelling). Placed in the primary's region; the API answers from any region.
//!
//! Read: DescribeGlobalClusters (paginated, engine `docdb` kept). Global clusters carry no
//! tags, so ownership is the name: an object is the stack's when state records its id or
//! when its identifier is one hactl names (`<stack>-...`); one a target names that is
//! neither is returned unowned (the plan reports a conflict, never adopts it). Which member
//! is the writer is an output, never a property: a switchover or failover is not drift.
//!
//! Create looks the identifier up first: a global cluster named `<stack>-...` that already
//! has the source cluster as a member (a create cut short) is adopted and converged, any
//! other is refused (GlobalClusterAlreadyExistsFault, also handled when AWS answers it).
//!
//! Delete is a destroy trap like the cluster's (deletion protection needs
//! `allow_delete_protected`, then ModifyGlobalCluster turns it off). AWS refuses
//! DeleteGlobalCluster while the global cluster has members: every remaining member (the
//! graph deletes the secondaries first; the primary is still one) is removed with
//! RemoveFromGlobalCluster, called in the member's own region, the writer last; then
//! DeleteGlobalCluster, and a wait until it is gone.

use super::is_available;
use crate::error::{aws_error, found, is_not_found, retry_codes, retry_not_found};
use crate::rds::family::{protection_to_lift, wait_deleted, Names};
use crate::util::{opt_bool, req_str};
use crate::ApiCounter;
use async_trait::async_trait;
use aws_config::{Region, SdkConfig};
use aws_sdk_docdb::types::GlobalCluster as Gc;
use aws_sdk_docdb::Client;
use hactl_core::kinds::docdb::GlobalCluster as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::BTreeMap;

pub struct GlobalCluster {
    /// The client of the region the global cluster is placed in.
    pub docdb: Client,
    /// The configuration of that region: members in other regions are removed through a
    /// client of their own region built from it.
    pub config: SdkConfig,
    pub counter: ApiCounter,
}

const ALREADY_EXISTS: &str = "GlobalClusterAlreadyExistsFault";
/// A global cluster or member busy with something else (a member still detaching, a
/// switchover under way, a source cluster still being created).
const BUSY: &[&str] = &["InvalidGlobalClusterStateFault", "InvalidDBClusterStateFault"];

/// AWS stores global cluster identifiers in lower case: names match case-insensitively.
const NAMES: Names = Names::CaseInsensitive;

/// The ARN of the member that is the writer (None while a failover has none).
pub(crate) fn writer_arn(gc: &Gc) -> Option<&str> {
    gc.global_cluster_members().iter().find(|m| m.is_writer() == Some(true)).and_then(|m| m.db_cluster_arn())
}

/// The ARNs of the member clusters, sorted.
pub(crate) fn member_arns(gc: &Gc) -> Vec<String> {
    let mut arns: Vec<String> =
        gc.global_cluster_members().iter().filter_map(|m| m.db_cluster_arn()).map(str::to_string).collect();
    arns.sort();
    arns
}

/// The region of a cluster ARN (`arn:aws:rds:<region>:<account>:cluster:<id>`).
pub(crate) fn region_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// A DocumentDB client of `region`, built from `config` (same credentials, endpoint,
/// retries), every call counted.
pub(crate) fn regional_client(config: &SdkConfig, counter: &ApiCounter, region: &str) -> Client {
    let regional = config.to_builder().region(Region::new(region.to_string())).build();
    crate::client!(aws_sdk_docdb, &regional, counter)
}

/// Every DocumentDB global cluster (DescribeGlobalClusters, every page).
pub(crate) async fn list(client: &Client) -> Result<Vec<Gc>, ProviderError> {
    let all: Vec<Gc> = client
        .describe_global_clusters()
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(|e| aws_error("DescribeGlobalClusters", e))?;
    Ok(all.into_iter().filter(|g| g.engine() == Some(super::ENGINE)).collect())
}

/// The global cluster `id`, or None.
pub(crate) async fn describe(client: &Client, id: &str) -> Result<Option<Gc>, ProviderError> {
    let out = client.describe_global_clusters().global_cluster_identifier(id).send().await;
    let out = found(out.map_err(|e| aws_error("DescribeGlobalClusters", e)))?;
    Ok(out.and_then(|o| o.global_clusters().first().cloned()))
}

/// The global cluster that has the cluster `arn` as a member, if any.
pub(crate) async fn global_cluster_of(client: &Client, arn: &str) -> Result<Option<Gc>, ProviderError> {
    Ok(list(client).await?.into_iter().find(|g| member_arns(g).iter().any(|m| m == arn)))
}

/// RemoveFromGlobalCluster of `member` (through `client`, of the member's region), then a
/// wait until the global cluster no longer lists it. A global cluster or member already
/// gone is done; a busy one is retried.
pub(crate) async fn remove_member(
    ctx: &Ctx,
    client: &Client,
    global_id: &str,
    member: &str,
) -> Result<(), ProviderError> {
    ctx.progress(format!("removing {member} from DocumentDB global cluster {global_id}"));
    let out = client
        .remove_from_global_cluster()
        .global_cluster_identifier(global_id)
        .db_cluster_identifier(member);
    match out.send().await.map_err(|e| aws_error("RemoveFromGlobalCluster", e)) {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(retry_codes(e, BUSY)),
    }
    crate::util::db_wait(ctx)
        .wait_for(&format!("{member} to leave DocumentDB global cluster {global_id}"), || async {
            let gc = describe(client, global_id).await?;
            Ok((!gc.is_some_and(|g| member_arns(&g).iter().any(|m| m == member))).then_some(()))
        })
        .await
}

fn outputs(gc: &Gc) -> BTreeMap<String, Value> {
    BTreeMap::from([
        ("arn".to_string(), Value::str(gc.global_cluster_arn().unwrap_or_default())),
        ("writer_arn".to_string(), writer_arn(gc).map(Value::str).unwrap_or(Value::Null)),
        ("members".to_string(), Value::from_strings(member_arns(gc))),
    ])
}

/// The global cluster's properties as DescribeGlobalClusters answers them: the source is
/// the writer (AWS keeps no record of the cluster it was made from).
fn props_of(gc: &Gc) -> Props {
    Props::from([
        (Kind::IDENTIFIER.to_string(), Value::str(gc.global_cluster_identifier().unwrap_or_default())),
        (Kind::SOURCE_DB_CLUSTER_ARN.to_string(), writer_arn(gc).map(Value::str).unwrap_or(Value::Null)),
        (Kind::DELETION_PROTECTION.to_string(), Value::Bool(gc.deletion_protection().unwrap_or(false))),
    ])
}

/// Diff suppression of `docdb.global_cluster`: the identifier in the desired spelling when
/// it matches without case (AWS stores it in lower case); the source cluster the desired
/// one whenever the desired one is set (the live value is the writer, which a switchover or
/// failover moves to another member: not drift; create-only, so never compared either).
fn normalize_global(desired: &Props, live: &mut Props) {
    NAMES.normalize(desired, live, Kind::IDENTIFIER);
    if let Some(want @ Value::Str(_)) = desired.get(Kind::SOURCE_DB_CLUSTER_ARN) {
        live.insert(Kind::SOURCE_DB_CLUSTER_ARN.to_string(), want.clone());
    }
}

/// Whether an identifier is one hactl names for `stack` (`<stack>-...`).
fn named_by_hactl(stack: &str, id: &str) -> bool {
    let prefix = format!("{stack}-");
    id.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(&prefix))
}

/// The target a listed global cluster answers: the one recording its id, else the one
/// whose desired identifier it has.
fn target_of<'a>(targets: &'a [ReadTarget], id: &str) -> Option<&'a ReadTarget> {
    targets.iter().find(|t| t.id.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(id))).or_else(|| {
        targets.iter().find(|t| {
            t.props.get(Kind::IDENTIFIER).and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(id))
        })
    })
}

impl GlobalCluster {
    /// Builds the provider for the region of `config`.
    pub fn new(config: &SdkConfig, counter: &ApiCounter) -> GlobalCluster {
        GlobalCluster {
            docdb: crate::client!(aws_sdk_docdb, config, counter),
            config: config.clone(),
            counter: counter.clone(),
        }
    }

    /// The client that reaches `member` in its own region.
    fn client_for(&self, member: &str) -> Client {
        let home = self.config.region().map(|r| r.as_ref().to_string());
        match region_of(member) {
            Some(r) if Some(r) != home.as_deref() => regional_client(&self.config, &self.counter, r),
            _ => self.docdb.clone(),
        }
    }

    /// ModifyGlobalCluster DeletionProtection.
    async fn set_protection(&self, id: &str, on: bool) -> Result<(), ProviderError> {
        let req = self.docdb.modify_global_cluster().global_cluster_identifier(id).deletion_protection(on);
        req.send()
            .await
            .map(drop)
            .map_err(|e| retry_codes(retry_not_found(aws_error("ModifyGlobalCluster", e)), BUSY))
    }

    /// Waits until the global cluster is available with `source` among its members.
    async fn wait_ready(&self, ctx: &Ctx, id: &str, source: &str) -> Result<Gc, ProviderError> {
        let what = format!("DocumentDB global cluster {id}");
        crate::util::db_wait(ctx)
            .wait_for(&format!("{what} to become available"), || async {
                let gc = describe(&self.docdb, id).await?.ok_or_else(|| {
                    ProviderError::retryable(format!("{what} not found"))
                        .with_code("GlobalClusterNotFoundFault")
                })?;
                let member = member_arns(&gc).iter().any(|m| m == source);
                Ok((is_available(&what, gc.status())? && member).then_some(gc))
            })
            .await
    }

    /// A global cluster found at create: ours (named by hactl for this stack, the source
    /// among its members) is converged to `props`, anything else refused.
    async fn adopt(&self, ctx: &Ctx, props: &Props, gc: &Gc) -> Result<(), ProviderError> {
        let id = gc.global_cluster_identifier().unwrap_or_default();
        let source = req_str(props, Kind::SOURCE_DB_CLUSTER_ARN)?;
        if !named_by_hactl(&ctx.stack, id) || !member_arns(gc).iter().any(|m| m == source) {
            return Err(ProviderError::conflict(format!(
                "DocumentDB global cluster `{id}` already exists and is not this stack's (its members: {}); \
                 global clusters carry no tags: choose another identifier or delete it",
                match member_arns(gc) {
                    m if m.is_empty() => "none".to_string(),
                    m => m.join(", "),
                }
            ))
            .with_code(ALREADY_EXISTS));
        }
        ctx.progress(format!("adopting existing DocumentDB global cluster {id}"));
        let want = opt_bool(props, Kind::DELETION_PROTECTION).unwrap_or(false);
        if gc.deletion_protection().unwrap_or(false) != want {
            self.set_protection(id, want).await?;
        }
        Ok(())
    }

    /// Removes every member, the writer last (AWS detaches secondaries from their primary).
    async fn remove_members(&self, ctx: &Ctx, gc: &Gc) -> Result<(), ProviderError> {
        let id = gc.global_cluster_identifier().unwrap_or_default();
        let writer = writer_arn(gc).map(str::to_string);
        let mut members = member_arns(gc);
        members.sort_by_key(|m| Some(m) == writer.as_ref());
        for m in &members {
            remove_member(ctx, &self.client_for(m), id, m).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for GlobalCluster {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn normalize(&self, desired: &Props, live: &mut Props) {
        normalize_global(desired, live);
    }

    fn deletion_protected(&self, live: &Props) -> bool {
        opt_bool(live, Kind::DELETION_PROTECTION) == Some(true)
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let mut out = Vec::new();
        for gc in list(&self.docdb).await? {
            let Some(id) = gc.global_cluster_identifier() else { continue };
            let Some(target) = target_of(targets, id) else { continue };
            let recorded = NAMES.is_recorded(targets, id);
            // No tags: the stack's when state records it, or (a create cut short before
            // the journal) when it has the stack's name and its desired source cluster
            // (the stack's, by then in state) as a member. A name alone is not enough:
            // another stack of the same name elsewhere could have it.
            let source = target.props.get(Kind::SOURCE_DB_CLUSTER_ARN).and_then(Value::as_str);
            let made_here = named_by_hactl(&ctx.stack, id)
                && source.is_some_and(|s| {
                    gc.global_cluster_members().iter().any(|m| m.db_cluster_arn() == Some(s))
                });
            out.push(LiveObject {
                id: id.to_string(),
                address: Some(target.address.clone()),
                props: props_of(&gc),
                outputs: outputs(&gc),
                owned: recorded || made_here,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, _address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let id = req_str(props, Kind::IDENTIFIER)?;
        let source = req_str(props, Kind::SOURCE_DB_CLUSTER_ARN)?;
        if let Some(existing) = describe(&self.docdb, id).await? {
            self.adopt(ctx, props, &existing).await?;
        } else {
            let created = self
                .docdb
                .create_global_cluster()
                .global_cluster_identifier(id)
                .source_db_cluster_identifier(source)
                .deletion_protection(opt_bool(props, Kind::DELETION_PROTECTION).unwrap_or(false))
                .send()
                .await;
            if let Err(e) = created {
                let e = aws_error("CreateGlobalCluster", e);
                if e.code() != Some(ALREADY_EXISTS) {
                    // The source cluster just created may not be visible or available yet.
                    return Err(retry_codes(retry_not_found(e), BUSY));
                }
                let existing = describe(&self.docdb, id).await?.ok_or_else(|| {
                    ProviderError::retryable(format!(
                        "DocumentDB global cluster {id} exists but is not visible yet"
                    ))
                })?;
                self.adopt(ctx, props, &existing).await?;
            }
        }
        ctx.progress(format!("DocumentDB global cluster {id} is being created"));
        let gc = self.wait_ready(ctx, id, source).await?;
        let live_id = gc.global_cluster_identifier().unwrap_or(id).to_string();
        Ok(Applied { id: live_id, outputs: outputs(&gc) })
    }

    async fn update(&self, ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        for c in req.changes {
            if c.name != Kind::DELETION_PROTECTION {
                return Err(ProviderError::fatal(format!(
                    "docdb.global_cluster cannot update `{}` in place",
                    c.name
                )));
            }
            self.set_protection(req.id, opt_bool(req.desired, Kind::DELETION_PROTECTION).unwrap_or(false))
                .await?;
        }
        let what = format!("DocumentDB global cluster {}", req.id);
        let gc = crate::util::db_wait(ctx)
            .wait_for(&format!("{what} to become available"), || async {
                let gc = describe(&self.docdb, req.id).await?.ok_or_else(|| {
                    ProviderError::retryable(format!("{what} not found"))
                        .with_code("GlobalClusterNotFoundFault")
                })?;
                Ok(is_available(&what, gc.status())?.then_some(gc))
            })
            .await?;
        Ok(Applied { id: req.id.to_string(), outputs: outputs(&gc) })
    }

    async fn delete(&self, ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        let Some(gc) = describe(&self.docdb, id).await? else { return Ok(()) };
        if gc.status() != Some("deleting") {
            let refusal = || {
                ProviderError::fatal(format!(
                    "DocumentDB global cluster `{id}` has deletion protection on; pass \
                     --allow-delete-protected to turn it off and delete it"
                ))
                .with_code("DeletionProtectionEnabled")
            };
            if protection_to_lift(ctx, gc.deletion_protection() == Some(true), refusal)? {
                ctx.progress(format!("turning deletion protection of global cluster {id} off"));
                self.set_protection(id, false).await?;
            }
            self.remove_members(ctx, &gc).await?;
            let req = self.docdb.delete_global_cluster().global_cluster_identifier(id);
            match req.send().await.map_err(|e| aws_error("DeleteGlobalCluster", e)) {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => return Ok(()),
                // A member still detaching, or joining since the describe.
                Err(e) => return Err(retry_codes(e, BUSY)),
            }
        }
        wait_deleted(ctx, &format!("DocumentDB global cluster {id}"), || async {
            Ok(describe(&self.docdb, id).await?.is_some())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_docdb::types::GlobalClusterMember;

    fn gc(members: &[(&str, bool)]) -> Gc {
        let mut b = Gc::builder().global_cluster_identifier("s-global").deletion_protection(false);
        for (arn, writer) in members {
            b = b.global_cluster_members(
                GlobalClusterMember::builder().db_cluster_arn(*arn).is_writer(*writer).build(),
            );
        }
        b.build()
    }

    #[test]
    fn the_writer_is_an_output_and_a_switchover_is_no_diff() {
        let (p, s) =
            ("arn:aws:rds:us-east-1:1:cluster:s-docdb", "arn:aws:rds:us-west-2:1:cluster:s-docdb-dr");
        let before = gc(&[(p, true), (s, false)]);
        let after = gc(&[(p, false), (s, true)]);
        assert_eq!(outputs(&before)["writer_arn"], Value::str(p));
        assert_eq!(outputs(&after)["writer_arn"], Value::str(s));
        assert_eq!(outputs(&after)["members"], Value::from_strings([p, s]));
        let desired = Props::from([
            (Kind::IDENTIFIER.to_string(), Value::str("S-global")),
            (Kind::SOURCE_DB_CLUSTER_ARN.to_string(), Value::str(p)),
            (Kind::DELETION_PROTECTION.to_string(), Value::Bool(false)),
        ]);
        for live in [before, after] {
            let mut props = props_of(&live);
            normalize_global(&desired, &mut props);
            assert_eq!(props, desired);
        }
        assert_eq!(region_of(s), Some("us-west-2"));
        assert_eq!(region_of("nonsense"), None);
    }

    #[test]
    fn ownership_is_the_hactl_name_or_a_recorded_id() {
        assert!(named_by_hactl("Demo", "demo-global"));
        assert!(!named_by_hactl("demo", "demo2-global"));
        assert!(!named_by_hactl("demo", "demo"));
        let t = ReadTarget {
            address: Address::parse("docdb_global_cluster.main").expect("address"),
            id: None,
            props: Props::from([(Kind::IDENTIFIER.to_string(), Value::str("Other"))]),
            recorded: None,
        };
        assert!(target_of(std::slice::from_ref(&t), "other").is_some());
        assert!(target_of(std::slice::from_ref(&t), "else").is_none());
    }
}
