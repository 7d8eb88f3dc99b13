"""Tables of monitoring: monitors, drift reports and their features, alert rules and alerts, retraining."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Monitor(models.Model):
    """Compares a deployment's recent inputs and predictions with a reference, on a schedule."""

    deployment = models.OneToOneField("deployments.Deployment", on_delete=models.CASCADE, related_name="monitor")
    reference = models.ForeignKey(
        "experiments.DatasetVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Blank: the dataset version the served model was trained on.",
    )
    window_hours = models.PositiveIntegerField(
        null=True, blank=True, default=24, help_text="The current window: the last N hours of predictions..."
    )
    window_predictions = models.PositiveIntegerField(null=True, blank=True, help_text="...or the last N predictions.")
    every_minutes = models.PositiveIntegerField(default=60, help_text="How often the schedule runs it.")
    min_rows = models.PositiveIntegerField(default=30, help_text="Fewer predictions in the window: not enough data.")
    methods = models.JSONField(default=dict, blank=True, help_text='Per kind or column: {"numeric": "psi"}.')
    thresholds = models.JSONField(default=dict, blank=True, help_text='Per method: {"psi": 0.2}.')
    share = models.FloatField(default=0.5, help_text="Share of drifted features at which the dataset drifts.")
    enabled = models.BooleanField(default=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Monitor of {self.deployment}"

    def get_absolute_url(self) -> str:
        return reverse("monitor-detail", args=[self.pk])


class DriftReport(models.Model):
    """One run of a monitor: the window's drift per feature, prediction drift and performance."""

    class Status(models.TextChoices):
        OK = "ok", "ok"
        NOT_ENOUGH = "not enough data", "not enough data"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="reports")
    job = models.ForeignKey("mlops_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reference = models.ForeignKey(
        "experiments.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    message = models.TextField(blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_end = models.DateTimeField()
    current_rows = models.PositiveIntegerField(default=0)
    reference_rows = models.PositiveIntegerField(default=0)
    compared = models.PositiveIntegerField(default=0)
    drifted_count = models.PositiveIntegerField(default=0)
    drift_share = models.FloatField(null=True, blank=True)
    share_threshold = models.FloatField(default=0.5)
    dataset_drifted = models.BooleanField(default=False)
    prediction_drifted = models.BooleanField(default=False)
    labelled_rows = models.PositiveIntegerField(default=0)
    performance = models.JSONField(default=dict, blank=True, help_text="Metrics of the labelled predictions.")
    baseline = models.JSONField(default=dict, blank=True, help_text="The same metrics at training time.")
    settings = models.JSONField(default=dict, blank=True, help_text="Methods, thresholds and window used.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Drift report {self.pk} of {self.monitor.deployment}"


class FeatureDrift(models.Model):
    """One feature (or the prediction) in a drift report."""

    report = models.ForeignKey(DriftReport, on_delete=models.CASCADE, related_name="features")
    feature = models.CharField(max_length=200)
    is_prediction = models.BooleanField(default=False)
    kind = models.CharField(max_length=20)
    status = models.CharField(max_length=30)
    method = models.CharField(max_length=20, blank=True)
    statistic = models.FloatField(null=True, blank=True)
    p_value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    drifted = models.BooleanField(default=False)
    reference_rows = models.PositiveIntegerField(default=0)
    current_rows = models.PositiveIntegerField(default=0)
    reference_null_share = models.FloatField(null=True, blank=True)
    current_null_share = models.FloatField(null=True, blank=True)
    statistics = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["report", "is_prediction", "feature"]
        constraints = [
            models.UniqueConstraint(fields=["report", "feature", "is_prediction"], name="feature_drift_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.feature} in report {self.report_id}"


class AlertRule(models.Model):
    """A condition on a monitor's drift, performance or service metric, checked after each report."""

    class Metric(models.TextChoices):
        DRIFT_SHARE = "drift_share", "share of drifted features"
        DRIFTED_FEATURES = "drifted_features", "drifted features"
        PREDICTION_DRIFT = "prediction_drift", "prediction drifted (1 or 0)"
        ACCURACY = "accuracy", "accuracy"
        F1 = "f1", "F1"
        ROC_AUC = "roc_auc", "ROC AUC"
        RMSE = "rmse", "RMSE"
        MAE = "mae", "MAE"
        REQUEST_RATE = "request_rate", "requests per minute"
        ERROR_RATE = "error_rate", "error rate"
        LATENCY_P95 = "latency_p95_ms", "latency p95 (ms)"
        UNSEEN_SHARE = "unseen_share", "share of rows with a value training never had"

    class Comparison(models.TextChoices):
        GT = "gt", ">"
        GTE = "gte", "≥"
        LT = "lt", "<"
        LTE = "lte", "≤"

    class Severity(models.TextChoices):
        INFO = "info", "info"
        WARNING = "warning", "warning"
        CRITICAL = "critical", "critical"

    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=100)
    metric = models.CharField(max_length=30, choices=Metric.choices)
    comparison = models.CharField(max_length=3, choices=Comparison.choices)
    threshold = models.FloatField()
    window_minutes = models.PositiveIntegerField(
        default=60, help_text="Drift and performance: the mean over reports in this window; service: its requests."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    emails = models.JSONField(default=list, blank=True, help_text="Addresses told by e-mail; empty: ALERT_EMAILS.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["monitor", "name", "pk"]
        constraints = [models.UniqueConstraint(fields=["monitor", "name"], name="alert_rule_unique_name")]

    def __str__(self) -> str:
        return f"{self.name}: {self.get_metric_display()} {self.get_comparison_display()} {self.threshold:g}"


class Alert(models.Model):
    """A rule that fired. It stays open (or acknowledged) while the condition holds, and at most one per rule."""

    class Status(models.TextChoices):
        OPEN = "open", "open"
        ACKNOWLEDGED = "acknowledged", "acknowledged"
        RESOLVED = "resolved", "resolved"

    ACTIVE = (Status.OPEN, Status.ACKNOWLEDGED)

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    monitor = models.ForeignKey(Monitor, on_delete=models.CASCADE, related_name="alerts")
    report = models.ForeignKey(DriftReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    severity = models.CharField(max_length=10, choices=AlertRule.Severity.choices)
    metric = models.CharField(max_length=30)
    value = models.FloatField(help_text="The metric's value when the alert opened.")
    last_value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    message = models.TextField()
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_evaluated_at = models.DateTimeField(default=timezone.now)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    emailed_to = models.JSONField(default=list, blank=True)
    retraining_note = models.TextField(blank=True, help_text="Whether the alert started a retraining, and if not why.")
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule"],
                condition=models.Q(status__in=["open", "acknowledged"]),
                name="alert_one_active_per_rule",
            ),
        ]

    def __str__(self) -> str:
        return f"Alert {self.pk} ({self.severity}): {self.message}"

    def get_absolute_url(self) -> str:
        return reverse("alert-detail", args=[self.pk])


class RetrainingPolicy(models.Model):
    """When and on what a registered model is retrained with its recorded recipe."""

    class Data(models.TextChoices):
        REFERENCE_AND_PRODUCTION = "reference_and_production", "the training data plus labelled production rows"
        DATASET_VERSION = "dataset_version", "a named dataset version"

    model = models.OneToOneField("registry.RegisteredModel", on_delete=models.CASCADE, related_name="retraining_policy")
    enabled = models.BooleanField(default=True)
    on_drift_alert = models.BooleanField(default=True)
    on_performance_alert = models.BooleanField(default=True)
    every_days = models.PositiveIntegerField(null=True, blank=True, help_text="Also retrain on this schedule.")
    data = models.CharField(max_length=30, choices=Data.choices, default=Data.REFERENCE_AND_PRODUCTION)
    dataset_version = models.ForeignKey(
        "experiments.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    min_labelled_rows = models.PositiveIntegerField(default=50)
    stage = models.CharField(max_length=20, default="staging", help_text="The promotion request's target stage.")
    cooldown_hours = models.PositiveIntegerField(default=24, help_text="At most one retraining per this many hours.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Retraining acts on this person's behalf: who last saved the policy.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Retraining policy of {self.model}"


class Retraining(models.Model):
    """One turn of the loop: what triggered it, the data, the run, the version and the promotion request."""

    class Trigger(models.TextChoices):
        ALERT = "alert", "alert"
        SCHEDULE = "schedule", "schedule"
        MANUAL = "manual", "manual"

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        TRAINING = "training", "training"
        REQUESTED = "requested", "promotion requested"
        FAILED = "failed", "failed"

    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.CASCADE, related_name="retrainings")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="retrainings")
    base_version = models.ForeignKey(
        "registry.ModelVersion", null=True, on_delete=models.SET_NULL, related_name="+", help_text="Recipe source."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    job = models.ForeignKey("mlops_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    dataset_version = models.ForeignKey(
        "experiments.DatasetVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    production_rows = models.PositiveIntegerField(default=0)
    rows_until = models.DateTimeField(
        null=True, blank=True, help_text="Time of the newest production row added, so the next turn adds only newer."
    )
    run = models.ForeignKey("experiments.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promotion = models.ForeignKey(
        "registry.PromotionRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Retraining {self.pk} of {self.model}"
