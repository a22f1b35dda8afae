"""hactl log shipper: CloudWatch Logs subscription events into the OpenSearch domain.

A CloudWatch Logs subscription filter on each service's log group invokes this function
(asynchronously) with a batch of log events: base64 of gzip of JSON. Each event becomes
one document of the index ``<INDEX_PREFIX>-YYYY.MM.DD`` (its own day, UTC), sent in
_bulk requests of at most 5 MiB over HTTPS to the domain's VPC endpoint.

- Documents are created with the event's id as ``_id``: a batch sent again (Lambda's
  retry of a failed invocation) indexes nothing twice (409, already there, counts as
  done).
- Authentication: the domain's fine-grained access control master user, read from its
  Secrets Manager secret at the first invocation (never from the environment, never
  logged); read again once when the domain refuses it (the password changed).
- A batch the domain refuses in part or in whole raises: Lambda retries the invocation,
  then hands the event, with the error, to the function's on-failure destination (the
  stack's failed-batches S3 bucket). Control messages (CloudWatch Logs' own checks of the
  destination) carry no events and are acknowledged.

Standard library and boto3 only (both in Lambda's Python runtime).
"""

import base64
import datetime
import gzip
import json
import os
import ssl
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 20
# Bytes of one _bulk request at most (OpenSearch Service takes 10 MiB on its smallest
# instance types, 100 MiB on large ones).
MAX_REQUEST_BYTES = 5 * 1024 * 1024
_credentials = None


class Refused(Exception):
    """The domain refused a request or some of a batch's documents."""


def decode(event):
    """The subscription's payload (a dict) from the invocation event."""
    return json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))


def index_of(prefix, millis):
    day = datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.timezone.utc)
    return f"{prefix}-{day:%Y.%m.%d}"


def document(payload, log_event):
    """One log event as a document: its time, message (as text, whatever it holds: the
    fields of JSON messages from several services would clash in one index's mapping, and
    a clash refuses the document for good) and origin."""
    at = datetime.datetime.fromtimestamp(log_event["timestamp"] / 1000, tz=datetime.timezone.utc)
    return {
        "@timestamp": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": log_event["message"],
        "log_group": payload.get("logGroup"),
        "log_stream": payload.get("logStream"),
        "owner": payload.get("owner"),
    }


def bulk_bodies(payload, prefix, max_bytes=None):
    """The _bulk requests' NDJSON bodies: a create action and its document per event, cut
    so that no body passes ``max_bytes`` (the smallest instance types take 10 MiB a
    request; a single larger event still goes alone)."""
    max_bytes = max_bytes or MAX_REQUEST_BYTES
    bodies, lines, size = [], [], 0
    for e in payload.get("logEvents", []):
        action = {"create": {"_index": index_of(prefix, e["timestamp"]), "_id": e["id"]}}
        pair = json.dumps(action, separators=(",", ":")) + "\n" + json.dumps(document(payload, e), separators=(",", ":")) + "\n"
        n = len(pair.encode())
        if lines and size + n > max_bytes:
            bodies.append("".join(lines))
            lines, size = [], 0
        lines.append(pair)
        size += n
    if lines:
        bodies.append("".join(lines))
    return bodies


def refused_items(answer):
    """The items of a _bulk answer the domain did not take (a conflict, 409, means the
    document is there already: a retried batch)."""
    refused = []
    for item in answer.get("items", []):
        result = next(iter(item.values()), {})
        status = result.get("status", 0)
        if status >= 300 and status != 409:
            refused.append(result)
    return refused


def read_credentials(secret_arn, client=None):
    """``Basic`` credentials of the master user from its secret."""
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")
    secret = json.loads(client.get_secret_value(SecretId=secret_arn)["SecretString"])
    pair = f"{secret['username']}:{secret['password']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def post(url, body, authorization, opener=None):
    """POSTs the body; the parsed answer, or Refused with the status and AWS's reason."""
    request = urllib.request.Request(
        url,
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "application/x-ndjson", "Authorization": authorization},
    )
    opener = opener or urllib.request.urlopen
    try:
        with opener(request, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as e:
        reason = e.read()[:300].decode(errors="replace")
        raise Refused(f"HTTP {e.code} from the domain: {reason}") from None


def ship(payload, env, credentials, opener=None):
    """Indexes the payload's events; the number indexed. ``credentials(force)`` gives the
    Authorization header, read again when ``force``."""
    events = payload.get("logEvents", [])
    if payload.get("messageType") != "DATA_MESSAGE" or not events:
        return 0
    url = f"https://{env['DOMAIN_ENDPOINT']}/_bulk"
    refused = []
    for body in bulk_bodies(payload, env.get("INDEX_PREFIX", "logs")):
        try:
            answer = post(url, body, credentials(False), opener)
        except Refused as e:
            if not str(e).startswith(("HTTP 401", "HTTP 403")):
                raise
            answer = post(url, body, credentials(True), opener)
        refused.extend(refused_items(answer))
    if refused:
        first = refused[0].get("error", {})
        raise Refused(
            f"the domain refused {len(refused)} of {len(events)} documents "
            f"(first: {first.get('type')}: {first.get('reason')})"
        )
    return len(events)


def credentials(force):
    """The master user's Authorization header, read from its secret once per container
    (again when ``force``: the domain refused it, the password may have changed)."""
    global _credentials
    if force or _credentials is None:
        _credentials = read_credentials(os.environ["MASTER_SECRET_ARN"])
    return _credentials


def handler(event, context):
    payload = decode(event)
    indexed = ship(payload, os.environ, credentials)
    print(json.dumps({"logGroup": payload.get("logGroup"), "indexed": indexed}))
    return {"indexed": indexed}
