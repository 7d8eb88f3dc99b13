"""Tables of the registry app: models, numbered versions, aliases, promotion requests, reviews.

The database, not the code, guarantees the invariants reviewers rely on: one production version per
model, one alias name per model, one open request per version and stage, one review per reviewer.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from experiments import metrics


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


class ModelVersionQuerySet(models.QuerySet):
    def approved_for(self, stage: str) -> ModelVersionQuerySet:
        """Versions a reviewer let into `stage`: holding it now, approved into it once, or (production) held it before.

        An environment that follows `stage` may serve these as primary or canary without an override.
        """
        held_before = Q(production_until__isnull=False) if stage == ModelVersion.Stage.PRODUCTION else Q(pk__in=[])
        approved = PromotionRequest.objects.filter(stage=stage, status=PromotionRequest.Status.APPROVED)
        return self.filter(Q(stage=stage) | Q(pk__in=approved.values("version_id")) | held_before)

    def stage_holder(self, model_id: int, stage: str) -> ModelVersion | None:
        """The version an environment following `stage` must serve: the production version, or the staging
        version approved into staging last (several versions may be in staging at once)."""
        holders = self.filter(model_id=model_id, stage=stage)
        if stage != ModelVersion.Stage.PRODUCTION:
            last_approval = (
                PromotionRequest.objects.filter(
                    version=models.OuterRef("pk"), stage=stage, status=PromotionRequest.Status.APPROVED
                )
                .order_by("-decided_at")
                .values("decided_at")[:1]
            )
            holders = holders.annotate(approved_at=models.Subquery(last_approval)).order_by(
                models.F("approved_at").desc(nulls_last=True), "-number"
            )
        return holders.select_related("model", "artifact").first()


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

    class Format(models.TextChoices):
        SKOPS = "skops", "skops (scikit-learn)"
        ONNX = "onnx", "ONNX"

    class MetricsSource(models.TextChoices):
        PLATFORM = "platform", "Computed by the platform"
        UPLOADER = "uploader", "Reported by the uploader"

    format = models.CharField(
        max_length=8,
        choices=Format.choices,
        default=Format.SKOPS,
        help_text="How the model file is stored: a skops scikit-learn estimator, or an ONNX graph run by onnxruntime.",
    )
    metrics_source = models.CharField(
        max_length=10,
        choices=MetricsSource.choices,
        default=MetricsSource.PLATFORM,
        help_text="Whether the version's metrics were computed here on held-out rows, or logged by whoever made it.",
    )
    signature = models.JSONField(default=dict, help_text="Input columns with kinds, and the output.")
    metrics = models.JSONField(default=dict, help_text="The run's final metrics when the version was created.")
    params = models.JSONField(default=dict, help_text="The run's params when the version was created.")
    lineage = models.JSONField(default=dict, help_text="Run → dataset version → its ancestors and recipes.")
    stage = models.CharField(max_length=12, choices=Stage.choices, default=Stage.NONE, db_index=True)
    tags = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    card = models.JSONField(
        default=dict, blank=True, help_text="Editable model-card sections: intended_use, limitations, ethical."
    )
    production_until = models.DateTimeField(
        null=True, blank=True, help_text="When this version last left production; rollback picks the latest."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    objects = ModelVersionQuerySet.as_manager()

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

    def get_absolute_url(self) -> str:
        return reverse("version-detail", args=[self.model.name, self.number])

    @property
    def task(self) -> str | None:
        """The task the signature records ("classification" or "regression"), or None when it records none."""
        return metrics.task_from_signature(self.signature)


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


class PromotionRequest(models.Model):
    """A request to move a version to staging or production: gates run first, then reviewers decide."""

    class Status(models.TextChoices):
        CHECKING = "checking", "Gates running"
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Kind(models.TextChoices):
        PROMOTION = "promotion", "Promotion"
        ROLLBACK = "rollback", "Rollback"

    class Gates(models.TextChoices):
        RUNNING = "running", "Running"
        PASS = "pass", "Passed"
        FAIL = "fail", "Failed"
        ERROR = "error", "Could not run"
        UNDECIDED = "undecided", "Undecided: needs an evaluation set"

    OPEN = (Status.CHECKING, Status.PENDING)
    TARGET_STAGES = ("staging", "production")

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="promotion_requests")
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="promotion_requests")
    stage = models.CharField(max_length=12, choices=[(s, s.title()) for s in TARGET_STAGES])
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PROMOTION)
    justification = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CHECKING, db_index=True)
    gates_status = models.CharField(max_length=10, choices=Gates.choices, default=Gates.RUNNING)
    gates = models.JSONField(default=list, blank=True, help_text="One result per gate: name, status, message.")
    evidence = models.JSONField(
        default=dict, blank=True, help_text="What the gates compared: champion version, holdout rows, config."
    )
    approvals_required = models.PositiveSmallIntegerField(default=1)
    champion = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The production version when the gates ran.",
    )
    job = models.ForeignKey("mlops_site.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="promotion_requests"
    )
    created_at = models.DateTimeField(default=timezone.now)
    override_reason = models.TextField(blank=True)
    overridden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("review_promotionrequest", "Can approve or reject promotion requests"),
            ("override_gates", "Can approve a promotion whose gates failed, with a reason"),
        ]
        constraints = [
            # A double-clicked "request" cannot open two reviews of the same move.
            models.UniqueConstraint(
                fields=["version", "stage"],
                condition=Q(status__in=["checking", "pending"]),
                name="promotion_one_open_request_per_version_stage",
            ),
        ]

    def __str__(self) -> str:
        return f"Request #{self.pk}: {self.version} → {self.stage}"

    def get_absolute_url(self) -> str:
        return reverse("promotion-detail", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class Review(models.Model):
    """One reviewer's decision on a request; the unique constraint makes a double-click one approval."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approved"
        REJECT = "reject", "Rejected"

    request = models.ForeignKey(PromotionRequest, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["request", "reviewer"], name="review_one_per_reviewer")]

    def __str__(self) -> str:
        return f"{self.reviewer} {self.decision}d request #{self.request_id}"
