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
        password_symbols / PASSWORD_SYMBOLS: create_only,
        recovery_window_days / RECOVERY_WINDOW_DAYS: create_only,
        replica_regions / REPLICA_REGIONS: in_place.as_set,
    }
    /// `secretsmanager.secret_fields` (provider: `hactl-aws/src/secretsmanager/secret_fields.rs`).
    SecretFields = "secretsmanager.secret_fields" {
        reads: [],
        reads_account_wide: [],
        secret_id / SECRET_ID: replace,
        fields / FIELDS: in_place,
    }
    /// `secretsmanager.rotation` (provider: `hactl-aws/src/secretsmanager/rotation.rs`):
    /// the rotation schedule of a secret whose rotation its owning service runs (the
    /// master password RDS or DocumentDB manages). id = the secret ARN. No tags: the
    /// secret is the database's; state alone makes the schedule the stack's.
    Rotation = "secretsmanager.rotation" {
        reads: [],
        reads_account_wide: [],
        secret_id / SECRET_ID: replace,
        automatically_after_days / AUTOMATICALLY_AFTER_DAYS: in_place,
    }
}

impl Secret {
    /// The prefix of the outputs that name the secret's replica in another region:
    /// `arn_in_<region>` (`arn_in_us-west-2`), one per region of `replica_regions`.
    pub const ARN_IN_PREFIX: &'static str = "arn_in_";

    /// The output holding the ARN of the secret's replica in `region`
    /// (`Secret::arn_in("us-west-2")` = `"arn_in_us-west-2"`), for `Ref::new(address, ..)`.
    pub fn arn_in(region: &str) -> String {
        format!("{}{region}", Self::ARN_IN_PREFIX)
    }
}
