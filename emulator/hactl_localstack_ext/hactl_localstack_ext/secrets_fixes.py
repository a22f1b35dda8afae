"""Master user passwords that RDS and DocumentDB manage in Secrets Manager
(ManageMasterUserPassword), as moto and LocalStack serve them, against AWS:

- moto writes every managed secret as {"username": "admin", "password": "P@55w0rd!"}: the
  same password for every database, and a username that is not the database's. AWS writes
  the database's master username and a generated password.
- AWS turns rotation on for a managed secret at once, every 7 days (RotationEnabled,
  RotationRules.AutomaticallyAfterDays = 7); moto leaves it off.
- RotateSecret of a managed secret: AWS rotates it through the owning service (no Lambda
  function; RotationLambdaARN stays unset), with RotationRules changing the schedule and
  RotateImmediately (default true) a new password at once, the new version AWSCURRENT
  and the old one AWSPREVIOUS. LocalStack's RotateSecret refuses any secret without a
  Lambda function ("No Lambda rotation function ARN is associated with this secret.").

Managed rotation is served here for secrets whose OwningService is "rds": the schedule
is kept, and a rotation writes a new version with the same username and a new password
(32 letters and digits), as RDS's managed rotation does. Other secrets keep LocalStack's
behaviour.

- AWS puts a "Secret Label Updated" event (source aws.secretsmanager, the secret's ARN in
  `resources`, detail name / labelUpdated / versionId) on the default event bus of the
  secret's account and region whenever a staging label other than AWSPENDING and
  AWSPREVIOUS moves to another version of a secret
  (https://docs.aws.amazon.com/secretsmanager/latest/userguide/event-detail-secret-label-updated-secretsmanager.html):
  a finished rotation, PutSecretValue, UpdateSecretVersionStage. The emulator puts none;
  here every move of AWSCURRENT (a version held it before, another holds it after) is
  put on LocalStack's EventBridge, so rules matching it run their targets.
"""

import json
import secrets
import string
import time

AWS_DEFAULT_ROTATION_DAYS = 7
_ALPHABET = string.ascii_letters + string.digits


def _password() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


def _put_label_event(account_id: str, region: str, arn: str, name: str, version_id: str) -> None:
    """The event AWS puts when AWSCURRENT moved to `version_id`, put from another thread
    (it is an HTTP call of its own into the emulator, made while this request runs)."""
    import threading

    def put():
        from localstack.aws.connect import connect_to

        detail = {"name": name, "labelUpdated": "AWSCURRENT", "versionId": version_id}
        events = connect_to(aws_access_key_id=account_id, region_name=region).events
        events.put_events(
            Entries=[
                {
                    "Source": "aws.secretsmanager",
                    "DetailType": "Secret Label Updated",
                    "Resources": [arn],
                    "Detail": json.dumps(detail),
                }
            ]
        )

    threading.Thread(target=put, name="hactl-secret-label-event", daemon=True).start()


def _emitting_label_events(method):
    """Wraps a backend method that may move AWSCURRENT: after it, an event for the move."""

    def wrapper(self, secret_id, *args, **kwargs):
        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        before = getattr(secret, "default_version_id", None)
        result = method(self, secret_id, *args, **kwargs)
        secret = self.secrets.get(secret_id)
        after = getattr(secret, "default_version_id", None)
        if before and after and after != before:
            _put_label_event(self.account_id, self.region_name, secret.arn, secret.name, after)
        return result

    wrapper._hactl_patched = True
    return wrapper


def _patched(owner, name):
    return getattr(getattr(owner, name), "_hactl_patched", False)


def patch_managed_master_secrets():
    # LocalStack's own RotateSecret patch goes in when its provider module is imported:
    # import it first, so the wrapper below sits on top of it.
    import localstack.services.secretsmanager.provider  # noqa: F401
    from moto.rds import models as rds_models
    from moto.secretsmanager.models import SecretsManagerBackend

    if _patched(SecretsManagerBackend, "rotate_secret"):
        return

    cls = rds_models.MasterUserSecret
    original_init = cls.__init__

    def init(self, resource, kms_key_id):
        original_init(self, resource, kms_key_id)
        # moto reports the rotation fields only once a rotation was requested.
        self.secret.rotation_requested = True
        self.secret.rotation_enabled = True
        self.secret.auto_rotate_after_days = AWS_DEFAULT_ROTATION_DAYS
        self.secret.next_rotation_date = int(time.time()) + AWS_DEFAULT_ROTATION_DAYS * 86400

    def secret_string(self):
        username = getattr(self.resource, "master_username", None) or "admin"
        return json.dumps({"username": username, "password": _password()})

    cls.__init__ = init
    cls._generate_secret_string = secret_string

    rotate = SecretsManagerBackend.rotate_secret

    def rotate_secret(
        self,
        secret_id,
        client_request_token=None,
        rotation_lambda_arn=None,
        rotation_rules=None,
        rotate_immediately=True,
    ):
        secret = self.secrets.get(secret_id) if self._is_valid_identifier(secret_id) else None
        if secret is None or getattr(secret, "owning_service", None) != "rds" or secret.is_deleted():
            return rotate(
                self,
                secret_id,
                client_request_token=client_request_token,
                rotation_lambda_arn=rotation_lambda_arn,
                rotation_rules=rotation_rules,
                rotate_immediately=rotate_immediately,
            )
        days = (rotation_rules or {}).get("AutomaticallyAfterDays")
        if days is not None:
            from moto.secretsmanager.exceptions import InvalidParameterException

            if not 1 <= int(days) <= 1000:
                raise InvalidParameterException("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
            secret.auto_rotate_after_days = int(days)
        secret.rotation_requested = True
        secret.rotation_enabled = True
        secret.next_rotation_date = int(time.time()) + int(secret.auto_rotate_after_days) * 86400
        if rotate_immediately:
            current = json.loads(secret.secret_string or "{}")
            current["password"] = _password()
            version_id = client_request_token or str(__import__("uuid").uuid4())
            # put_secret_value moves AWSCURRENT to the new version and AWSPREVIOUS to the
            # old one, as a finished rotation leaves them.
            self.put_secret_value(
                secret_id,
                secret_string=json.dumps(current),
                secret_binary=None,
                client_request_token=version_id,
                version_stages=["AWSCURRENT"],
            )
            secret.last_rotation_date = int(time.time())
        return secret.to_short_dict()

    rotate_secret._hactl_patched = True
    SecretsManagerBackend.rotate_secret = rotate_secret
    # RotateSecret above moves AWSCURRENT through put_secret_value.
    for name in ("put_secret_value", "update_secret_version_stage"):
        setattr(SecretsManagerBackend, name, _emitting_label_events(getattr(SecretsManagerBackend, name)))
