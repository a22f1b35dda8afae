//! `acm.certificate`: a self-signed certificate for `domain_name` and `*.domain_name`,
//! generated here (rcgen, ECDSA P-256, valid 397 days) and imported into ACM. id =
//! certificate ARN. The private key exists only inside `create`: it is never stored,
//! returned or logged.
//!
//! Read: ListCertificates (paginated, every key type) → the candidates (a target's domain or
//! a recorded ARN) → their tags from the stack's tag index ([`crate::tagging`], one
//! GetResources per refresh and region, shared by every kind); ListTagsForCertificate only
//! for a candidate the index does not hold (another stack's certificate for the same
//! domain, one that lost its tags), or one it holds that state does not record (to be
//! adopted: its own tags decide) or records with other tags
//! ([`crate::tagging::TagIndex::lookup`]). Only the stack's and recorded certificates are read.

use crate::error::{aws_error, ignore_not_found, is_not_found, retry_not_found};
use crate::tagging::Known;
use crate::util::tags::Tagger;
use crate::util::{opt_bool, owner_of, req_str, tag_map, tags_prop};
use async_trait::async_trait;
use aws_sdk_acm::types::{CertificateSummary, CertificateType, Filters, KeyAlgorithm, Tag};
use aws_sdk_acm::Client;
use aws_smithy_types::date_time::Format;
use aws_smithy_types::{Blob, DateTime};
use hactl_core::kinds::acm::Certificate as Kind;
use hactl_core::{Address, KindSchema, Props, Value};
use hactl_engine::{Applied, Ctx, LiveObject, Provider, ProviderError, ReadTarget, UpdateRequest};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct Certificate(pub Client, pub crate::tagging::Tagging);

/// How long a generated certificate is valid (the longest browsers accept).
const VALID_DAYS: u64 = 397;

/// A generated certificate: the PEM certificate and private key, and its expiry.
struct Generated {
    cert_pem: String,
    key_pem: String,
    not_after: i64,
}

/// Generates a self-signed certificate for `domain` and `*.domain`, valid from now for
/// [`VALID_DAYS`].
fn generate(domain: &str) -> Result<Generated, ProviderError> {
    let fail =
        |e: rcgen::Error| ProviderError::fatal(format!("generating the certificate for {domain}: {e}"));
    let mut params =
        rcgen::CertificateParams::new(vec![domain.to_string(), format!("*.{domain}")]).map_err(fail)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, domain);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| ProviderError::fatal("the system clock is before 1970"))?
        .as_secs();
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(now);
    params.not_after = epoch + Duration::from_secs(now + VALID_DAYS * 24 * 3600);
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let not_after = params.not_after.unix_timestamp();
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok(Generated { cert_pem: cert.pem(), key_pem: key.serialize_pem(), not_after })
}

fn rfc3339(secs: i64) -> Value {
    DateTime::from_secs(secs).fmt(Format::DateTime).map(Value::Str).unwrap_or(Value::Null)
}

fn outputs(arn: &str, not_after: Value) -> BTreeMap<String, Value> {
    BTreeMap::from([("arn".to_string(), Value::str(arn)), ("not_after".to_string(), not_after)])
}

fn acm_tags(tags: BTreeMap<String, String>) -> Result<Vec<Tag>, ProviderError> {
    tags.into_iter()
        .map(|(k, v)| {
            Tag::builder().key(k).value(v).build().map_err(|e| ProviderError::fatal(format!("tag: {e}")))
        })
        .collect()
}

/// ACM's tag calls (certificates, by ARN): AddTagsToCertificate, RemoveTagsFromCertificate
/// (which takes the keys as tags without values).
#[async_trait]
impl Tagger for Client {
    async fn set_tag_values(&self, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ProviderError> {
        let out =
            self.add_tags_to_certificate().certificate_arn(arn).set_tags(Some(acm_tags(tags)?)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("AddTagsToCertificate", e)))
    }

    async fn remove_tag_keys(&self, arn: &str, keys: Vec<String>) -> Result<(), ProviderError> {
        let keys: Vec<Tag> = keys
            .into_iter()
            .map(|k| Tag::builder().key(k).build().map_err(|e| ProviderError::fatal(format!("tag: {e}"))))
            .collect::<Result<_, _>>()?;
        let out = self.remove_tags_from_certificate().certificate_arn(arn).set_tags(Some(keys)).send().await;
        out.map(drop).map_err(|e| retry_not_found(aws_error("RemoveTagsFromCertificate", e)))
    }
}

