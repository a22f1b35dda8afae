"""IAM gaps of LocalStack (its IAM provider on moto) that hactl runs into."""


def _patched(owner, name):
    return getattr(getattr(owner, name), "_hactl_patched", False)


def patch_iam_delete_policy_conflicts():
    """DeletePolicy of a customer managed policy: AWS refuses it with DeleteConflict (409)
    while the policy is attached to a role, user or group ("Cannot delete a policy attached
    to entities.") and while it has versions besides the default one (they must go first,
    DeletePolicyVersion; the default goes with the policy). LocalStack's DeletePolicy
    (which replaces moto's) deletes it regardless, leaving the attachments behind on the
    roles. Refuse both, as AWS does (hactl's iam.policy must never take a policy from under
    a role it does not own)."""
    from localstack.aws.api.iam import DeleteConflictException
    from localstack.services.iam.provider import IamProvider, get_iam_backend

    if _patched(IamProvider, "delete_policy"):
        return
    delete = IamProvider.delete_policy

    def delete_policy(self, context, policy_arn, **kwargs):
        backend = get_iam_backend(context)
        policy = backend.managed_policies.get(policy_arn)
        if policy is not None:
            holders = [*backend.roles.values(), *backend.users.values(), *backend.groups.values()]
            if any(policy_arn in h.managed_policies for h in holders):
                raise DeleteConflictException("Cannot delete a policy attached to entities.")
            if len(policy.versions) > 1:
                raise DeleteConflictException(
                    "This policy has more than one version. Before you delete a policy, you must "
                    "delete the policy's versions. The default version is deleted with the policy."
                )
        return delete(self, context, policy_arn, **kwargs)

    delete_policy._hactl_patched = True
    IamProvider.delete_policy = delete_policy
