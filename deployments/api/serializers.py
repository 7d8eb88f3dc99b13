"""Serializers of the deployments API's answers (the request bodies are deployments/schemas.py)."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from deployments import services
from deployments.models import Deployment, DeploymentRevision, Prediction


def _number(version) -> int | None:
    return version.number if version else None


class RevisionSerializer(serializers.ModelSerializer):
    primary = serializers.IntegerField(source="primary.number", allow_null=True, read_only=True)
    canary = serializers.IntegerField(source="canary.number", allow_null=True, read_only=True)
    shadow = serializers.IntegerField(source="shadow.number", allow_null=True, read_only=True)
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DeploymentRevision
        fields = ["number", "kind", "primary", "canary", "canary_percent", "shadow", "reason", "actor", "created_at"]
        read_only_fields = fields


class DeploymentSerializer(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="name", read_only=True)
    model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    primary_version = serializers.IntegerField(source="primary.number", allow_null=True, read_only=True)
    canary_version = serializers.IntegerField(source="canary.number", allow_null=True, read_only=True)
    shadow_version = serializers.IntegerField(source="shadow.number", allow_null=True, read_only=True)
    predict_url = serializers.SerializerMethodField()
    override = serializers.SerializerMethodField(
        help_text="While the deployment serves a version not approved for its environment's stage: who, why, when."
    )

    class Meta:
        model = Deployment
        fields = [
            "environment",
            "model",
            "primary_version",
            "canary_version",
            "canary_percent",
            "canary_since",
            "shadow_version",
            "revision",
            "guardrail",
            "updated_at",
            "predict_url",
            "override",
            "unseen_values",
        ]
        read_only_fields = fields

    @extend_schema_field(
        inline_serializer(
            "DeploymentOverride",
            {
                "versions": serializers.ListField(child=serializers.IntegerField()),
                "by": serializers.CharField(allow_null=True),
                "reason": serializers.CharField(),
                "since": serializers.DateTimeField(),
            },
            allow_null=True,
        )
    )
    def get_override(self, deployment) -> dict | None:
        if not deployment.is_overridden:
            return None
        return {
            "versions": [v.number for v in services.unapproved_versions(deployment)],
            "by": deployment.override_by.username if deployment.override_by else None,
            "reason": deployment.override_reason,
            "since": deployment.override_at,
        }

    def get_predict_url(self, deployment) -> str:
        return f"/api/deployments/{deployment.environment.name}/{deployment.model.name}/predict"


class DeploymentDetailSerializer(DeploymentSerializer):
    revisions = serializers.SerializerMethodField()
    stats = serializers.SerializerMethodField()

    class Meta(DeploymentSerializer.Meta):
        fields = [*DeploymentSerializer.Meta.fields, "revisions", "stats"]
        read_only_fields = fields

    def get_revisions(self, deployment) -> list[dict]:
        revisions = deployment.revisions.select_related("primary", "canary", "shadow", "actor")[:50]
        return RevisionSerializer(revisions, many=True).data

    def get_stats(self, deployment) -> dict:
        """Requests, errors and rows of the last 24 hours, per version."""
        since = timezone.now() - timedelta(hours=24)
        rows = (
            deployment.request_stats.filter(created_at__gte=since)
            .values("version__number", "role")
            .annotate(requests=Count("id"), errors=Count("id", filter=Q(status_code__gte=400)))
            .order_by("version__number", "role")
        )
        return {
            "window_hours": 24,
            "by_version": [
                {"version": r["version__number"], "role": r["role"], "requests": r["requests"], "errors": r["errors"]}
                for r in rows
            ],
        }


PREDICT_REQUEST = inline_serializer(
    "PredictRequest",
    {
        "records": serializers.ListField(child=serializers.DictField(), help_text="Rows: {column: value}."),
        "entity_key": serializers.CharField(required=False, help_text="Routes the same key to the same version."),
    },
)
PREDICT_RESPONSE = inline_serializer(
    "PredictResponse",
    {
        "predictions": inline_serializer(
            "PredictionRow",
            {
                "prediction_id": serializers.UUIDField(),
                "prediction": serializers.JSONField(),
                "probabilities": serializers.DictField(child=serializers.FloatField(), required=False),
                "version": serializers.IntegerField(),
            },
            many=True,
        )
    },
)


class PredictionSerializer(serializers.ModelSerializer):
    deployment = serializers.SerializerMethodField()
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = Prediction
        fields = [
            "id",
            "deployment",
            "version",
            "role",
            "request_id",
            "entity_key",
            "inputs",
            "prediction",
            "probabilities",
            "latency_ms",
            "created_at",
            "ground_truth",
            "ground_truth_at",
            "unseen",
        ]
        read_only_fields = fields

    def get_deployment(self, prediction) -> str:
        return f"{prediction.deployment.environment.name}/{prediction.deployment.model.name}"
