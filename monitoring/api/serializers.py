"""Serializers of monitoring's API responses; request bodies are the services' schemas (monitoring/schemas.py)."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from experiments.models import DatasetVersion
from monitoring.models import Alert, AlertRule, DriftReport, FeatureDrift, Monitor, Retraining, RetrainingPolicy

FEATURE_ROW = inline_serializer(
    "ComparedFeature",
    {
        "feature": serializers.CharField(),
        "kind": serializers.CharField(),
        "status": serializers.CharField(help_text="ok, not enough data, missing in current, new in current"),
        "method": serializers.CharField(allow_null=True),
        "statistic": serializers.FloatField(allow_null=True),
        "p_value": serializers.FloatField(allow_null=True),
        "threshold": serializers.FloatField(allow_null=True),
        "drifted": serializers.BooleanField(),
        "reference_rows": serializers.IntegerField(),
        "current_rows": serializers.IntegerField(),
        "reference_null_share": serializers.FloatField(allow_null=True),
        "current_null_share": serializers.FloatField(allow_null=True),
        "statistics": serializers.DictField(help_text="Every method's {statistic, p_value?} for this column."),
    },
)
COMPARE_RESPONSE = inline_serializer(
    "DriftComparison",
    {
        "reference_version": serializers.IntegerField(),
        "current_version": serializers.IntegerField(),
        "compared": serializers.IntegerField(),
        "drifted_count": serializers.IntegerField(),
        "share": serializers.FloatField(allow_null=True),
        "threshold": serializers.FloatField(),
        "drifted": serializers.BooleanField(),
        "features": FEATURE_ROW,
    },
)


class MonitorSerializer(serializers.ModelSerializer):
    deployment = serializers.SerializerMethodField()
    reference = serializers.PrimaryKeyRelatedField(
        queryset=DatasetVersion.objects.all(),
        allow_null=True,
        required=False,
        help_text="Dataset version id; null: the data the served model was trained on.",
    )
    latest_report = serializers.SerializerMethodField()

    class Meta:
        model = Monitor
        fields = [
            "id",
            "deployment",
            "reference",
            "window_hours",
            "window_predictions",
            "every_minutes",
            "min_rows",
            "methods",
            "thresholds",
            "share",
            "enabled",
            "last_run_at",
            "latest_report",
        ]
        read_only_fields = ["id", "deployment", "last_run_at", "latest_report"]

    def get_deployment(self, monitor) -> str:
        return f"{monitor.deployment.environment.name}/{monitor.deployment.model.name}"

    def get_latest_report(self, monitor) -> int | None:
        if hasattr(monitor, "latest_report_id"):  # annotated by selectors.monitors_with_latest
            return monitor.latest_report_id
        report = monitor.reports.order_by("-created_at", "-id").first()
        return report.pk if report else None


class FeatureDriftSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeatureDrift
        fields = [
            "feature",
            "is_prediction",
            "kind",
            "status",
            "method",
            "statistic",
            "p_value",
            "threshold",
            "drifted",
            "reference_rows",
            "current_rows",
            "reference_null_share",
            "current_null_share",
            "statistics",
        ]
        read_only_fields = fields


class DriftReportSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", allow_null=True, read_only=True)

    class Meta:
        model = DriftReport
        fields = [
            "id",
            "monitor",
            "job",
            "version",
            "reference",
            "status",
            "message",
            "window_start",
            "window_end",
            "current_rows",
            "reference_rows",
            "compared",
            "drifted_count",
            "drift_share",
            "share_threshold",
            "dataset_drifted",
            "prediction_drifted",
            "labelled_rows",
            "performance",
            "baseline",
            "settings",
            "created_at",
        ]
        read_only_fields = fields


class DriftReportDetailSerializer(DriftReportSerializer):
    features = FeatureDriftSerializer(many=True, read_only=True)

    class Meta(DriftReportSerializer.Meta):
        fields = [*DriftReportSerializer.Meta.fields, "features"]
        read_only_fields = fields


class AlertRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    emails = serializers.ListField(child=serializers.EmailField(), required=False, help_text="Empty: ALERT_EMAILS.")
    window_minutes = serializers.IntegerField(
        required=False,
        help_text="Drift and performance metrics: the mean over the reports that ended in the last N minutes; "
        "service metrics: the requests of the last N minutes.",
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "monitor",
            "name",
            "metric",
            "comparison",
            "threshold",
            "window_minutes",
            "severity",
            "emails",
            "enabled",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_by", "created_at"]


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    deployment = serializers.SerializerMethodField()
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "monitor",
            "deployment",
            "report",
            "status",
            "severity",
            "metric",
            "value",
            "last_value",
            "threshold",
            "message",
            "opened_at",
            "last_evaluated_at",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution",
            "emailed_to",
            "email_error",
            "retraining_note",
        ]
        read_only_fields = fields

    def get_deployment(self, alert) -> str:
        return str(alert.monitor.deployment)


class RetrainingPolicySerializer(serializers.Serializer):
    model = serializers.CharField(read_only=True, source="model.name")
    exists = serializers.SerializerMethodField(help_text="False: no policy was set; these are the defaults.")
    enabled = serializers.BooleanField(required=False)
    on_drift_alert = serializers.BooleanField(required=False)
    on_performance_alert = serializers.BooleanField(required=False)
    every_days = serializers.IntegerField(required=False, allow_null=True, help_text="Also retrain every N days.")
    data = serializers.ChoiceField(choices=RetrainingPolicy.Data.choices, required=False)
    dataset_version = serializers.PrimaryKeyRelatedField(
        queryset=DatasetVersion.objects.all(), required=False, allow_null=True, help_text="With data=dataset_version."
    )
    min_labelled_rows = serializers.IntegerField(required=False)
    stage = serializers.ChoiceField(choices=["staging", "production"], required=False)
    cooldown_hours = serializers.IntegerField(required=False)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_exists(self, policy) -> bool:
        return policy.pk is not None


class RetrainingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Retraining
        fields = [
            "id",
            "trigger",
            "alert",
            "base_version",
            "status",
            "job",
            "dataset_version",
            "production_rows",
            "run",
            "version",
            "promotion",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields
