"""The inputs of the deployment services, one DRF serializer each (validated by the service).

The API documents the same classes as its request bodies; the deployment page maps its widgets onto
these field names and hands the posted values over, so page, API and demo get the same checks and
messages. Version fields hold version *numbers*; the service resolves them against the model.
"""

from __future__ import annotations

from rest_framework import serializers

from deployments import guardrail
from deployments.models import Deployment

GUARDRAIL_LIMITS = {
    "max_error_rate": (0, 1),
    "max_p95_ms": (1, 600_000),
    "baking_minutes": (1, 10_080),
    "min_requests": (1, 1_000_000),
}


class StrictNumber(serializers.Field):
    """An int or float from `low` to `high`, kept as sent: no strings, no booleans (JSON's true is not 1)."""

    def __init__(self, low, high, **kwargs):
        self.low, self.high = low, high
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float) or not self.low <= data <= self.high:
            raise serializers.ValidationError(f"A number from {self.low} to {self.high}.")
        return data

    def to_representation(self, value):
        return value


class GuardrailLimits(serializers.Serializer):
    """The canary guardrail's limits (`Deployment.guardrail`); a key left out keeps its default."""

    max_error_rate = StrictNumber(*GUARDRAIL_LIMITS["max_error_rate"], required=False)
    max_p95_ms = StrictNumber(*GUARDRAIL_LIMITS["max_p95_ms"], required=False)
    baking_minutes = StrictNumber(*GUARDRAIL_LIMITS["baking_minutes"], required=False)
    min_requests = StrictNumber(*GUARDRAIL_LIMITS["min_requests"], required=False)


class GuardrailField(serializers.DictField):
    """`guardrail` checked by GuardrailLimits, defaults filled in; documented as the free object it was."""

    default_error_messages = {
        "not_a_dict": "An object of max_error_rate, max_p95_ms, baking_minutes, min_requests.",
    }

    def to_internal_value(self, data):
        if data in (None, ""):
            data = {}
        if not isinstance(data, dict):
            self.fail("not_a_dict")
        limits = GuardrailLimits(data=data)
        errors = {} if limits.is_valid() else dict(limits.errors)
        if unknown := sorted(str(key) for key in set(data) - set(GUARDRAIL_LIMITS)):
            errors["non_field_errors"] = [f"Unknown keys: {', '.join(unknown)}."]
        if errors:
            raise serializers.ValidationError(errors)
        return {**guardrail.DEFAULTS, **limits.validated_data}


class GuardrailSettings(serializers.Serializer):
    """Input of `services.set_guardrail`: errors read `guardrail.max_p95_ms`, as on the PATCH."""

    guardrail = GuardrailField(
        allow_null=True,
        help_text="Canary limits: {max_error_rate, max_p95_ms, baking_minutes, min_requests}; defaults fill the rest.",
    )


def _version_number(*, messages: dict | None = None, **kwargs):
    errors = {"invalid": "A version number.", "max_string_length": "A version number.", **(messages or {})}
    return serializers.IntegerField(error_messages=errors, **kwargs)


PERCENT_MESSAGE = "A whole percentage from 0 to 100."
UNSEEN_CHOICES = Deployment._meta.get_field("unseen_values").choices


class Reason(serializers.Serializer):
    """Input of `services.promote_canary`."""

    reason = serializers.CharField(required=False, allow_blank=True, default="")


class DeploymentRollback(Reason):
    """Input of `services.rollback`."""

    override = serializers.BooleanField(
        required=False, default=False, help_text="Needed when the revision restored served an unapproved version."
    )


OVERRIDE_HELP = (
    "Admins, in an emergency: serve a primary or canary not approved for the environment's stage. "
    "Needs a reason; audited, sent to webhooks as deployment.override and bannered until a promotion or rollback."
)


class Deploy(Reason):
    """Input of the page's deploy action: the version to serve as the primary."""

    version = _version_number(
        messages={"required": "Choose the version to deploy.", "null": "Choose the version to deploy."}
    )
    override = serializers.BooleanField(required=False, default=False, help_text=OVERRIDE_HELP)


class UnseenPolicy(serializers.Serializer):
    """Input of `services.set_unseen_policy`."""

    unseen_values = serializers.ChoiceField(choices=UNSEEN_CHOICES)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = " or ".join(value for value, _ in UNSEEN_CHOICES)
        self.fields["unseen_values"].error_messages["invalid_choice"] = f"Choose {choices}, not {{input!r}}."


class DeploymentChange(serializers.Serializer):
    """The deployment PATCH (`services.update_deployment`): any of primary, canary, shadow, guardrail, policy."""

    primary_version = _version_number(required=False, help_text="Deploy this version as the primary.")
    canary_version = _version_number(required=False, allow_null=True, help_text="null removes the canary.")
    canary_percent = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=100,
        error_messages={k: PERCENT_MESSAGE for k in ("invalid", "min_value", "max_value", "max_string_length")},
    )
    shadow_version = _version_number(required=False, allow_null=True, help_text="null removes the shadow.")
    guardrail = GuardrailField(
        required=False,
        help_text="Canary limits: {max_error_rate, max_p95_ms, baking_minutes, min_requests}; defaults fill the rest.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    override = serializers.BooleanField(required=False, default=False, help_text=OVERRIDE_HELP)
    unseen_values = serializers.ChoiceField(
        choices=UNSEEN_CHOICES,  # one enum in the schema
        required=False,
        help_text="What predict does with a categorical value training never had: flag (answer and count it) "
        "or refuse (400 naming row, field and value).",
    )

    def validate(self, attrs):
        if not set(attrs) - {"reason", "override"}:
            raise serializers.ValidationError(
                "Send primary_version, canary_version, canary_percent, shadow_version, guardrail or unseen_values."
            )
        return attrs


class GroundTruthItem(serializers.Serializer):
    """One true outcome; the label is checked against the answering version by `labels.check`."""

    prediction_id = serializers.UUIDField(
        error_messages={"invalid": "A prediction id (a UUID) as predict returned it."}
    )
    label = serializers.JSONField()

    def to_internal_value(self, data):
        if isinstance(data, dict) and (unknown := sorted(str(k)[:40] for k in set(data) - set(self.fields))):
            raise serializers.ValidationError(f"Unknown field(s): {', '.join(unknown[:5])}.")
        return super().to_internal_value(data)


MAX_LABELS = 10_000


class GroundTruthBatch(serializers.Serializer):
    """Input of `services.record_ground_truth`: errors read `items[3].label`."""

    items = GroundTruthItem(
        many=True,
        allow_empty=False,
        max_length=MAX_LABELS,
        error_messages={
            "empty": "Send at least one {prediction_id, label}.",
            "max_length": f"At most {MAX_LABELS:,} labels per request.",
        },
    )
