"""Tables of the experiments app: datasets with immutable versions, experiments, runs and what runs log."""

from __future__ import annotations

import math

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


def as_number(text: str) -> float | None:
    """A param's text as a finite float ("3", "0.1", "1e-3"), else None ("gini", "None", "nan")."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class Dataset(models.Model):
    """A named table that evolves through immutable versions."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="datasets")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="dataset_name_unique_ci")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("dataset-detail", args=[self.pk])


class DatasetVersion(models.Model):
    """One immutable content of a dataset, identified by its sha256, with profile and quality report."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    file = models.CharField(max_length=300, help_text="Name in the default storage.")
    format = models.CharField(max_length=10, choices=Format.choices)
    original_filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    row_count = models.BigIntegerField()
    column_count = models.PositiveIntegerField()
    schema = models.JSONField(help_text="[{name, kind, dtype}] in column order.")
    target = models.CharField(max_length=200, blank=True, help_text="The column a model would predict, if named.")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    recipe = models.JSONField(null=True, blank=True, help_text="Cleaning steps that derived it from the parent.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    profile = models.JSONField(null=True, blank=True)
    quality = models.JSONField(null=True, blank=True)
    quality_summary = models.JSONField(null=True, blank=True, help_text="{pass, warn, fail} counts, for lists.")
    profiled_at = models.DateTimeField(null=True, blank=True)
    profile_job = models.ForeignKey(
        "mlops_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["dataset", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_number_unique"),
            # Identical content is the same version: uploads of it return the existing row.
            models.UniqueConstraint(fields=["dataset", "sha256"], name="dataset_version_sha_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("dataset-version-detail", args=[self.pk])

    @property
    def columns(self) -> list[str]:
        return [column["name"] for column in self.schema]

    @property
    def kinds(self) -> dict[str, str]:
        return {column["name"]: column["kind"] for column in self.schema}

    def quality_counts(self) -> dict[str, int]:
        """Counts by status; read from the small summary column so lists need not load the report."""
        return self.quality_summary or {"pass": 0, "warn": 0, "fail": 0}

    @staticmethod
    def summarise(report: list[dict]) -> dict[str, int]:
        counts = {"pass": 0, "warn": 0, "fail": 0}
        for result in report:
            counts[result["status"]] = counts.get(result["status"], 0) + 1
        return counts


class Experiment(models.Model):
    """A named group of runs that answer one question (e.g. "credit default model")."""

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="experiments"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="experiment_name_unique_ci")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return f"{reverse('runs')}?experiment={self.pk}"


class Run(models.Model):
    """One training or evaluation attempt: its params, metric histories, artifacts and lineage."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        KILLED = "killed", "Killed"

    class Source(models.TextChoices):
        TRAINED = "trained", "Trained here"
        LOGGED = "logged", "Logged from outside"
        UPLOADED = "uploaded", "Model uploaded"

    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LOGGED)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="runs")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    input_versions = models.ManyToManyField(DatasetVersion, blank=True, related_name="runs")
    tags = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    code_version = models.CharField(max_length=100, blank=True)
    command = models.TextField(blank=True)
    training_request = models.JSONField(
        null=True,
        blank=True,
        help_text="The validated training request: with the input version, all it takes to reproduce.",
    )
    reproduced_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reproductions"
    )
    job = models.ForeignKey(
        "mlops_site.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The worker job that trains this run, for runs trained here.",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["experiment", "-started_at"], name="run_experiment_started_idx")]

    def __str__(self) -> str:
        return self.name or f"run {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("run-detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.RUNNING

    @property
    def duration(self):
        return self.ended_at - self.started_at if self.ended_at else None


class Param(models.Model):
    """A hyperparameter or setting of a run; set once, like MLflow's, so a run's params never drift."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField()
    number = models.FloatField(
        null=True, blank=True, help_text="The value read as a number, when it is one: for numeric search and sort."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="param_run_key_unique")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"

    @classmethod
    def build(cls, run: Run, key: str, value: str) -> Param:
        """An unsaved param with its numeric reading filled in (bulk_create skips save())."""
        return cls(run=run, key=key, value=value, number=as_number(value))


class Metric(models.Model):
    """One point of a metric's history; a run may have hundreds of thousands."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metrics")
    key = models.CharField(max_length=250)
    # NULL is a NaN point (SQLite cannot store NaN); ±Infinity is stored as it is (see metric_store).
    value = models.FloatField(null=True)
    step = models.BigIntegerField(default=0)
    timestamp = models.DateTimeField()

    class Meta:
        # History reads are "one run, one key, by step": the index serves them without a sort.
        indexes = [models.Index(fields=["run", "key", "step"], name="metric_run_key_step_idx")]

    def __str__(self) -> str:
        return f"{self.key}[{self.step}]={self.value}"


class LatestMetric(models.Model):
    """The last point (highest step, then latest timestamp) of each metric of each run.

    Kept by `metric_store.insert_points` in the same transaction as the history, so run lists filter
    and sort 10,000 runs by a metric through an index instead of scanning every history.
    """

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="latest_metrics")
    key = models.CharField(max_length=250)
    value = models.FloatField(null=True, help_text="NULL when the last point is NaN: comparisons and sorts skip it.")
    step = models.BigIntegerField(default=0)
    timestamp = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="latest_metric_run_key_unique")]
        indexes = [models.Index(fields=["key", "value"], name="latest_metric_key_value_idx")]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class RunArtifact(models.Model):
    """A file a run produced (model, plot, report), stored through the storage API with its hash."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=300, help_text="Path within the run, e.g. model/pipeline.skops.")
    file = models.CharField(max_length=400, help_text="Name in the default storage.")
    content_type = models.CharField(max_length=100, blank=True)
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["run", "path"], name="artifact_run_path_unique")]

    def __str__(self) -> str:
        return self.path
