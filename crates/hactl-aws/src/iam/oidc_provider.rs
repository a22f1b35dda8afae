//! `iam.oidc_provider`: an IAM OpenID Connect identity provider (GitHub Actions' is
//! `https://token.actions.githubusercontent.com` with client id `sts.amazonaws.com`). id =
//! its ARN, `arn:aws:iam::<account>:oidc-provider/<host/path>`: an account has one
//! provider per URL, and other stacks or people may own providers of the account.
//!
//! Read: ListOpenIDConnectProviders (one call; it answers ARNs only), then
//! GetOpenIDConnectProvider (URL, client ids, thumbprints, tags) only for the providers
//! that matter, concurrently: the ids state records, and the providers whose ARN names a
//! target's URL. Any other provider of the account costs no call and is never read. A
//! provider gone between the two calls is absent. IAM answers the URL without its scheme;
//! `url` reads as configured, `https://` + host/path. Ownership as for every IAM kind
//! (`super::ownership`): the stack's tags, or the id in state; an untagged provider at a
//! target's URL is that target's conflict, never adopted.

use super::{iam_tags, ownership, tag_list, tag_pairs, tags_value};
use crate::error::{aws_error, found, ignore_not_found, retry_not_found};
use crate::util::tags::Tagger;
use crate::util::{opt_str, req_str, str_list};
use async_trait::async_trait;
use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput as Live;
use aws_sdk_iam::Client;
use hactl_core::kinds::iam::OidcProvider as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};

pub struct OidcProvider(pub Client);

/// The scheme every provider URL has (IAM takes only `https://` URLs and answers them
/// without it).
const SCHEME: &str = "https://";

fn outputs(arn: &str) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn))])
}

/// A URL without its scheme: what IAM answers and names the provider's ARN after.
fn host_path(url: &str) -> &str {
    url.strip_prefix(SCHEME).unwrap_or(url)
}

/// A URL as IAM answers it (host/path) in the form the config holds: with `https://`.
fn config_url(url: &str) -> String {
    if url.starts_with(SCHEME) {
        url.to_string()
    } else {
        format!("{SCHEME}{url}")
    }
}

/// Whether `arn` is the ARN of the provider for `url` (with or without its scheme).
fn arn_of(arn: &str, url: &str) -> bool {
    arn.ends_with(&format!(":oidc-provider/{}", host_path(url)))
}

/// Thumbprints as a set, case aside (hex digests).
fn thumbprint_set<S: AsRef<str>>(list: &[S]) -> BTreeSet<String> {
    list.iter().map(|t| t.as_ref().to_ascii_lowercase()).collect()
}

