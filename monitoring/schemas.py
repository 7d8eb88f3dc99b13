"""Input schemas of monitoring's services: monitor settings, ad-hoc drift, alert rules, comments, policies.

The services validate with `mlops_site.schemas.validate`; the API documents the same classes as its request
bodies. Field types match what the API always documented; bounds and the JSON columns (methods,
thresholds) are checked in `validate_<field>` so the messages keep naming the field as before.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from experiments.models import DatasetVersion
from monitoring import drift
from monitoring.models import AlertRule, Monitor, RetrainingPolicy
from registry.models import PromotionRequest

MAX_WINDOW_MINUTES = 60 * 24 * 90
EVERY_METHOD = sorted(set(drift.NUMERIC_METHODS) | set(drift.CATEGORICAL_METHODS))


class IdField(serializers.PrimaryKeyRelatedField):
    """A row by id; true and false are not ids (Python would read them as 1 and 0)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("incorrect_type", data_type="bool")
        return super().to_internal_value(data)


def _whole(value, low: int, high: int, message: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise serializers.ValidationError(message)
    return value


def check_methods(methods: Any) -> dict[str, str]:
    """Deciding method per kind or column; a kind's method must be one of that kind's."""
    methods = {} if methods is None else methods
    if not isinstance(methods, dict) or not all(isinstance(v, str) for v in methods.values()):
        raise serializers.ValidationError('An object such as {"numeric": "psi", "categorical": "chisquare"}.')
    for key, method in methods.items():
        allowed = drift.CATEGORICAL_METHODS if key == drift.CATEGORICAL else drift.NUMERIC_METHODS
        if key in (drift.NUMERIC, drift.CATEGORICAL) and method not in allowed:
            raise serializers.ValidationError(f"{method} is not a {key} method; use one of {', '.join(allowed)}.")
        if method not in EVERY_METHOD:
            raise serializers.ValidationError(f"Unknown method {method}; use one of {', '.join(EVERY_METHOD)}.")
    return dict(methods)


def check_thresholds(thresholds: Any) -> dict[str, float]:
    """Per method: a positive number; a test's threshold is a p-value below 1."""
    thresholds = {} if thresholds is None else thresholds
    if not isinstance(thresholds, dict):
        raise serializers.ValidationError('An object such as {"psi": 0.2, "ks": 0.01}.')
    clean = {}
    for method, value in thresholds.items():
        if method not in EVERY_METHOD:
            raise serializers.ValidationError(f"Unknown method {method}; use one of {', '.join(EVERY_METHOD)}.")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
            raise serializers.ValidationError(f"{method}: a positive number.")
        if method in drift.TESTS and value >= 1:
            raise serializers.ValidationError(f"{method}: a p-value threshold between 0 and 1, e.g. 0.05.")
        clean[method] = float(value)
    return clean


def check_column_methods(methods: dict[str, str], kinds: dict[str, str], *, owner) -> None:
    """Methods named per column must name a column of `owner` and fit its kind."""
    for name, method in methods.items():
        if name in (drift.NUMERIC, drift.CATEGORICAL):
            continue
        if name not in kinds:
            raise serializers.ValidationError({"methods": f"{owner} has no input named {name}."})
        allowed = drift.NUMERIC_METHODS if kinds[name] == drift.NUMERIC else drift.CATEGORICAL_METHODS
        if method not in allowed:
            raise serializers.ValidationError({"methods": f"{name} is {kinds[name]}: use one of {', '.join(allowed)}."})


class DriftSettingsChecks:
    """The checks every drift configuration shares (methods, thresholds, share), whatever its field types."""

    def validate_methods(self, value):
        return check_methods(value)

    def validate_thresholds(self, value):
        return check_thresholds(value)

    def validate_share(self, value):
        if value is None or not 0 < value <= 1:
            raise serializers.ValidationError(
                "The share of drifted features that makes the dataset drifted: 0 < share ≤ 1."
            )
        return float(value)


class DriftSettings(DriftSettingsChecks, serializers.Serializer):
    """Methods, thresholds and share of a drift comparison (the JSON columns of a monitor, checked)."""

    methods = serializers.JSONField(required=False, allow_null=True)
    thresholds = serializers.JSONField(required=False, allow_null=True)
    share = serializers.FloatField(required=False, default=drift.DATASET_SHARE)


class CompareRequest(DriftSettingsChecks, serializers.Serializer):
    """Ad-hoc drift between two dataset versions."""

    reference_version = IdField(
        queryset=DatasetVersion.objects.select_related("dataset"),
        help_text="Id of the reference dataset version.",
        error_messages={"does_not_exist": "No dataset version with id {pk_value}."},
    )
    current_version = IdField(
        queryset=DatasetVersion.objects.select_related("dataset"),
        help_text="Id of the dataset version to compare with it.",
        error_messages={"does_not_exist": "No dataset version with id {pk_value}."},
    )
    methods = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text='Deciding method per kind or column, e.g. {"numeric": "psi", "categorical": "chisquare", "age": "ks"}.',
    )
    thresholds = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text='Per method, e.g. {"psi": 0.2, "ks": 0.01}.'
    )
    share = serializers.FloatField(required=False, default=0.5, help_text="Share of drifted columns: dataset drift.")


