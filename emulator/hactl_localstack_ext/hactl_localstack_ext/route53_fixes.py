"""Route 53 fixes: LocalStack's free edition serves Route 53 from its bundled moto, which
departs from AWS where hactl's DNS kinds (route53.hosted_zone, route53.health_check,
route53.record) depend on it. Each patch below states the gap and why it matters.

Apply once at startup, before the first Route 53 request (the LocalStack provider binds
its handlers when it is first loaded):

    from hactl_localstack_ext.route53_fixes import apply_route53_fixes
    apply_route53_fixes()

Every patch is idempotent (a second call changes nothing).
"""

import copy
import re

import xmltodict


def apply_route53_fixes():
    """Applies every Route 53 patch of this module."""
    patch_hosted_zone_caller_reference()
    patch_health_check_caller_reference()
    patch_health_check_version()
    patch_change_resource_record_sets()
    patch_private_zone_config()
    patch_record_name_escapes()


def _error(code, message, status=400):
    """A Route 53 error answer (`<ErrorResponse><Error><Code>...`) with this HTTP status."""
    from moto.route53.exceptions import Route53ClientError

    err = Route53ClientError(code, message)
    err.code = status
    return err


def _patched(owner, name):
    return getattr(getattr(owner, name), "_hactl_patched", False)


def _mark(fn):
    fn._hactl_patched = True
    return fn


def patch_hosted_zone_caller_reference():
    """CreateHostedZone: moto creates a second zone for a CallerReference already used, and
    keeps the name's case. AWS refuses the reference with HostedZoneAlreadyExists (409),
    which is how a create retried after a crash finds the zone its first attempt made
    (hactl derives the reference from the stack, address and properties) instead of
    leaving a duplicate zone behind; and AWS answers names in lowercase, which moto's
    case-sensitive "is this record in the zone" check also needs."""
    from moto.route53.models import Route53Backend

    if _patched(Route53Backend, "create_hosted_zone"):
        return
    original = Route53Backend.create_hosted_zone

    @_mark
    def create_hosted_zone(self, name, private_zone, caller_reference=None, *args, **kwargs):
        if caller_reference and any(z.caller_reference == caller_reference for z in self.zones.values()):
            raise _error(
                "HostedZoneAlreadyExists",
                "A hosted zone has already been created with the specified caller reference.",
                409,
            )
        return original(self, name.lower(), private_zone, caller_reference, *args, **kwargs)

    Route53Backend.create_hosted_zone = create_hosted_zone


_CHECK_FIELDS = (
    "ip_address",
    "port",
    "type_",
    "resource_path",
    "fqdn",
    "search_string",
    "request_interval",
    "failure_threshold",
    "health_threshold",
    "inverted",
    "disabled",
)


def patch_health_check_caller_reference():
    """CreateHealthCheck: moto creates a new check for every request, even with the
    CallerReference of an existing one. AWS answers the existing check when the reference
    and the configuration are the same (the idempotency a retried create relies on: no
    duplicate check) and refuses with HealthCheckAlreadyExists (409) when the
    configuration differs."""
    from moto.route53.models import HealthCheck, Route53Backend

    if _patched(Route53Backend, "create_health_check"):
        return
    original = Route53Backend.create_health_check

    @_mark
    def create_health_check(self, caller_reference, health_check_args):
        existing = [hc for hc in self.health_checks.values() if hc.caller_reference == caller_reference]
        if existing:
            wanted = HealthCheck("probe", caller_reference, health_check_args)
            same = all(
                str(getattr(existing[0], f)) == str(getattr(wanted, f)) for f in _CHECK_FIELDS
            )
            if same:
                return existing[0]
            raise _error(
                "HealthCheckAlreadyExists",
                "A health check with this caller reference already exists with another configuration.",
                409,
            )
        return original(self, caller_reference, health_check_args)

    Route53Backend.create_health_check = create_health_check


def _version(check):
    return getattr(check, "hactl_version", 1)


