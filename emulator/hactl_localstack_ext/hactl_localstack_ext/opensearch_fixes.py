"""OpenSearch Service, served from moto (LocalStack's free edition runs a real OpenSearch
per domain, downloaded on first use: too heavy for this emulator), against AWS:

- CreateDomain of a name that exists replaces the domain; AWS refuses it
  (ResourceAlreadyExistsException).
- The fine-grained access control master user (MasterUserOptions: name and password) is
  kept and answered by DescribeDomain(s); AWS never answers it. Here it is dropped at
  create and update: the password would otherwise travel back in every read.
- DeleteDomain leaves the domain's tags behind (a new domain of the same name starts
  with them); AWS deletes them with the domain.
"""

from moto.core.exceptions import JsonRESTError


class ResourceAlreadyExistsException(JsonRESTError):
    code = 409

    def __init__(self, name: str):
        super().__init__("ResourceAlreadyExistsException", f"Domain {name} already exists")


def _without_master_user(options):
    if not options:
        return options
    return {k: v for k, v in options.items() if k != "MasterUserOptions"}


def patch_moto_opensearch() -> None:
    from moto.opensearch.models import OpenSearchServiceBackend

    if getattr(OpenSearchServiceBackend.create_domain, "_hactl_patched", False):
        return
    create = OpenSearchServiceBackend.create_domain
    update = OpenSearchServiceBackend.update_domain_config
    delete = OpenSearchServiceBackend.delete_domain

    def create_domain(self, domain_name, *args, **kwargs):
        if domain_name in self.domains:
            raise ResourceAlreadyExistsException(domain_name)
        if "advanced_security_options" in kwargs:
            kwargs["advanced_security_options"] = _without_master_user(kwargs["advanced_security_options"])
        return create(self, domain_name, *args, **kwargs)

    def update_domain_config(self, domain_name, *args, **kwargs):
        if "advanced_security_options" in kwargs:
            kwargs["advanced_security_options"] = _without_master_user(kwargs["advanced_security_options"])
        return update(self, domain_name, *args, **kwargs)

    def delete_domain(self, domain_name):
        domain = delete(self, domain_name)
        self.tagger.delete_all_tags_for_resource(domain.arn)
        return domain

    create_domain._hactl_patched = True
    OpenSearchServiceBackend.create_domain = create_domain
    OpenSearchServiceBackend.update_domain_config = update_domain_config
    OpenSearchServiceBackend.delete_domain = delete_domain