WINDOW = "A whole number from 1 to 1,000,000, or null."
COLUMN_MAX = 2**31 - 1  # a positive integer column's range, as the API always documented it


def _count(message: str, **kwargs) -> serializers.IntegerField:
    """A count a monitor stores; the column's range in the schema, the setting's own in `validate_<field>`."""
    errors = {"invalid": message, "min_value": message, "max_value": message}
    return serializers.IntegerField(required=False, min_value=0, max_value=COLUMN_MAX, error_messages=errors, **kwargs)


class MonitorSettings(DriftSettingsChecks, serializers.Serializer):
    """A change of a monitor. Context: `monitor` (the locked row, for the values left out) and `kinds` (the
    served version's column kinds, None when nothing is served)."""

    reference = IdField(
        queryset=DatasetVersion.objects.all(),
        allow_null=True,
        required=False,
        help_text="Dataset version id; null: the data the served model was trained on.",
        error_messages={
            "does_not_exist": "No dataset version with that id.",
            "incorrect_type": "No dataset version with that id.",
        },
    )
    window_hours = _count(WINDOW, allow_null=True)
    window_predictions = _count(WINDOW, allow_null=True)
    every_minutes = _count(f"A whole number from 1 to {7 * 24 * 60:,}.")
    min_rows = _count("A whole number from 2 to 1,000,000.")
    methods = serializers.JSONField(required=False)
    thresholds = serializers.JSONField(required=False)
    share = serializers.FloatField(required=False)
    enabled = serializers.BooleanField(required=False, error_messages={"invalid": "true or false."})

    def validate_window_hours(self, value):
        return None if value is None else _whole(value, 1, 1_000_000, WINDOW)

    def validate_window_predictions(self, value):
        return None if value is None else _whole(value, 1, 1_000_000, WINDOW)

    def validate_every_minutes(self, value):
        return _whole(value, 1, 7 * 24 * 60, f"A whole number from 1 to {7 * 24 * 60:,}.")

    def validate_min_rows(self, value):
        return _whole(value, 2, 1_000_000, "A whole number from 2 to 1,000,000.")

    def validate(self, attrs):
        monitor = self.context.get("monitor") or Monitor()

        def value(name):
            return attrs[name] if name in attrs else getattr(monitor, name)

        if value("window_hours") and value("window_predictions"):
            raise serializers.ValidationError(
                {"window_predictions": "Choose the last N hours or the last N predictions, not both."}
            )
        if not value("window_hours") and not value("window_predictions"):
            raise serializers.ValidationError({"window_hours": "Set the last N hours or the last N predictions."})
        if self.context.get("kinds") is not None:
            check_column_methods(value("methods") or {}, self.context["kinds"], owner=self.context.get("version"))
        return attrs