def patch_health_check_version():
    """HealthCheckVersion: moto answers version 1 for ever and ignores the version an
    UpdateHealthCheck names; LocalStack's own GetHealthCheck leaves the version out. AWS
    increments the version on every update and refuses an update naming another version
    with HealthCheckVersionMismatch (409): hactl updates at the version it just read, so a
    concurrent change is detected instead of overwritten. Also: moto ignores
    ResetElements (ResourcePath), and renders an unset IPAddress as the string "None"."""
    from localstack.services.route53.provider import Route53Provider
    from moto.route53.models import HealthCheck, route53_backends
    from moto.route53.responses import Route53

    if not _patched(HealthCheck, "to_xml"):
        to_xml = HealthCheck.to_xml

        @_mark
        def versioned_xml(self):
            xml = to_xml(self).replace(
                "<HealthCheckVersion>1</HealthCheckVersion>",
                f"<HealthCheckVersion>{_version(self)}</HealthCheckVersion>",
            )
            return re.sub(r"\s*<IPAddress>None</IPAddress>", "", xml)

        HealthCheck.to_xml = versioned_xml

    if not _patched(Route53, "update_health_check"):
        update = Route53.update_health_check

        @_mark
        def update_health_check(self):
            check_id = self.parsed_url.path.split("/")[-1]
            request = xmltodict.parse(self.body)["UpdateHealthCheckRequest"]
            check = self.backend.get_health_check(check_id)
            asked = request.get("HealthCheckVersion")
            if asked is not None and int(asked) != _version(check):
                raise _error(
                    "HealthCheckVersionMismatch",
                    "The value of HealthCheckVersion in the request doesn't match the value of "
                    "HealthCheckVersion in the health check.",
                    409,
                )
            reset = (request.get("ResetElements") or {}).get("ResettableElementName") or []
            if isinstance(reset, str):
                reset = [reset]
            check.hactl_version = _version(check) + 1
            if "ResourcePath" in reset:
                check.resource_path = None
            try:
                return update(self)
            except Exception:
                check.hactl_version -= 1
                raise

        Route53.update_health_check = update_health_check

    if not _patched(Route53Provider, "get_health_check"):
        get = Route53Provider.get_health_check

        @_mark
        def get_health_check(self, context, health_check_id, **kwargs):
            response = get(self, context, health_check_id, **kwargs)
            backend = route53_backends[context.account_id][context.partition]
            check = backend.health_checks.get(health_check_id)
            response["HealthCheck"]["HealthCheckVersion"] = _version(check)
            return response

        Route53Provider.get_health_check = get_health_check


def _fqdn(name):
    return name.lower().rstrip(".") + "."


def _key(name, type_, set_identifier):
    return (_fqdn(name), type_, set_identifier or None)


def _describe(key):
    name, type_, set_identifier = key
    out = f"name='{name}', type='{type_}'"
    return out + (f", set-identifier='{set_identifier}'" if set_identifier else "")


def _values(record_set):
    """The values of a record set (a moto RecordSet or a request's dict) that a DELETE must
    repeat, in one comparable form."""
    if isinstance(record_set, dict):
        get = record_set.get
        alias = get("AliasTarget") or {}
        records = get("ResourceRecords") or []
        fields = {k: get(k) for k in ("TTL", "Failover", "HealthCheckId", "Weight", "Region")}
    else:
        alias = record_set.alias_target or {}
        records = record_set.records or []
        fields = {
            "TTL": record_set.ttl,
            "Failover": record_set.failover,
            "HealthCheckId": record_set.health_check,
            "Weight": record_set.weight,
            "Region": record_set.region,
        }
    norm = {k: str(v) for k, v in fields.items() if v not in (None, "", 0, "0", [])}
    if alias:
        norm["AliasTarget"] = (
            alias.get("HostedZoneId"),
            _fqdn(alias.get("DNSName") or ""),
            str(alias.get("EvaluateTargetHealth")).lower(),
        )
    norm["ResourceRecords"] = sorted(str(r) for r in records)
    return norm


