//! `ecr.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `ecr.replication` (provider: `hactl-aws/src/ecr/replication.rs`): this stack's rule
    /// in the registry's replication configuration of one region (a singleton of the
    /// account and region that other rules share). id = its repository prefix.
    Replication = "ecr.replication" {
        reads: ["ecr:DescribeRegistry"],
        reads_account_wide: [],
        destinations / DESTINATIONS: in_place.as_set,
        repository_prefix / REPOSITORY_PREFIX: replace,
    }
    /// `ecr.repository` (provider: `hactl-aws/src/ecr/repository.rs`). id = its ARN.
    Repository = "ecr.repository" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["ecr:DescribeRepositories", "ecr:GetLifecyclePolicy", "ecr:ListTagsForResource"],
        name / NAME: replace,
        image_tag_mutability / IMAGE_TAG_MUTABILITY: in_place,
        scan_on_push / SCAN_ON_PUSH: in_place,
        encryption_type / ENCRYPTION_TYPE: replace,
        kms_key / KMS_KEY: replace,
        lifecycle_policy / LIFECYCLE_POLICY: in_place,
        force_delete / FORCE_DELETE: in_place,
        tags / TAGS: in_place,
    }
}