class AlertRuleInput(serializers.Serializer):
    """A rule on a monitor: metric, comparison, threshold, window, severity and who hears of it."""

    monitor = IdField(queryset=Monitor.objects.all())
    name = serializers.CharField(max_length=100, error_messages={"max_length": "A name of at most 100 characters."})
    metric = serializers.ChoiceField(
        choices=AlertRule.Metric.choices,
        error_messages={"invalid_choice": f"One of {', '.join(AlertRule.Metric.values)}."},
    )
    comparison = serializers.ChoiceField(
        choices=AlertRule.Comparison.choices,
        error_messages={"invalid_choice": f"One of {', '.join(AlertRule.Comparison.values)}."},
    )
    threshold = serializers.FloatField(error_messages={"invalid": "A number."})
    window_minutes = serializers.IntegerField(
        required=False,
        help_text="Drift and performance metrics: the mean over the reports that ended in the last N minutes; "
        "service metrics: the requests of the last N minutes.",
        error_messages={"invalid": f"Whole minutes from 1 to {MAX_WINDOW_MINUTES} (90 days)."},
    )
    severity = serializers.ChoiceField(
        choices=AlertRule.Severity.choices,
        required=False,
        error_messages={"invalid_choice": f"One of {', '.join(AlertRule.Severity.values)}."},
    )
    emails = serializers.ListField(child=serializers.EmailField(), required=False, help_text="Empty: ALERT_EMAILS.")
    enabled = serializers.BooleanField(required=False, error_messages={"invalid": "true or false."})

    def validate_name(self, value):
        return value.strip()

    def validate_threshold(self, value):
        if value != value or abs(value) > 1e12:
            raise serializers.ValidationError("A number.")
        return float(value)

    def validate_window_minutes(self, value):
        return _whole(value, 1, MAX_WINDOW_MINUTES, f"Whole minutes from 1 to {MAX_WINDOW_MINUTES} (90 days).")

    def validate_emails(self, value):
        if len(value) > 20:
            raise serializers.ValidationError("A list of at most 20 e-mail addresses.")
        return value

    def to_internal_value(self, data):
        # One message naming the address, on `emails` (not `emails[3]`), as the API always answered.
        emails = data.get("emails") if hasattr(data, "get") else None
        if isinstance(emails, list):
            field = serializers.EmailField()
            for address in emails:
                try:
                    field.run_validation(address)
                except serializers.ValidationError:
                    raise serializers.ValidationError({"emails": [f"{address!r} is not an e-mail address."]}) from None
        return super().to_internal_value(data)


class AlertComment(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000)


POLICY_STAGES = list(PromotionRequest.TARGET_STAGES)


class RetrainingPolicyInput(serializers.Serializer):
    """A retraining policy's settings; left out, a field takes its default (PUT) or keeps its value (PATCH)."""

    enabled = serializers.BooleanField(required=False, error_messages={"invalid": "true or false."})
    on_drift_alert = serializers.BooleanField(required=False, error_messages={"invalid": "true or false."})
    on_performance_alert = serializers.BooleanField(required=False, error_messages={"invalid": "true or false."})
    every_days = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="Also retrain every N days.",
        error_messages={"invalid": "A whole number from 1 to 365, or null."},
    )
    data = serializers.ChoiceField(
        choices=RetrainingPolicy.Data.choices,
        required=False,
        error_messages={"invalid_choice": f"One of {', '.join(RetrainingPolicy.Data.values)}."},
    )
    dataset_version = IdField(
        queryset=DatasetVersion.objects.all(),
        required=False,
        allow_null=True,
        help_text="With data=dataset_version.",
        error_messages={
            "does_not_exist": "No dataset version has id {pk_value}.",
            "incorrect_type": "A dataset version id, or null.",
        },
    )
    min_labelled_rows = serializers.IntegerField(
        required=False, error_messages={"invalid": "A whole number from 0 to 10000000."}
    )
    stage = serializers.ChoiceField(
        choices=POLICY_STAGES, required=False, error_messages={"invalid_choice": f"One of {', '.join(POLICY_STAGES)}."}
    )
    cooldown_hours = serializers.IntegerField(
        required=False, error_messages={"invalid": "A whole number from 0 to 8760."}
    )

    def validate_every_days(self, value):
        return None if value is None else _whole(value, 1, 365, "A whole number from 1 to 365, or null.")

    def validate_min_labelled_rows(self, value):
        return _whole(value, 0, 10_000_000, "A whole number from 0 to 10000000.")

    def validate_cooldown_hours(self, value):
        return _whole(value, 0, 8760, "A whole number from 0 to 8760.")