impl Certificate {
    /// Every certificate of the account and region. ListCertificates answers only RSA
    /// 2048 certificates unless asked for the other key types.
    async fn list(&self) -> Result<Vec<CertificateSummary>, ProviderError> {
        let includes = Filters::builder()
            .set_key_types(Some(vec![
                KeyAlgorithm::EcPrime256v1,
                KeyAlgorithm::EcSecp384r1,
                KeyAlgorithm::EcSecp521r1,
                KeyAlgorithm::Rsa1024,
                KeyAlgorithm::Rsa2048,
                KeyAlgorithm::Rsa3072,
                KeyAlgorithm::Rsa4096,
            ]))
            .build();
        self.0
            .list_certificates()
            .includes(includes)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| aws_error("ListCertificates", e))
    }

    /// The certificate's tags; `None` when it is gone.
    async fn tags(&self, arn: &str) -> Result<Option<BTreeMap<String, String>>, ProviderError> {
        match self.0.list_tags_for_certificate().certificate_arn(arn).send().await {
            Ok(o) => Ok(Some(
                o.tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string()))
                    .collect(),
            )),
            Err(e) => {
                let err = aws_error("ListTagsForCertificate", e);
                if is_not_found(&err) {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// A certificate this address imported before (a create retried after a crash
    /// between the import and the state write): (ARN, not_after, live tags).
    async fn find_own(
        &self,
        ctx: &Ctx,
        address: &Address,
        domain: &str,
    ) -> Result<Option<(String, Value, BTreeMap<String, String>)>, ProviderError> {
        for s in self.list().await? {
            let Some(arn) = s.certificate_arn() else { continue };
            if s.domain_name() != Some(domain) || ctx.generation.as_deref() == Some(arn) {
                continue;
            }
            let Some(tags) = self.tags(arn).await? else { continue };
            let (owned, tagged) = owner_of(&ctx.stack, &tags);
            if owned && tagged.as_ref() == Some(address) {
                let not_after = s.not_after().map(|t| rfc3339(t.secs())).unwrap_or(Value::Null);
                return Ok(Some((arn.to_string(), not_after, tags)));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Provider for Certificate {
    fn schema(&self) -> &'static KindSchema {
        &Kind::SCHEMA
    }

    async fn read(&self, ctx: &Ctx, targets: &[ReadTarget]) -> Result<Vec<LiveObject>, ProviderError> {
        let domains: BTreeSet<&str> =
            targets.iter().filter_map(|t| t.props.get(Kind::DOMAIN_NAME).and_then(Value::as_str)).collect();
        let ids: BTreeSet<&str> = targets.iter().filter_map(|t| t.id.as_deref()).collect();
        let (certificates, index) = futures::try_join!(self.list(), self.1.index(ctx))?;
        let mut out = Vec::new();
        for s in certificates {
            let Some(arn) = s.certificate_arn() else { continue };
            let domain = s.domain_name().unwrap_or_default();
            if !domains.contains(domain) && !ids.contains(arn) {
                continue;
            }
            // Every candidate is known: state records its ARN, or a target names its domain.
            let known = Known::of(targets.iter().find(|t| t.id.as_deref() == Some(arn)), true);
            let Some(tags) = index.tags(arn, known, || self.tags(arn)).await? else { continue };
            let (owned, address) = owner_of(&ctx.stack, &tags);
            // Another stack's or someone else's certificate for the same domain.
            if !owned && !ids.contains(arn) {
                continue;
            }
            let props = Props::from([
                (Kind::DOMAIN_NAME.to_string(), Value::str(domain)),
                (Kind::SELF_SIGNED.to_string(), Value::Bool(s.r#type() == Some(&CertificateType::Imported))),
                (Kind::TAGS.to_string(), tags_prop(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
            ]);
            let not_after = s.not_after().map(|t| rfc3339(t.secs())).unwrap_or(Value::Null);
            out.push(LiveObject {
                id: arn.to_string(),
                address,
                props,
                outputs: outputs(arn, not_after),
                owned,
            });
        }
        Ok(out)
    }

    async fn create(&self, ctx: &Ctx, address: &Address, props: &Props) -> Result<Applied, ProviderError> {
        let domain = req_str(props, Kind::DOMAIN_NAME)?;
        if opt_bool(props, Kind::SELF_SIGNED) != Some(true) {
            return Err(ProviderError::fatal(
                "acm.certificate: only self-signed certificates are created (self_signed = true); \
                 configure an existing certificate ARN instead",
            ));
        }
        if let Some((arn, not_after, live)) = self.find_own(ctx, address, domain).await? {
            self.0.converge_tags(&arn, &live, props).await?;
            return Ok(Applied { id: arn.clone(), outputs: outputs(&arn, not_after) });
        }
        let g = generate(domain)?;
        let out = self
            .0
            .import_certificate()
            .certificate(Blob::new(g.cert_pem.into_bytes()))
            .private_key(Blob::new(g.key_pem.into_bytes()))
            .set_tags(Some(acm_tags(tag_map(props))?))
            .send()
            .await
            .map_err(|e| aws_error("ImportCertificate", e))?;
        let arn = out
            .certificate_arn()
            .ok_or_else(|| ProviderError::fatal("ImportCertificate returned no ARN"))?
            .to_string();
        Ok(Applied { id: arn.clone(), outputs: outputs(&arn, rfc3339(g.not_after)) })
    }

    async fn update(&self, _ctx: &Ctx, req: UpdateRequest<'_>) -> Result<Applied, ProviderError> {
        let refuse =
            |other: &str| ProviderError::fatal(format!("acm.certificate cannot update `{other}` in place"));
        self.0.update_tags_only(req.id, req.changes, refuse).await?;
        Ok(Applied {
            id: req.id.to_string(),
            outputs: BTreeMap::from([("arn".to_string(), Value::str(req.id))]),
        })
    }

    async fn delete(&self, _ctx: &Ctx, id: &str, _recorded: &Props) -> Result<(), ProviderError> {
        ignore_not_found(self.0.delete_certificate().certificate_arn(id).send().await.map(|_| ()).map_err(
            |e| {
                let mut err = aws_error("DeleteCertificate", e);
                // Still attached to a listener that is being deleted: try again shortly.
                if err.code() == Some("ResourceInUseException") {
                    err.make_retryable();
                }
                err
            },
        ))
    }
}
