"""Tables of the experiments app: datasets and their immutable versions (runs come next)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone


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


class DatasetVersionQuerySet(models.QuerySet):
    def for_dataset(self, dataset: Dataset) -> DatasetVersionQuerySet:
        return self.filter(dataset=dataset)


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

    objects = DatasetVersionQuerySet.as_manager()

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
