"""Lambda, as LocalStack serves it here (host mode, no container runtime), against AWS:

- A function is prepared for running at its creation (LocalStack downloads its runtime
  init and readies a container image); without a container runtime that fails and the
  function stays in state Failed ("Installation of lambda-runtime ... failed"), so nothing
  that waits for Active (hactl's create, AWS's own waiters) can go on. Here the
  preparation is skipped: the function becomes Active as on AWS. It still cannot run: an
  invocation fails, which no test relies on (the log shipper's code is tested on its own,
  tests/log_shipper_test.py).
- An S3 bucket as the on-failure destination of asynchronous invocations
  (PutFunctionEventInvokeConfig) is refused as invalid; AWS accepts it since November
  2024 ("Amazon S3 - An Amazon S3 bucket (on failure only)",
  https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html).
  Here it is accepted and stored like the other destination types.
"""


def patch_lambda_without_runtime() -> None:
    from localstack.services.lambda_.invocation import version_manager

    original = version_manager.get_runtime_executor
    if getattr(original, "_hactl_patched", False):
        return

    class Unprepared:
        """Prepares nothing and cleans up nothing; anything else is the real executor's."""

        @staticmethod
        def prepare_version(function_version) -> None:
            return None

        @staticmethod
        def cleanup_version(function_version) -> None:
            return None

    def get_runtime_executor():
        return Unprepared

    get_runtime_executor._hactl_patched = True
    version_manager.get_runtime_executor = get_runtime_executor


def patch_s3_failure_destination() -> None:
    from localstack.services.lambda_.provider import LambdaProvider

    original = LambdaProvider._validate_destination_config
    if getattr(original, "_hactl_patched", False):
        return

    def validate(self, store, function_name, destination_config):
        failure = (destination_config.get("OnFailure") or {}).get("Destination") or ""
        parts = failure.split(":")
        if len(parts) > 2 and parts[0] == "arn" and parts[2] == "s3":
            rest = {k: v for k, v in destination_config.items() if k != "OnFailure"}
            return original(self, store, function_name, rest)
        return original(self, store, function_name, destination_config)

    validate._hactl_patched = True
    LambdaProvider._validate_destination_config = validate
