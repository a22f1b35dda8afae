//! `rds.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `rds.instance` (provider: `hactl-aws/src/rds/instance.rs`).
    Instance = "rds.instance" {
        reads: [],
        reads_account_wide: ["rds:DescribeDBInstances", "rds:ListTagsForResource"],
        identifier / IDENTIFIER: replace,
        engine / ENGINE: replace,
        engine_version / ENGINE_VERSION: create_only,
        instance_class / INSTANCE_CLASS: in_place,
        allocated_storage / ALLOCATED_STORAGE: in_place,
        storage_type / STORAGE_TYPE: in_place,
        multi_az / MULTI_AZ: in_place,
        storage_encrypted / STORAGE_ENCRYPTED: replace,
        kms_key_id / KMS_KEY_ID: create_only,
        master_username / MASTER_USERNAME: replace,
        master_secret_arn / MASTER_SECRET_ARN: in_place,
        manage_master_password / MANAGE_MASTER_PASSWORD: in_place,
        db_name / DB_NAME: replace,
        port / PORT: in_place,
        subnet_group_name / SUBNET_GROUP_NAME: replace,
        parameter_group_name / PARAMETER_GROUP_NAME: in_place,
        vpc_security_group_ids / VPC_SECURITY_GROUP_IDS: in_place.as_set,
        publicly_accessible / PUBLICLY_ACCESSIBLE: in_place,
        backup_retention_period / BACKUP_RETENTION_PERIOD: in_place,
        preferred_backup_window / PREFERRED_BACKUP_WINDOW: in_place,
        deletion_protection / DELETION_PROTECTION: in_place,
        apply_immediately / APPLY_IMMEDIATELY: create_only,
        tags / TAGS: in_place,
        source_instance_arn / SOURCE_INSTANCE_ARN: create_only,
    }
    /// `rds.parameter_group` (provider: `hactl-aws/src/rds/parameter_group.rs`).
    ParameterGroup = "rds.parameter_group" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"],
        name / NAME: replace,
        family / FAMILY: replace,
        description / DESCRIPTION: replace,
        parameters / PARAMETERS: in_place,
        tags / TAGS: in_place,
    }
    /// `rds.subnet_group` (provider: `hactl-aws/src/rds/subnet_group.rs`).
    SubnetGroup = "rds.subnet_group" {
        reads: ["tag:GetResources"],
        reads_account_wide: ["rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"],
        name / NAME: replace,
        description / DESCRIPTION: in_place,
        subnet_ids / SUBNET_IDS: in_place.as_set,
        tags / TAGS: in_place,
    }
    /// `rds.db_proxy` (provider: `hactl-aws/src/rds/proxy.rs`): an RDS Proxy with its
    /// default target group's pool settings and its one target, the DB instance.
    DbProxy = "rds.db_proxy" {
        reads: [],
        reads_account_wide: [
            "rds:DescribeDBProxies",
            "rds:DescribeDBProxyTargetGroups",
            "rds:DescribeDBProxyTargets",
            "rds:ListTagsForResource"
        ],
        name / NAME: replace,
        engine_family / ENGINE_FAMILY: replace,
        role_arn / ROLE_ARN: in_place,
        // The secret the proxy signs in to the database with.
        secret_arn / SECRET_ARN: in_place,
        // "DISABLED": clients sign in with the password; "REQUIRED": with an IAM token.
        iam_auth / IAM_AUTH: in_place,
        subnet_ids / SUBNET_IDS: replace.as_set,
        security_group_ids / SECURITY_GROUP_IDS: in_place.as_set,
        require_tls / REQUIRE_TLS: in_place,
        idle_client_timeout / IDLE_CLIENT_TIMEOUT: in_place,
        // {max_connections_percent, max_idle_connections_percent, connection_borrow_timeout}
        pool / POOL: in_place,
        // The DB instance identifier registered in the default target group.
        target_instance / TARGET_INSTANCE: in_place,
        tags / TAGS: in_place,
    }
}
