//! The pieces that tie the two regions together: the stack's ECR repositories (in each
//! region, replicated from the stack's region to the DR region) and the DNS failover
//! records (the active region's load balancer primary, the other secondary).

use crate::expand::{addr, out, ExpandError, Expander};
use crate::model::{DnsZone, EcrConfig, ServiceConfig};
use hactl_core::kinds::{ecr, route53, Typed};
use hactl_core::{Address, Value};
use std::collections::BTreeMap;

/// The lifecycle policy of every repository: untagged images expire after
/// `untagged_days`, and of the rest the newest `keep_tagged` stay. The `any` rule must
/// have the highest priority number (ECR evaluates it last).
pub(crate) fn lifecycle_policy(e: &EcrConfig) -> String {
    serde_json::json!({
        "rules": [
            {
                "rulePriority": 1,
                "description": format!("expire untagged images after {} days", e.untagged_days),
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": e.untagged_days,
                },
                "action": { "type": "expire" },
            },
            {
                "rulePriority": 2,
                "description": format!("keep the newest {} images", e.keep_tagged),
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": e.keep_tagged,
                },
                "action": { "type": "expire" },
            },
        ]
    })
    .to_string()
}

/// The address segment of a repository name (`team/api.v2` → `team-api_v2`).
fn repository_segment(name: &str) -> String {
    name.replace('/', "-").replace('.', "_")
}

impl Expander<'_> {
    /// The image a service's task definition runs in the region being expanded: an `ecr:`
    /// image from the stack's repository of that region, any other as written.
    pub(crate) fn image(&self, s: &ServiceConfig) -> String {
        match &s.ecr {
            Some(e) => format!(
                "{}.dkr.ecr.{}.amazonaws.com/{}/{}{}",
                self.env.account_id(),
                self.region(),
                self.cfg.stack.name,
                e.repository,
                e.reference
            ),
            None => s.image.clone(),
        }
    }

    /// The repository of an `ecr:` image in the region being expanded.
    pub(crate) fn repository_address(&self, s: &ServiceConfig) -> Result<Option<Address>, ExpandError> {
        s.ecr.as_ref().map(|e| self.addr(&["ecr_repository", &repository_segment(&e.repository)])).transpose()
    }

    /// One repository per distinct `ecr:` image name, in the region being expanded.
    pub(crate) fn ecr_repositories(&mut self) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        let e = &cfg.ecr;
        let mut names: BTreeMap<&str, Address> = BTreeMap::new();
        for s in &cfg.services {
            if let (Some(img), Some(a)) = (&s.ecr, self.repository_address(s)?) {
                names.insert(img.repository.as_str(), a);
            }
        }
        for (repo, a) in names {
            let name = format!("{}/{repo}", cfg.stack.name);
            let (encryption, key) = match &e.kms {
                None => ("AES256", Value::Null),
                Some(k) => ("KMS", k.as_deref().map_or(Value::Null, Value::str)),
            };
            let spec = self
                .tagged(ecr::Repository::new(a), &name)
                .name(name.as_str())
                .image_tag_mutability(e.tag_mutability.as_str())
                .scan_on_push(e.scan_on_push)
                .encryption_type(encryption)
                .kms_key(key)
                .lifecycle_policy(lifecycle_policy(e))
                .force_delete(e.force_delete);
            self.push(spec);
        }
        Ok(())
    }

    /// The stack's replication rule: every `<stack>/` repository of the stack's region
    /// is copied to the DR region (a stack with `ecr:` images and a `[dr]` region).
    pub(crate) fn ecr_replication(&mut self) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        let Some(dr) = &cfg.dr else { return Ok(()) };
        if !cfg.services.iter().any(|s| s.ecr.is_some()) {
            return Ok(());
        }
        let mut spec = ecr::Replication::new(addr(&["ecr_replication", "main"])?)
            .destinations(Value::from_strings(vec![dr.region.clone()]))
            .repository_prefix(format!("{}/", cfg.stack.name));
        // Replicated images land in the DR region's repositories, made with the stack's
        // settings before any image is copied.
        for s in &cfg.services {
            if let Some(img) = &s.ecr {
                spec = spec.after(&addr(&["dr", "ecr_repository", &repository_segment(&img.repository)])?);
            }
        }
        self.push(spec);
        Ok(())
    }

    /// The hosted zone the failover records live in: created (`zone`), or the id of an
    /// existing one (`zone_id`). `None` without `[dns]`.
    pub(crate) fn dns_zone(&mut self) -> Result<Option<Value>, ExpandError> {
        let Some(dns) = &self.cfg.dns else { return Ok(None) };
        Ok(Some(match &dns.zone {
            DnsZone::Existing(id) => Value::str(id),
            DnsZone::Create(name) => {
                let a = addr(&["dns_zone", "main"])?;
                let spec = self
                    .tagged(route53::HostedZone::new(a.clone()), name)
                    .name(name.as_str())
                    .comment(format!("hactl stack {}", self.cfg.stack.name));
                self.push(spec);
                out(&a, "id")
            }
        }))
    }

    /// The region's health check of its public load balancer (`[dns]`).
    pub(crate) fn dns_health_check(&mut self) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        let Some(dns) = &cfg.dns else { return Ok(()) };
        let alb = self.addr(&["alb", "public"])?;
        let https = cfg.load_balancer.https;
        let hc = self.addr(&["dns_health_check", "public"])?;
        let name = self.name(&["public"]);
        let spec = self
            .tagged(route53::HealthCheck::new(hc), &name)
            .check_type(if https { "HTTPS" } else { "HTTP" })
            .fqdn(out(&alb, "dns_name"))
            .port(Value::Int(if https { 443 } else { 80 }))
            .resource_path(dns.health_check_path.as_str())
            .request_interval(Value::Int(i64::from(dns.request_interval)))
            .failure_threshold(Value::Int(i64::from(dns.failure_threshold)));
        self.push(spec);
        Ok(())
    }

    /// The failover records of the domain, by role: `dns_record.primary` (set identifier
    /// `primary`, PRIMARY) aliases the active region's public load balancer,
    /// `dns_record.secondary` the other region's, each with that load balancer's health
    /// check. A failover changes where each record points (two in-place updates), never
    /// their failover type: Route 53 holds one PRIMARY and one SECONDARY per name and
    /// type, so swapping the types record by record would be refused.
    pub(crate) fn dns_records(&mut self, zone: &Value) -> Result<(), ExpandError> {
        let cfg = self.cfg;
        let Some(dns) = &cfg.dns else { return Ok(()) };
        let home_active = !self.standby();
        for (role, failover, home) in
            [("primary", "PRIMARY", home_active), ("secondary", "SECONDARY", !home_active)]
        {
            let site: &[&str] = if home { &[] } else { &["dr"] };
            let alb = addr(&[site, &["alb", "public"]].concat())?;
            let hc = addr(&[site, &["dns_health_check", "public"]].concat())?;
            self.push(
                route53::Record::new(addr(&["dns_record", role])?)
                    .zone_id(zone.clone())
                    .name(dns.domain.as_str())
                    .record_type("A")
                    .set_identifier(role)
                    .failover(failover)
                    .alias_dns_name(out(&alb, "dns_name"))
                    .alias_zone_id(out(&alb, "zone_id"))
                    .evaluate_target_health(true)
                    .health_check_id(out(&hc, "id")),
            );
        }
        Ok(())
    }
}
