"""Tables of the monitoring app: a monitor per deployment, its drift reports and their per-feature rows."""

from __future__ import annotations

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
