"""Unit tests of the log shipper (crates/hactl-config/src/log_shipper.py), the Lambda
function the stack runs with [log_analytics]. The emulator cannot run Lambda functions
(no container runtime here), so its behaviour is checked here against a fake domain: run
by tests/log_shipper.rs with the emulator's Python (`python -m unittest`)."""

import base64
import gzip
import io
import json
import os
import sys
import unittest
import unittest.mock
import urllib.error

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "crates", "hactl-config", "src"))
import log_shipper  # noqa: E402

# 2026-12-04T10:00:00Z and a second later.
T0 = 1_796_378_400_000


def invocation(payload):
    raw = gzip.compress(json.dumps(payload).encode())
    return {"awslogs": {"data": base64.b64encode(raw).decode()}}


def batch(*messages, message_type="DATA_MESSAGE"):
    return {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": "/hactl/demo/web",
        "logStream": "web/web/abc",
        "subscriptionFilters": ["demo-log-analytics"],
        "logEvents": [
            {"id": f"3{i:055d}", "timestamp": T0 + 1000 * i, "message": m} for i, m in enumerate(messages)
        ],
    }


class Domain:
    """A fake _bulk endpoint: answers queued (status, body) pairs, records requests."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests = []

    def __call__(self, request, timeout, context):
        self.requests.append(request)
        status, body = self.answers.pop(0)
        if status >= 300:
            raise urllib.error.HTTPError(request.full_url, status, "refused", {}, io.BytesIO(body.encode()))
        return io.BytesIO(json.dumps(body).encode())


def created(n, status=201):
    return {"errors": status >= 300, "items": [{"create": {"status": status}} for _ in range(n)]}


ENV = {"DOMAIN_ENDPOINT": "vpc-demo-logs-abc.us-east-1.es.amazonaws.com", "INDEX_PREFIX": "demo-logs"}


class Credentials:
    def __init__(self):
        self.reads = 0

    def __call__(self, force):
        if force or self.reads == 0:
            self.reads += 1
        return f"Basic cred-{self.reads}"


class ShipperTest(unittest.TestCase):
    def test_an_invocation_decodes_to_the_subscription_payload(self):
        payload = batch("hello")
        self.assertEqual(log_shipper.decode(invocation(payload)), payload)

    def test_each_event_is_a_create_in_its_days_index_with_its_id(self):
        (body,) = log_shipper.bulk_bodies(batch("plain text", '{"level":"error","user":7}'), "demo-logs")
        lines = [json.loads(line) for line in body.splitlines()]
        self.assertTrue(body.endswith("\n"))
        self.assertEqual(len(lines), 4)
        self.assertEqual(lines[0], {"create": {"_index": "demo-logs-2026.12.04", "_id": "3" + "0" * 55}})
        self.assertEqual(lines[1]["@timestamp"], "2026-12-04T10:00:00.000Z")
        self.assertEqual(lines[1]["message"], "plain text")
        self.assertEqual(lines[1]["log_group"], "/hactl/demo/web")
        # A JSON message stays text: no field of it reaches the index's mapping.
        self.assertEqual(lines[3]["message"], '{"level":"error","user":7}')
        self.assertEqual(sorted(lines[3]), ["@timestamp", "log_group", "log_stream", "message", "owner"])
        self.assertEqual(lines[3]["@timestamp"], "2026-12-04T10:00:01.000Z")

    def test_a_large_batch_is_cut_into_requests_under_the_limit(self):
        payload = batch(*["x" * 400 for _ in range(10)])
        bodies = log_shipper.bulk_bodies(payload, "logs", max_bytes=2000)
        self.assertGreater(len(bodies), 1)
        self.assertTrue(all(len(b.encode()) <= 2000 for b in bodies))
        ids = [json.loads(l)["create"]["_id"] for b in bodies for l in b.splitlines()[::2]]
        self.assertEqual(ids, [e["id"] for e in payload["logEvents"]], "every event once, in order")
        domain = Domain(*[(200, created(n)) for n in [len(b.splitlines()) // 2 for b in bodies]])
        original = log_shipper.MAX_REQUEST_BYTES
        log_shipper.MAX_REQUEST_BYTES = 2000
        try:
            self.assertEqual(log_shipper.ship(payload, ENV, Credentials(), domain), 10)
        finally:
            log_shipper.MAX_REQUEST_BYTES = original
        self.assertEqual(len(domain.requests), len(bodies))

    def test_an_event_after_midnight_goes_to_the_next_days_index(self):
        self.assertEqual(log_shipper.index_of("x", T0 + 14 * 3600 * 1000), "x-2026.12.05")

    def test_a_batch_goes_to_the_domains_bulk_api_with_the_credentials(self):
        domain = Domain((200, created(2)))
        n = log_shipper.ship(batch("a", "b"), ENV, Credentials(), domain)
        self.assertEqual(n, 2)
        (request,) = domain.requests
        self.assertEqual(request.full_url, "https://vpc-demo-logs-abc.us-east-1.es.amazonaws.com/_bulk")
        self.assertEqual(request.get_method(), "POST")
        self.assertEqual(request.get_header("Authorization"), "Basic cred-1")
        self.assertEqual(request.get_header("Content-type"), "application/x-ndjson")

    def test_documents_already_indexed_count_as_done(self):
        domain = Domain((200, created(2, status=409)))
        self.assertEqual(log_shipper.ship(batch("a", "b"), ENV, Credentials(), domain), 2)

    def test_a_refused_document_fails_the_invocation_with_the_domains_reason(self):
        answer = created(2)
        answer["items"][1] = {
            "create": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad field"}}
        }
        with self.assertRaisesRegex(log_shipper.Refused, "refused 1 of 2 documents.*mapper_parsing_exception: bad"):
            log_shipper.ship(batch("a", "b"), ENV, Credentials(), Domain((200, answer)))

    def test_credentials_refused_once_are_read_again(self):
        creds = Credentials()
        domain = Domain((401, "Unauthorized"), (200, created(1)))
        self.assertEqual(log_shipper.ship(batch("a"), ENV, creds, domain), 1)
        self.assertEqual([r.get_header("Authorization") for r in domain.requests], ["Basic cred-1", "Basic cred-2"])

    def test_credentials_refused_twice_fail_the_invocation(self):
        domain = Domain((403, "no permissions for [indices:data/write/bulk]"), (403, "no permissions"))
        with self.assertRaisesRegex(log_shipper.Refused, "HTTP 403"):
            log_shipper.ship(batch("a"), ENV, Credentials(), domain)

    def test_a_server_error_is_not_retried_here_but_by_lambda(self):
        domain = Domain((503, "busy"))
        with self.assertRaisesRegex(log_shipper.Refused, "HTTP 503 from the domain: busy"):
            log_shipper.ship(batch("a"), ENV, Credentials(), domain)
        self.assertEqual(len(domain.requests), 1)

    def test_control_messages_and_empty_batches_send_nothing(self):
        domain = Domain()
        self.assertEqual(log_shipper.ship(batch("x", message_type="CONTROL_MESSAGE"), ENV, Credentials(), domain), 0)
        self.assertEqual(log_shipper.ship(batch(), ENV, Credentials(), domain), 0)
        self.assertEqual(domain.requests, [])

    def test_the_handler_reads_the_secret_once_and_ships_the_invocation(self):
        reads = []

        def read(arn, client=None):
            reads.append(arn)
            return "Basic from-secret"

        domain = Domain((200, created(1)), (200, created(2)))
        saved = (log_shipper.read_credentials, log_shipper.urllib.request.urlopen, log_shipper._credentials)
        log_shipper.read_credentials, log_shipper.urllib.request.urlopen = read, domain
        log_shipper._credentials = None
        env = {"MASTER_SECRET_ARN": "arn:secret", **ENV}
        try:
            with unittest.mock.patch.dict(os.environ, env):
                self.assertEqual(log_shipper.handler(invocation(batch("a")), None), {"indexed": 1})
                self.assertEqual(log_shipper.handler(invocation(batch("b", "c")), None), {"indexed": 2})
        finally:
            log_shipper.read_credentials, log_shipper.urllib.request.urlopen, log_shipper._credentials = saved
        self.assertEqual(reads, ["arn:secret"], "one read of the secret per container")
        self.assertEqual([r.get_header("Authorization") for r in domain.requests], ["Basic from-secret"] * 2)

    def test_the_secret_gives_basic_credentials(self):
        class Client:
            def get_secret_value(self, SecretId):
                assert SecretId == "arn:secret"
                return {"SecretString": json.dumps({"username": "hactladmin", "password": "p@ss:w"})}

        header = log_shipper.read_credentials("arn:secret", Client())
        self.assertEqual(base64.b64decode(header.removeprefix("Basic ")).decode(), "hactladmin:p@ss:w")


if __name__ == "__main__":
    unittest.main()