def _record_values(resource_records):
    """The values of a request's ResourceRecords ({"ResourceRecord": [{"Value": ...}]})."""
    items = list(resource_records.values())[0] if resource_records else []
    if not isinstance(items, list):
        items = [items]
    return [x["Value"] for x in items]


def patch_change_resource_record_sets():
    """ChangeResourceRecordSets, as AWS applies a change batch (all or nothing, in order):
    - CREATE of a record whose name, type and set identifier exist already is refused
      (InvalidChangeBatch "... but it already exists"); moto refuses it only when the very
      same change was made before, and otherwise keeps two records of one key. hactl
      creates with CREATE so that a record it does not own is never overwritten.
    - DELETE removes only the record of its name, type and set identifier; moto removes
      every record carrying that set identifier in the zone, whatever its name (another
      record's `primary` went with ours). A DELETE of a record that does not exist, or
      whose values differ from the current ones, is refused as on AWS.
    - Names compare without case (AWS answers them lowercase).
    """
    from moto.route53 import models
    from moto.route53.exceptions import DnsNameInvalidForZone, InvalidActionValue
    from moto.route53.utils import validate_domain_name

    backend_cls = models.Route53Backend
    if _patched(backend_cls, "change_resource_record_sets"):
        return

    def in_zone(name, zone_name):
        zone = _fqdn(zone_name)
        return name == zone or name.endswith("." + zone)

    @_mark
    def change_resource_record_sets(self, zoneid, change_list):
        zone = self.get_hosted_zone(zoneid)
        staged = list(zone.rrsets)
        for change in change_list:
            action = change["Action"]
            if action not in ("CREATE", "UPSERT", "DELETE"):
                raise InvalidActionValue(action)
            given = copy.deepcopy(change["ResourceRecordSet"])
            validate_domain_name(given["Name"], code="InvalidChangeBatch")
            if not in_zone(_fqdn(given["Name"]), zone.name):
                raise DnsNameInvalidForZone(name=given["Name"], zone_name=zone.name)
            given["Name"] = _fqdn(given["Name"])
            if "ResourceRecords" in given:
                given["ResourceRecords"] = _record_values(given["ResourceRecords"])
            key = _key(given["Name"], given.get("Type"), given.get("SetIdentifier"))
            current = [r for r in staged if _key(r.name, r.type_, r.set_identifier) == key]
            what = f"resource record set [{_describe(key)}]"
            if action == "CREATE" and current:
                raise _error("InvalidChangeBatch", f"[Tried to create {what} but it already exists]")
            if action == "DELETE" and not current:
                raise _error("InvalidChangeBatch", f"[Tried to delete {what} but it was not found]")
            if action == "DELETE" and _values(current[0]) != _values(given):
                raise _error(
                    "InvalidChangeBatch",
                    f"[Tried to delete {what} but the values provided do not match the current values]",
                )
            staged = [r for r in staged if r not in current]
            if action != "DELETE":
                staged.append(models.RecordSet(given))
        zone.rrsets = staged
        for change in change_list:
            zone.rr_changes.append(copy.deepcopy(change))

    backend_cls.change_resource_record_sets = change_resource_record_sets


