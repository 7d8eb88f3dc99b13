"""What MLflow's client logs that the site had no concept for: logged models, run inputs and outputs.

A logged model (MLflow 3) is a directory of files (MLmodel, the model file, requirements) that belongs to
an experiment, usually made by a run, and is registered as a registry version from there. Its files are
kept like run artifacts: in the default storage, with their sha256.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from experiments.models import DatasetVersion, Experiment, Run


class LoggedModel(models.Model):
    class Status(models.TextChoices):
        PENDING = "LOGGED_MODEL_PENDING", "pending"
        READY = "LOGGED_MODEL_READY", "ready"
        FAILED = "LOGGED_MODEL_UPLOAD_FAILED", "upload failed"

    model_id = models.CharField(max_length=40, unique=True, help_text="MLflow's id, m-<32 hex digits>.")
    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="logged_models")
    source_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="logged_models")
    name = models.CharField(max_length=250)
    model_type = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.PENDING)
    status_message = models.TextField(blank=True)
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    params = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_id})"


class LoggedModelArtifact(models.Model):
    """One file of a logged model, at `path` inside its directory."""

    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=300)
    file = models.CharField(max_length=400, help_text="Name in the default storage.")
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["logged_model", "path"], name="logged_model_artifact_path_unique")
        ]

    def __str__(self) -> str:
        return f"{self.logged_model.model_id}/{self.path}"


class RunInput(models.Model):
    """A dataset a run logged with `mlflow.log_input` (MLflow's dataset entity, kept as sent).

    When its source names one of the site's dataset versions, the run's `input_versions` gains it too."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="mlflow_inputs")
    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=36)
    source_type = models.CharField(max_length=36)
    source = models.TextField()
    schema = models.TextField(blank=True)
    profile = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    dataset_version = models.ForeignKey(
        DatasetVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="mlflow_inputs"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["run", "name", "digest"], name="run_input_name_digest_unique")]

    def __str__(self) -> str:
        return f"{self.name} ({self.digest})"


class RunOutput(models.Model):
    """A logged model a run produced (`runs/outputs`), at a step."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="mlflow_outputs")
    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="outputs")
    step = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "logged_model"], name="run_output_unique")]

    def __str__(self) -> str:
        return f"{self.run_id} → {self.logged_model_id}"
