"""Fixes to moto's ECR, applied when the ECR provider is first loaded (providers.py).

Each patch says the gap (what moto does that AWS does not) and why hactl needs it fixed.
Every patch is applied once per process (a marker on the patched function).
"""

# AWS's limits of a registry's replication configuration (PutReplicationConfiguration):
# at most 10 rules, each with 1..25 destinations and at most 100 repository filters.
MAX_RULES = 10
MAX_DESTINATIONS = 25
MAX_FILTERS = 100


def patch_moto_ecr() -> None:
    """Every ECR patch below."""
    patch_moto_ecr_replication_rules()
    patch_moto_ecr_scan_on_push_default()


def _validate_rule(backend, rule: dict) -> None:
    """One replication rule, as AWS checks it: 1..25 destinations, none the source
    registry and region itself, at most 100 filters, each a PREFIX_MATCH."""
    from moto.ecr.exceptions import InvalidParameterException

    destinations = rule.get("destinations") or []
    if not 1 <= len(destinations) <= MAX_DESTINATIONS:
        raise InvalidParameterException(
            "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
            f"'a rule has 1 to {MAX_DESTINATIONS} destinations'"
        )
    for dest in destinations:
        if dest.get("region") == backend.region_name and dest.get("registryId") == backend.account_id:
            raise InvalidParameterException(
                "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
                "'Replication destination cannot be the same as the source registry'"
            )
    filters = rule.get("repositoryFilters") or []
    if len(filters) > MAX_FILTERS:
        raise InvalidParameterException(
            "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
            f"'a rule has at most {MAX_FILTERS} repository filters'"
        )
    for f in filters:
        if f.get("filterType") != "PREFIX_MATCH" or not f.get("filter"):
            raise InvalidParameterException(
                "Invalid parameter at 'replicationConfiguration' failed to satisfy constraint: "
                "'a repository filter is a non-empty filter of type PREFIX_MATCH'"
            )


def patch_moto_ecr_replication_rules() -> None:
    """Gap: moto's PutReplicationConfiguration refuses more than one rule ("This feature
    is disabled", a ValidationException). AWS takes up to 10 rules per registry and
    region. hactl's ``ecr.replication`` keeps every rule that is not the stack's (other
    stacks', the account's own) and puts its own rule beside them, so a registry holds
    several rules as soon as anything else replicates: without this, the merge cannot
    be tested. The patch accepts 0..10 rules and checks each as AWS does (1..25
    destinations, not the source registry and region, PREFIX_MATCH filters); it stores
    the configuration as given, as moto does."""
    from moto.ecr.exceptions import ValidationException
    from moto.ecr.models import ECRBackend

    original = ECRBackend.put_replication_configuration
    if getattr(original, "_hactl_rules", False):
        return

    def put_replication_configuration(self, replication_config):
        rules = replication_config.get("rules") or []
        if len(rules) > MAX_RULES:
            raise ValidationException(
                f"1 validation error detected: Value at 'replicationConfiguration.rules' failed "
                f"to satisfy constraint: Member must have length less than or equal to {MAX_RULES}"
            )
        for rule in rules:
            _validate_rule(self, rule)
        self.replication_config = {"rules": rules}
        return {"replicationConfiguration": self.replication_config}

    put_replication_configuration._hactl_rules = True
    ECRBackend.put_replication_configuration = put_replication_configuration


def patch_moto_ecr_scan_on_push_default() -> None:
    """Gap: PutImageScanningConfiguration with ``scanOnPush`` left out does nothing in moto
    (an empty ``imageScanningConfiguration`` is falsy, so the old setting stays). AWS reads
    a missing member as its default, false. aws-sdk-rust never sends a boolean member
    that holds its default: turning scan on push off (``scan_on_push = false``, an update
    of ``ecr.repository``) arrives as ``{"imageScanningConfiguration": {}}``, which moto
    ignored, so the repository kept scanning and the plan never converged. The patch
    stores ``scanOnPush`` with false for a missing member."""
    from moto.ecr.models import Repository

    original = Repository._update_image_scanning_configuration
    if getattr(original, "_hactl_scan_default", False):
        return

    def _update_image_scanning_configuration(self, image_scanning_configuration):
        if image_scanning_configuration is None:
            return
        config = dict(image_scanning_configuration)
        config["scanOnPush"] = bool(config.get("scanOnPush", False))
        self.image_scanning_configuration = config

    _update_image_scanning_configuration._hactl_scan_default = True
    Repository._update_image_scanning_configuration = _update_image_scanning_configuration