impl OidcProvider {
    /// The ARNs of every provider of the account (one call, not paginated).
    async fn list(&self) -> Result<Vec<String>, ProviderError> {
        let out = self
            .0
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| aws_error("ListOpenIDConnectProviders", e))?;
        Ok(out.open_id_connect_provider_list().iter().filter_map(|p| p.arn()).map(str::to_string).collect())
    }

    /// The provider `arn`, None when it does not exist.
    async fn get(&self, arn: &str) -> Result<Option<Live>, ProviderError> {
        let out = self.0.get_open_id_connect_provider().open_id_connect_provider_arn(arn).send().await;
        found(out.map_err(|e| aws_error("GetOpenIDConnectProvider", e)))
    }

    /// Makes `desired` the provider's client ids; `current`: its client ids now. New ones
    /// are added before old ones are removed (both calls are idempotent on AWS).
    async fn set_client_ids(
        &self,
        arn: &str,
        current: &[String],
        desired: &[String],
    ) -> Result<(), ProviderError> {
        for id in desired.iter().filter(|d| !current.contains(d)) {
            // A provider created moments ago may not be visible yet: NotFound is retried.
            self.0
                .add_client_id_to_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("AddClientIDToOpenIDConnectProvider", e)))?;
        }
        for id in current.iter().filter(|c| !desired.contains(c)) {
            self.0
                .remove_client_id_from_open_id_connect_provider()
                .open_id_connect_provider_arn(arn)
                .client_id(id)
                .send()
                .await
                .map_err(|e| retry_not_found(aws_error("RemoveClientIDFromOpenIDConnectProvider", e)))?;
        }
        Ok(())
    }

    /// Replaces the provider's thumbprint list (IAM takes the whole list).
    async fn set_thumbprints(&self, arn: &str, thumbprints: Vec<String>) -> Result<(), ProviderError> {
        self.0
            .update_open_id_connect_provider_thumbprint()
            .open_id_connect_provider_arn(arn)
            .set_thumbprint_list(Some(thumbprints))
            .send()
            .await
            .map(drop)
            .map_err(|e| retry_not_found(aws_error("UpdateOpenIDConnectProviderThumbprint", e)))
    }

    /// A create that found the URL's provider already there: a create retried after a
    /// crash (this stack's tags, this address) is adopted and converged; any other
    /// provider is refused. Answers the provider's ARN.
    async fn adopt(
        &self,
        ctx: &Ctx,
        address: &Address,
        url: &str,
        props: &Props,
    ) -> Result<String, ProviderError> {
        let arn = self.list().await?.into_iter().find(|arn| arn_of(arn, url)).ok_or_else(|| {
            ProviderError::retryable(format!(
                "an identity provider for {url} exists but ListOpenIDConnectProviders does not show it yet"
            ))
        })?;
        let live = self.get(&arn).await?.ok_or_else(|| {
            ProviderError::retryable(format!("identity provider {arn} exists but cannot be read yet"))
        })?;
        let tags = tag_pairs(live.tags());
        let what = format!("IAM OpenID Connect identity provider {arn}");
        if crate::util::ensure_ours(ctx, address, &tags, &what, "EntityAlreadyExists").is_err() {
            let tag = |k: &str| tags.get(k).map(String::as_str).unwrap_or("none").to_string();
            return Err(ProviderError::fatal(format!(
                "an IAM OpenID Connect identity provider for {url} already exists in the account and is \
                 not this stack's (its hactl:stack tag: {}, hactl:address tag: {}); hint: set \
                 `ci.oidc_provider_arn = \"{arn}\"` to use it instead of creating one",
                tag(hactl_core::TAG_STACK),
                tag(hactl_core::TAG_ADDRESS),
            ))
            .with_code("EntityAlreadyExists"));
        }
        self.set_client_ids(&arn, live.client_id_list(), &str_list(props, Kind::CLIENT_IDS)).await?;
        let thumbprints = str_list(props, Kind::THUMBPRINTS);
        if !thumbprints.is_empty() && thumbprint_set(&thumbprints) != thumbprint_set(live.thumbprint_list()) {
            self.set_thumbprints(&arn, thumbprints).await?;
        }
        self.converge_tags(&arn, &tags, props).await?;
        Ok(arn)
    }
}

/// A provider's tag calls (by ARN): TagOpenIDConnectProvider, UntagOpenIDConnectProvider.
#[async_trait]
impl Tagger for OidcProvider {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let tags = tag_list(tags)?;
        let out = self
            .0
            .tag_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("TagOpenIDConnectProvider", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let req = self
            .0
            .untag_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .set_tag_keys(Some(keys));
        req.send().await.map(drop).map_err(|e| retry_not_found(aws_error("UntagOpenIDConnectProvider", e)))
    }
}

