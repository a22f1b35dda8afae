//! `docdb.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `docdb.cluster` (provider: `hactl-aws/src/docdb/cluster.rs`). With
    /// `global_cluster_identifier` it is created as a secondary of that global cluster (no
    /// master user or secret: `master_username` and `master_secret_arn` stay unset).
    Cluster = "docdb.cluster" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["rds:DescribeDBClusters", "rds:ListTagsForResource"],
        identifier / IDENTIFIER: replace,
        engine / ENGINE: replace,
        engine_version / ENGINE_VERSION: create_only,
        master_username / MASTER_USERNAME: replace,
        master_secret_arn / MASTER_SECRET_ARN: in_place,
        manage_master_password / MANAGE_MASTER_PASSWORD: in_place,
        port / PORT: in_place,
        subnet_group_name / SUBNET_GROUP_NAME: replace,
        parameter_group_name / PARAMETER_GROUP_NAME: in_place,
        vpc_security_group_ids / VPC_SECURITY_GROUP_IDS: in_place.as_set,
        storage_encrypted / STORAGE_ENCRYPTED: replace,
        kms_key_id / KMS_KEY_ID: create_only,
        backup_retention_period / BACKUP_RETENTION_PERIOD: in_place,
        preferred_backup_window / PREFERRED_BACKUP_WINDOW: in_place,
        deletion_protection / DELETION_PROTECTION: in_place,
        apply_immediately / APPLY_IMMEDIATELY: create_only,
        tags / TAGS: in_place,
        global_cluster_identifier / GLOBAL_CLUSTER_IDENTIFIER: create_only,
    }
    /// `docdb.global_cluster` (provider: `hactl-aws/src/docdb/global_cluster.rs`): a
    /// DocumentDB global cluster made from its primary cluster (`source_db_cluster_arn`);
    /// secondaries join it through `docdb.cluster`'s `global_cluster_identifier`. Placed in
    /// the primary's region (the API answers from any region). No tags.
    GlobalCluster = "docdb.global_cluster" {
        reads: [],
        reads_account_wide: ["rds:DescribeGlobalClusters"],
        identifier / IDENTIFIER: replace,
        source_db_cluster_arn / SOURCE_DB_CLUSTER_ARN: create_only,
        deletion_protection / DELETION_PROTECTION: in_place,
    }
    /// `docdb.cluster_parameter_group` (provider: `hactl-aws/src/docdb/cluster_parameter_group.rs`).
    ClusterParameterGroup = "docdb.cluster_parameter_group" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["rds:DescribeDBClusterParameterGroups", "rds:DescribeDBClusterParameters", "rds:ListTagsForResource"],
        name / NAME: replace,
        family / FAMILY: replace,
        description / DESCRIPTION: replace,
        parameters / PARAMETERS: in_place,
        tags / TAGS: in_place,
    }
    /// `docdb.instance` (provider: `hactl-aws/src/docdb/instance.rs`).
    Instance = "docdb.instance" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["rds:DescribeDBInstances", "rds:ListTagsForResource"],
        identifier / IDENTIFIER: replace,
        cluster_identifier / CLUSTER_IDENTIFIER: replace,
        engine / ENGINE: replace,
        instance_class / INSTANCE_CLASS: in_place,
        availability_zone / AVAILABILITY_ZONE: replace,
        promotion_tier / PROMOTION_TIER: in_place,
        apply_immediately / APPLY_IMMEDIATELY: create_only,
        tags / TAGS: in_place,
    }
    /// `docdb.subnet_group` (provider: `hactl-aws/src/docdb/subnet_group.rs`).
    SubnetGroup = "docdb.subnet_group" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
        name / NAME: replace,
        description / DESCRIPTION: in_place,
        subnet_ids / SUBNET_IDS: in_place.as_set,
        tags / TAGS: in_place,
    }
}
