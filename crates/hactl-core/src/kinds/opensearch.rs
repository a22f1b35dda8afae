//! `opensearch.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `opensearch.domain` (provider: `hactl-aws/src/opensearch/domain.rs`): an OpenSearch
    /// Service domain with VPC access only. id = the domain's name.
    Domain = "opensearch.domain" {
        reads: ["es:ListDomainNames", "tag:GetResources"],
        reads_account_wide: [],
        name / NAME: replace,
        engine_version / ENGINE_VERSION: replace,
        cluster_config / CLUSTER_CONFIG: in_place,
        ebs / EBS: in_place,
        subnet_ids / SUBNET_IDS: in_place,
        security_group_ids / SECURITY_GROUP_IDS: in_place.as_set,
        encryption_at_rest / ENCRYPTION_AT_REST: replace,
        kms_key_id / KMS_KEY_ID: replace,
        node_to_node_encryption / NODE_TO_NODE_ENCRYPTION: replace,
        enforce_https / ENFORCE_HTTPS: in_place,
        tls_security_policy / TLS_SECURITY_POLICY: in_place,
        fine_grained_access / FINE_GRAINED_ACCESS: replace,
        master_user_secret_arn / MASTER_USER_SECRET_ARN: create_only,
        access_policies / ACCESS_POLICIES: in_place,
        tags / TAGS: in_place,
    }
}
