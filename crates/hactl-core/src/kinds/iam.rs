//! `iam.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `iam.instance_profile` (provider: `hactl-aws/src/iam/instance_profile.rs`).
    InstanceProfile = "iam.instance_profile" [global] {
        reads: ["iam:ListInstanceProfiles"],
        reads_account_wide: [],
        name / NAME: replace,
        path / PATH: replace,
        role_name / ROLE_NAME: in_place,
        tags / TAGS: in_place,
    }
    /// `iam.oidc_provider`: an IAM OpenID Connect identity provider (provider:
    /// `hactl-aws/src/iam/oidc_provider.rs`). `url` as configured, with `https://`.
    OidcProvider = "iam.oidc_provider" [global] {
        reads: ["iam:ListOpenIDConnectProviders"],
        reads_account_wide: [],
        url / URL: replace,
        client_ids / CLIENT_IDS: in_place.as_set,
        thumbprints / THUMBPRINTS: in_place.as_set,
        tags / TAGS: in_place,
    }
    /// `iam.policy`: a customer managed policy under the stack's IAM path (provider:
    /// `hactl-aws/src/iam/policy.rs`). IAM cannot change a policy's description: replace.
    Policy = "iam.policy" [global] {
        reads: ["iam:ListPolicies"],
        reads_account_wide: [],
        name / NAME: replace,
        path / PATH: replace,
        description / DESCRIPTION: replace,
        document / DOCUMENT: in_place,
        tags / TAGS: in_place,
    }
    /// `iam.role` (provider: `hactl-aws/src/iam/role.rs`).
    Role = "iam.role" [global] {
        reads: ["iam:ListRoles"],
        reads_account_wide: [],
        name / NAME: replace,
        path / PATH: replace,
        description / DESCRIPTION: in_place,
        assume_role_policy / ASSUME_ROLE_POLICY: in_place,
        inline_policies / INLINE_POLICIES: in_place,
        managed_policy_arns / MANAGED_POLICY_ARNS: in_place.as_set,
        tags / TAGS: in_place,
    }
}
