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


def patch_iam_oidc_client_ids():
    """AddClientIDToOpenIDConnectProvider and RemoveClientIDFromOpenIDConnectProvider:
    moto has neither (LocalStack answers InternalFailure "not implemented"). AWS adds a
    client id to the provider's list (adding one already there is a no-op) and removes
    one (removing one not there is a no-op); an unknown provider is NoSuchEntity. hactl's
    iam.oidc_provider converges the client id list with them."""
    from localstack.aws.api.iam import NoSuchEntityException
    from localstack.services.iam.provider import IamProvider, get_iam_backend

    if _patched(IamProvider, "add_client_id_to_open_id_connect_provider"):
        return

    def provider_of(context, arn):
        p = get_iam_backend(context).open_id_providers.get(arn)
        if p is None:
            raise NoSuchEntityException(f"OpenIDConnect Provider not found for arn {arn}")
        return p

    def add_client_id_to_open_id_connect_provider(
        self, context, open_id_connect_provider_arn, client_id, **kwargs
    ):
        p = provider_of(context, open_id_connect_provider_arn)
        if client_id not in p.client_id_list:
            p.client_id_list.append(client_id)

    def remove_client_id_from_open_id_connect_provider(
        self, context, open_id_connect_provider_arn, client_id, **kwargs
    ):
        p = provider_of(context, open_id_connect_provider_arn)
        p.client_id_list[:] = [c for c in p.client_id_list if c != client_id]

    add_client_id_to_open_id_connect_provider._hactl_patched = True
    remove_client_id_from_open_id_connect_provider._hactl_patched = True
    IamProvider.add_client_id_to_open_id_connect_provider = add_client_id_to_open_id_connect_provider
    IamProvider.remove_client_id_from_open_id_connect_provider = (
        remove_client_id_from_open_id_connect_provider
    )
