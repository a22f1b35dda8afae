//! The bulk read of `iam.role`: the roles ListRoles found under the stack's paths, with
//! their trust policies, inline policies (RolePolicyList, URL-encoded documents), attached
//! managed policies, tags and paths, from GetAccountAuthorizationDetails (Filter=Role,
//! MaxItems 1000 per page, Marker): one call per 1,000 roles of the account instead of
//! four or more per role (GetRole, ListRolePolicies, GetRolePolicy per inline policy,
//! ListAttachedRolePolicies). Its answer has no description (nor MaxSessionDuration):
//! those come from the ListRoles answer.
//!
//! IAM is eventually consistent: a role ListRoles answers may be missing from the bulk
//! answer (created a moment ago, or the pages raced a change), or shown under another path
//! (moved meanwhile). Such a listed role is not taken as gone: [`select`] sends it to the
//! per-role reads, which say whether it exists (a role read as gone would be recreated by
//! plan, and forgotten in AWS by destroy).
//!
//! When: more than [`BULK_ABOVE`] roles listed, and the call was not refused before in this
//! process. AccessDenied (a caller scoped to the stack's roles, as the drift job's role
//! is: it may not read the whole account's roles) falls back to the per-role reads and is
//! remembered, so it costs one refused call per process.

use super::role::Seen;
use crate::error::aws_error;
use aws_sdk_iam::types::{EntityType, Role, RoleDetail};
use aws_sdk_iam::Client;
use hactl_engine::ProviderError;
use std::collections::{BTreeMap, BTreeSet};

/// The number of listed roles up to which the read stays per role. A small stack (a
/// service's execution and task roles, the instance role, the drift job's two roles) then
/// costs at most 4 × 4 calls, made concurrently, and needs only reads of its own roles;
/// above it the per-role reads grow by four or more calls per role (≈400 at 100 services)
/// while the bulk read stays one call per 1,000 roles of the account (whose answer,
/// though, carries every role of the account: not worth it for a handful).
pub(crate) const BULK_ABOVE: usize = 4;

/// How the read gets the listed roles' policies and tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    PerRole,
    Bulk,
}

/// The read for `listed` roles, the bulk one above `bulk_above` unless it was refused.
pub(crate) fn mode(listed: usize, bulk_above: usize, refused: bool) -> Mode {
    if listed > bulk_above && !refused {
        Mode::Bulk
    } else {
        Mode::PerRole
    }
}

/// Whether the bulk call was refused for lack of permission (fall back, do not fail).
pub(crate) fn is_access_denied(e: &ProviderError) -> bool {
    matches!(e.code(), Some("AccessDenied" | "AccessDeniedException"))
}

/// Every role of the account with its policies and tags (every page).
pub(crate) async fn role_details(client: &Client) -> Result<Vec<RoleDetail>, ProviderError> {
    let pages: Vec<_> = client
        .get_account_authorization_details()
        .filter(EntityType::Role)
        .into_paginator()
        .page_size(1000)
        .send()
        .try_collect()
        .await
        .map_err(|e| aws_error("GetAccountAuthorizationDetails", e))?;
    Ok(pages.into_iter().flat_map(|p| p.role_detail_list.unwrap_or_default()).collect())
}

/// The bulk read of the listed roles: what the answer shows, and what it leaves to the
/// per-role reads.
pub(crate) struct Selected {
    /// The listed roles the answer shows under the paths, as the read saw them.
    pub seen: Vec<Seen>,
    /// The listed roles the answer does not show under the paths (missing from it, or
    /// under another path), by name: read per role.
    pub per_role: Vec<String>,
}

/// The roles of `details` that ListRoles found under `paths` (`listed`, by name), as the
/// read saw them; every listed name the answer does not show under `paths` goes to the
/// per-role reads (IAM is eventually consistent: see the module doc).
pub(crate) fn select(
    details: Vec<RoleDetail>,
    listed: &BTreeMap<String, Role>,
    paths: &BTreeSet<String>,
) -> Selected {
    let seen: Vec<Seen> = details
        .into_iter()
        .filter_map(|d| {
            let name = d.role_name()?;
            let from_list = listed.get(name)?;
            let path = d.path()?;
            if !paths.iter().any(|p| path.starts_with(p.as_str())) {
                return None;
            }
            seen_of(&d, name, path, from_list)
        })
        .collect();
    let shown: BTreeSet<&str> = seen.iter().map(|s| s.name.as_str()).collect();
    let per_role = listed.keys().filter(|n| !shown.contains(n.as_str())).cloned().collect();
    Selected { seen, per_role }
}

