"""EventBridge, as LocalStack serves it, against AWS:

- A rule whose State is DISABLED still delivers the events it matches to its targets
  (LocalStack's PutEvents processing never looks at the state). AWS delivers nothing for
  a disabled rule ("the rule does not match any events",
  https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_DisableRule.html).
  Here a disabled rule is skipped.
"""


def patch_disabled_rules() -> None:
    from localstack.aws.api.events import RuleState
    from localstack.services.events.provider import EventsProvider

    original = EventsProvider._process_rules
    if getattr(original, "_hactl_patched", False):
        return

    def process_rules(self, rule, region, account_id, event_formatted, trace_header):
        if rule.state == RuleState.DISABLED:
            return None
        return original(self, rule, region, account_id, event_formatted, trace_header)

    process_rules._hactl_patched = True
    EventsProvider._process_rules = process_rules
