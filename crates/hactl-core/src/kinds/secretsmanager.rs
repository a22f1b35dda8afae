//! `secretsmanager.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `secretsmanager.secret` (provider: `hactl-aws/src/secretsmanager/secret.rs`).
    Secret = "secretsmanager.secret" {
        reads: ["secretsmanager:ListSecrets"],
        reads_account_wide: [],
        name / NAME: replace,
        description / DESCRIPTION: in_place,
        kms_key_id / KMS_KEY_ID: in_place,
        tags / TAGS: in_place,
        initial_fields / INITIAL_FIELDS: create_only,
        password_length / PASSWORD_LENGTH: create_only,
        recovery_window_days / RECOVERY_WINDOW_DAYS: create_only,
    }
    /// `secretsmanager.secret_fields` (provider: `hactl-aws/src/secretsmanager/secret_fields.rs`).
    SecretFields = "secretsmanager.secret_fields" {
        reads: [],
        reads_account_wide: [],
        secret_id / SECRET_ID: replace,
        fields / FIELDS: in_place,
    }
}