/// A role of the bulk answer, with the description ListRoles answered (None without an
/// ARN: read per role).
fn seen_of(d: &RoleDetail, name: &str, path: &str, from_list: &Role) -> Option<Seen> {
    Some(Seen {
        name: name.to_string(),
        path: path.to_string(),
        arn: d.arn()?.to_string(),
        description: from_list.description().map(str::to_string),
        trust: d.assume_role_policy_document().map(str::to_string),
        inline: d
            .role_policy_list()
            .iter()
            .filter_map(|p| {
                Some((p.policy_name()?.to_string(), p.policy_document().unwrap_or_default().to_string()))
            })
            .collect(),
        managed: d
            .attached_managed_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .map(String::from)
            .collect(),
        tags: d.tags().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::types::{AttachedPolicy, PolicyDetail, Tag};

    #[test]
    fn bulk_only_above_the_threshold_and_never_after_a_refusal() {
        assert_eq!(mode(0, BULK_ABOVE, false), Mode::PerRole);
        assert_eq!(mode(BULK_ABOVE, BULK_ABOVE, false), Mode::PerRole);
        assert_eq!(mode(BULK_ABOVE + 1, BULK_ABOVE, false), Mode::Bulk);
        assert_eq!(mode(100, BULK_ABOVE, true), Mode::PerRole);
        assert_eq!(mode(1, 0, false), Mode::Bulk);
    }

    #[test]
    fn access_denied_is_a_fallback_other_errors_are_not() {
        assert!(is_access_denied(&ProviderError::fatal("x").with_code("AccessDenied")));
        assert!(is_access_denied(&ProviderError::fatal("x").with_code("AccessDeniedException")));
        assert!(!is_access_denied(&ProviderError::retryable("x").with_code("Throttling")));
        assert!(!is_access_denied(&ProviderError::fatal("x")));
    }

    fn listed(name: &str, path: &str, description: Option<&str>) -> (String, Role) {
        let r = Role::builder()
            .role_name(name)
            .path(path)
            .role_id("AROA")
            .arn(format!("arn:aws:iam::1:role{path}{name}"))
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .set_description(description.map(String::from))
            .build()
            .unwrap();
        (name.to_string(), r)
    }

    fn detail(name: &str, path: &str) -> RoleDetail {
        RoleDetail::builder()
            .role_name(name)
            .path(path)
            .arn(format!("arn:aws:iam::1:role{path}{name}"))
            .assume_role_policy_document("%7B%7D")
            .role_policy_list(
                PolicyDetail::builder().policy_name("logs").policy_document("%7B%22a%22%3A1%7D").build(),
            )
            .attached_managed_policies(
                AttachedPolicy::builder().policy_arn("arn:aws:iam::aws:policy/P").build(),
            )
            .tags(Tag::builder().key("hactl:stack").value("s").build().unwrap())
            .build()
    }

    #[test]
    fn only_listed_roles_under_the_paths_with_the_listed_description() {
        let paths = BTreeSet::from(["/hactl/s/us-east-1/".to_string()]);
        let here = "/hactl/s/us-east-1/";
        let listed = BTreeMap::from([listed("a", here, Some("role a")), listed("b", here, None)]);
        let details = vec![
            detail("a", here),
            detail("b", here),
            // The same stack in another region, another stack, a role not listed: left out.
            detail("c", "/hactl/s/eu-west-1/"),
            detail("d", "/other/"),
            detail("e", here),
        ];
        let selected = select(details, &listed, &paths);
        let seen = selected.seen;
        let names: Vec<&str> = seen.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(selected.per_role.is_empty(), "{:?}", selected.per_role);
        let a = &seen[0];
        assert_eq!(a.description.as_deref(), Some("role a"));
        assert_eq!(seen[1].description, None);
        assert_eq!(a.path, here);
        assert_eq!(a.arn, "arn:aws:iam::1:role/hactl/s/us-east-1/a");
        assert_eq!(a.trust.as_deref(), Some("%7B%7D"));
        assert_eq!(a.inline, [("logs".to_string(), "%7B%22a%22%3A1%7D".to_string())]);
        assert_eq!(a.managed, ["arn:aws:iam::aws:policy/P"]);
        assert_eq!(a.tags.len(), 1);
    }

    #[test]
    fn a_listed_role_the_bulk_answer_does_not_show_is_read_per_role_not_gone() {
        let paths = BTreeSet::from(["/hactl/s/us-east-1/".to_string()]);
        let here = "/hactl/s/us-east-1/";
        let listed =
            BTreeMap::from([listed("a", here, None), listed("new", here, None), listed("moved", here, None)]);
        // `new` was created a moment ago: ListRoles answers it, the bulk answer not yet.
        // `moved` shows under a path not asked for (moved meanwhile, or a stale answer).
        let details = vec![detail("a", here), detail("moved", "/elsewhere/")];
        let selected = select(details, &listed, &paths);
        assert_eq!(selected.seen.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a"]);
        assert_eq!(selected.per_role, ["moved", "new"]);
        // An empty (or lagging) bulk answer: every listed role is read per role.
        assert_eq!(select(Vec::new(), &listed, &paths).per_role, ["a", "moved", "new"]);
    }
}