#[async_trait]
impl Provider for OidcProvider {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    fn read_keys(&self) -> Option<&'static [&'static str]> {
        Some(&[Kind::URL])
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let urls: Vec<&str> = targets.iter().filter_map(|t| opt_str(&t.props, Kind::URL)).collect();
        // The recorded ids are read even when the listing does not show them (yet).
        let mut arns: BTreeSet<String> = targets.iter().filter_map(|t| t.id.clone()).collect();
        arns.extend(self.list().await?.into_iter().filter(|arn| urls.iter().any(|u| arn_of(arn, u))));
        let got = futures::future::try_join_all(arns.iter().map(|arn| self.get(arn))).await?;
        let mut out = Vec::new();
        for (arn, live) in arns.into_iter().zip(got) {
            let Some(live) = live else { continue };
            let url = config_url(
                live.url().unwrap_or_else(|| arn.split_once(":oidc-provider/").map_or("", |s| s.1)),
            );
            let tags = tag_pairs(live.tags());
            let (owned, address) = ownership(&ctx.stack, &tags, &url, targets, Kind::URL);
            let props = Props::from([
                (Kind::URL.to_string(), Value::str(&url)),
                (Kind::CLIENT_IDS.to_string(), Value::from_strings(live.client_id_list().iter().cloned())),
                (Kind::THUMBPRINTS.to_string(), Value::from_strings(live.thumbprint_list().iter().cloned())),
                (Kind::TAGS.to_string(), tags_value(live.tags())),
            ]);
            out.push(LiveObject { outputs: outputs(&arn), id: arn, address, props, owned });
        }
        Ok(out)
    }

    /// Thumbprints: a desired list that is empty (or unset) leaves them to AWS, which then
    /// takes the thumbprint of the server's top intermediate CA itself: whatever it holds
    /// is no difference. A live list equal to the desired one apart from case (hex
    /// digests) is the desired one.
    fn normalize(&self, desired: &Props, live: &mut Props) {
        let Some(want) = desired.get(Kind::THUMBPRINTS).filter(|w| !w.has_unknown()) else { return };
        let Some(have) = live.get_mut(Kind::THUMBPRINTS) else { return };
        let want_list = want.string_list();
        if want_list.is_empty() || thumbprint_set(&want_list) == thumbprint_set(&have.string_list()) {
            *have = want.clone();
        }
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let url = req_str(props, Kind::URL)?;
        let thumbprints = str_list(props, Kind::THUMBPRINTS);
        let created = self
            .0
            .create_open_id_connect_provider()
            .url(url)
            .set_client_id_list(Some(str_list(props, Kind::CLIENT_IDS)))
            // None: AWS takes the thumbprint of the server's certificate itself.
            .set_thumbprint_list((!thumbprints.is_empty()).then_some(thumbprints))
            .set_tags(Some(iam_tags(props)?))
            .send()
            .await;
        let arn = match created {
            Ok(o) => o.open_id_connect_provider_arn().map(str::to_string).ok_or_else(|| {
                ProviderError::fatal(format!("CreateOpenIDConnectProvider of {url} answered no ARN"))
            })?,
            Err(e) => {
                let err = aws_error("CreateOpenIDConnectProvider", e);
                if err.code() != Some("EntityAlreadyExists") {
                    return Err(err);
                }
                self.adopt(ctx, address, url, props).await?
            }
        };
        Ok(Applied { outputs: outputs(&arn), id: arn })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let arn = req.id;
        for c in req.changes {
            match c.name.as_str() {
                Kind::CLIENT_IDS => {
                    let current = c.before.as_ref().map(Value::string_list).unwrap_or_default();
                    self.set_client_ids(arn, &current, &str_list(req.desired, Kind::CLIENT_IDS)).await?
                }
                Kind::THUMBPRINTS => {
                    self.set_thumbprints(arn, str_list(req.desired, Kind::THUMBPRINTS)).await?
                }
                Kind::TAGS => self.sync_tags(arn, c.before.as_ref(), c.after.as_ref()).await?,
                other => {
                    return Err(ProviderError::fatal(format!(
                        "iam.oidc_provider cannot update `{other}` in place"
                    )))
                }
            }
        }
        Ok(Applied { id: arn.to_string(), outputs: outputs(arn) })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(
            self.0
                .delete_open_id_connect_provider()
                .open_id_connect_provider_arn(id)
                .send()
                .await
                .map(drop)
                .map_err(|e| aws_error("DeleteOpenIDConnectProvider", e)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_arns() {
        let url = "https://token.actions.githubusercontent.com";
        assert_eq!(host_path(url), "token.actions.githubusercontent.com");
        assert_eq!(config_url("token.actions.githubusercontent.com"), url);
        assert_eq!(config_url(url), url);
        let arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com";
        assert!(arn_of(arn, url));
        assert!(arn_of(arn, "token.actions.githubusercontent.com"));
        assert!(!arn_of(arn, "https://actions.githubusercontent.com"), "a suffix of the host is another URL");
        assert!(!arn_of("arn:aws:iam::1:oidc-provider/example.com/a", "https://example.com"));
    }

    #[test]
    fn thumbprints_left_to_aws_or_differing_in_case_are_no_difference() {
        let p = OidcProvider(Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
                .build(),
        ));
        let props = |t: Value| Props::from([(Kind::THUMBPRINTS.to_string(), t)]);
        let aws = props(Value::from_strings(["AAAA"]));
        assert!(p.diff(&props(Value::List(vec![])), &aws).is_empty());
        assert!(p.diff(&props(Value::from_strings(["aaaa"])), &aws).is_empty());
        assert_eq!(p.diff(&props(Value::from_strings(["bbbb"])), &aws).len(), 1);
    }
}
