"""Tables of the registry app: registered models, their numbered versions, and aliases.

Promotion requests, gates, reviews and webhooks come next (issue 5); stages are already here so
that the database, not the code, guarantees at most one production version per model.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


class RegisteredModel(models.Model):
    """A named model whose versions move through stages; gates are configured here."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    tags = models.JSONField(default=dict, blank=True)
    gates = models.JSONField(
        default=dict, blank=True, help_text="Gate configuration: metric thresholds, tolerance, fairness, approvals."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="registered_model_name_unique_ci")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("model-detail", args=[self.name])


class ModelVersion(models.Model):
    """Version n of a model: a trained run's model artifact pinned by sha256, with snapshots of its evidence."""

    class Stage(models.TextChoices):
        NONE = "none", "None"
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        ARCHIVED = "archived", "Archived"

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    run = models.ForeignKey("experiments.Run", on_delete=models.PROTECT, related_name="model_versions")
    artifact = models.ForeignKey("experiments.RunArtifact", on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64, help_text="The pinned model file's hash, checked before any use.")
    signature = models.JSONField(default=dict, help_text="Input columns with kinds, and the output.")
    metrics = models.JSONField(default=dict, help_text="The run's final metrics when the version was created.")
    params = models.JSONField(default=dict, help_text="The run's params when the version was created.")
    lineage = models.JSONField(default=dict, help_text="Run → dataset version → its ancestors and recipes.")
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.NONE, db_index=True)
    tags = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="model_version_number_unique"),
            # Exactly one production version per model, whatever the code does.
            models.UniqueConstraint(
                fields=["model"], condition=Q(stage="production"), name="model_one_production_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"


class ModelAlias(models.Model):
    """A named pointer (champion, challenger, …) to one version of a model."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=64)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["model", "name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="model_alias_unique")]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name}"
