//! `lambda.*` kinds: their typed builders and property names (see [`crate::kinds`]).

use crate::kinds::kinds;

kinds! {
    /// `lambda.function` (provider: `hactl-aws/src/lambda/function.rs`): a Lambda
    /// function whose code is one source file hactl packages itself, with its asynchronous
    /// invocation settings and the permissions of its resource policy. id = its name.
    Function = "lambda.function" {
        reads: ["lambda:ListFunctions"],
        reads_account_wide: [],
        name / NAME: replace,
        description / DESCRIPTION: in_place,
        runtime / RUNTIME: in_place,
        handler / HANDLER: in_place,
        code / CODE: in_place,
        role_arn / ROLE_ARN: in_place,
        timeout / TIMEOUT: in_place,
        memory_size / MEMORY_SIZE: in_place,
        environment / ENVIRONMENT: in_place,
        subnet_ids / SUBNET_IDS: in_place.as_set,
        security_group_ids / SECURITY_GROUP_IDS: in_place.as_set,
        log_group / LOG_GROUP: in_place,
        async_invoke / ASYNC_INVOKE: in_place,
        invoke_permissions / INVOKE_PERMISSIONS: in_place,
        tags / TAGS: in_place,
    }
}