def patch_private_zone_config():
    """CreateHostedZone of a private zone: moto reads HostedZoneConfig's Comment as
    required (a private zone's configuration without a comment, `PrivateZone` only, is an
    InternalError: KeyError 'Comment'), and makes a zone public when the request carries a
    VPC but no HostedZoneConfig. AWS takes the comment as optional and makes every zone
    created with a VPC private. hactl's private zones (route53.hosted_zone with `vpc_id`)
    send HostedZoneConfig{PrivateZone: true} and a comment only when there is one. The
    request body is completed before moto reads it: an empty Comment (moto stores no
    comment, as AWS), and PrivateZone true with a VPC."""
    from moto.route53.responses import Route53

    original = Route53.create_hosted_zone
    if getattr(original, "_hactl_private_zone", False):
        return

    def create_hosted_zone(self):
        body = self.body.decode() if isinstance(self.body, bytes) else self.body
        doc = xmltodict.parse(body) if body else {}
        request = doc.get("CreateHostedZoneRequest")
        if isinstance(request, dict):
            config = request.get("HostedZoneConfig")
            changed = False
            if request.get("VPC") and not isinstance(config, dict):
                config = request["HostedZoneConfig"] = {"PrivateZone": "true"}
                changed = True
            if isinstance(config, dict) and "Comment" not in config:
                config["Comment"] = None
                changed = True
            if changed:
                self.body = xmltodict.unparse(doc)
        return original(self)

    create_hosted_zone._hactl_private_zone = True
    Route53.create_hosted_zone = create_hosted_zone


# What Route 53 answers unescaped in a name: a-z, 0-9, hyphen, underscore (and the dots
# between labels); anything else as `\ooo`.
_PLAIN = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_ESCAPE = re.compile(r"\\([0-7]{3})")


def _unescape_name(name):
    r"""A name as given in a request, its `\ooo` escapes of printable characters other than
    `.` and `\` read back (`\052.example.com.` is `*.example.com.`)."""
    if not name or "\\" not in name:
        return name

    def char(m):
        c = int(m.group(1), 8)
        return chr(c) if 33 <= c <= 126 and chr(c) not in ".\\" else m.group(0)

    return _ESCAPE.sub(char, name)


def _escape_name(name):
    r"""A stored name as ListResourceRecordSets answers it: characters other than a-z, 0-9,
    `-`, `_` and `.` as `\ooo` (escapes already there kept)."""
    if not name:
        return name
    out, i = [], 0
    while i < len(name):
        if name[i] == "\\" and _ESCAPE.match(name, i):
            out.append(name[i : i + 4])
            i += 4
            continue
        c = name[i]
        out.append(c if c in _PLAIN or ord(c) > 255 else f"\\{ord(c):03o}")
        i += 1
    return "".join(out)


def patch_record_name_escapes():
    r"""Record names with characters other than a-z, 0-9, `-` and `_`: AWS's
    ListResourceRecordSets answers them as escape codes (`*.app.internal` as
    `\052.app.internal.`, whether the record was created with `*` or with `\052`) and
    takes either form in a change batch or StartRecordName; moto answers the name as it
    was given and knows no escape (a DELETE naming `\052.app.internal.` does not find the
    record `*.app.internal.`). hactl's wildcard record of a private zone
    (`*.<stack>.internal`) is read back and deleted in the form AWS answers. Names are
    stored unescaped (escapes of printable characters read back on the way in) and
    escaped on the way out."""
    import copy as _copy

    from moto.route53.models import Route53Backend

    change = Route53Backend.change_resource_record_sets
    if not getattr(change, "_hactl_escapes", False):

        def change_resource_record_sets(self, zoneid, change_list):
            decoded = []
            for c in change_list:
                c = _copy.deepcopy(c)
                record = c.get("ResourceRecordSet") or {}
                if record.get("Name"):
                    record["Name"] = _unescape_name(record["Name"])
                decoded.append(c)
            return change(self, zoneid, decoded)

        change_resource_record_sets._hactl_escapes = True
        Route53Backend.change_resource_record_sets = change_resource_record_sets

    listing = Route53Backend.list_resource_record_sets
    if not getattr(listing, "_hactl_escapes", False):

        def list_resource_record_sets(self, zone_id, start_type, start_name, max_items):
            records, next_name, next_type, truncated = listing(
                self, zone_id, start_type, _unescape_name(start_name), max_items
            )
            answered = []
            for r in records:
                r = _copy.copy(r)
                r.name = _escape_name(r.name)
                answered.append(r)
            return answered, _escape_name(next_name), next_type, truncated

        list_resource_record_sets._hactl_escapes = True
        Route53Backend.list_resource_record_sets = list_resource_record_sets
