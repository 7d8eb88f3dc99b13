"""Tables of the deployments app: environments, deployments with their traffic split, revisions, predictions.

A deployment is one registered model served in one environment. Its current state (primary, canary with
a share, shadow) lives on the row; every change is also a numbered `DeploymentRevision`, which is what
rollback returns to. Every served row is a `Prediction`, written before the answer leaves the process.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Environment(models.Model):
    """Where models are served: staging and production by default; admins add more."""

    name = models.SlugField(max_length=40, unique=True)
    description = models.CharField(max_length=200, blank=True)
    stage = models.CharField(
        max_length=12,
        blank=True,
        help_text="The registry stage this environment follows: an approved promotion to it deploys itself.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Deployment(models.Model):
    """A registered model served in an environment: primary version, optional canary (with a share) and shadow."""

    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="deployments")
    model = models.ForeignKey("registry.RegisteredModel", on_delete=models.PROTECT, related_name="deployments")
    primary = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    canary = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    canary_percent = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(100)])
    canary_since = models.DateTimeField(null=True, blank=True)
    shadow = models.ForeignKey(
        "registry.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    guardrail = models.JSONField(
        default=dict, blank=True, help_text="Canary limits: max_error_rate, max_p95_ms, baking_minutes."
    )
    revision = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Set while the deployment serves (as primary or canary) a version not approved for its environment's
    # stage; cleared by the change that makes everything served approved again (a promotion, a rollback).
    override_at = models.DateTimeField(null=True, blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    override_reason = models.TextField(blank=True)
    unseen_values = models.CharField(
        max_length=8,
        choices=[("flag", "Flag: answer and count them"), ("refuse", "Refuse: answer 400")],
        default="flag",
        help_text="Values a categorical input never had in training: flag (answer, count in the log) or refuse.",
    )

    class Meta:
        ordering = ["environment__name", "model__name"]
        permissions = [
            ("predict", "Can call a deployment's predict endpoint"),
            ("override_deployment", "Can serve a version not approved for the environment's stage, with a reason"),
        ]
        constraints = [models.UniqueConstraint(fields=["environment", "model"], name="deployment_one_per_env_model")]

    def __str__(self) -> str:
        return f"{self.model.name} in {self.environment.name}"

    def get_absolute_url(self) -> str:
        return reverse("deployment-detail", args=[self.environment.name, self.model.name])

    @property
    def is_overridden(self) -> bool:
        return self.override_at is not None


class DeploymentRevision(models.Model):
    """What a deployment served from a moment on, who changed it and why; rollback returns to the previous one."""

    class Kind(models.TextChoices):
        DEPLOY = "deploy", "Deploy"
        PROMOTION = "promotion", "Approved promotion"
        CANARY = "canary", "Canary"
        SHADOW = "shadow", "Shadow"
        PROMOTE_CANARY = "promote_canary", "Canary promoted"
        ROLLBACK = "rollback", "Rollback"
        GUARDRAIL = "guardrail", "Guardrail"
        REFUSED = "refused", "Version refused"
        RECONCILE = "reconcile", "Repaired to match the registry"

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    primary = models.ForeignKey("registry.ModelVersion", null=True, on_delete=models.PROTECT, related_name="+")
    canary = models.ForeignKey("registry.ModelVersion", null=True, on_delete=models.PROTECT, related_name="+")
    canary_percent = models.PositiveSmallIntegerField(default=0)
    shadow = models.ForeignKey("registry.ModelVersion", null=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    restores = models.PositiveIntegerField(
        null=True, blank=True, help_text="For a rollback: the revision whose state it restored."
    )
    override = models.BooleanField(
        default=False, help_text="This revision served a version not approved for the stage (an override)."
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["deployment", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="deployment_revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.deployment} r{self.number}"


class Prediction(models.Model):
    """One served (or shadow-scored) row: inputs, output, latency, and later its ground truth."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="predictions")
    version = models.ForeignKey("registry.ModelVersion", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=8, default="primary", help_text="primary, canary or shadow.")
    request_id = models.CharField(max_length=64, blank=True)
    entity_key = models.CharField(max_length=200, blank=True)
    inputs = models.JSONField()
    prediction = models.JSONField(null=True)
    probabilities = models.JSONField(null=True, blank=True)
    latency_ms = models.FloatField(help_text="Time of the whole request, shared by its rows.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    ground_truth = models.JSONField(null=True, blank=True)
    ground_truth_at = models.DateTimeField(null=True, blank=True)
    unseen = models.JSONField(
        null=True, blank=True, help_text="The inputs whose value training never had (flag policy); null: none."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["deployment", "created_at"], name="prediction_deployment_time")]

    def __str__(self) -> str:
        return str(self.id)


class RequestStat(models.Model):
    """Per request: which version answered, how long it took, whether it failed. Charts read these."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="request_stats")
    version = models.ForeignKey("registry.ModelVersion", null=True, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=8, default="primary")
    rows = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["deployment", "created_at"], name="requeststat_deployment_time")]

    def __str__(self) -> str:
        return f"{self.deployment} {self.status_code} {self.latency_ms:.1f} ms"
