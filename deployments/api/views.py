"""REST API of deployments: list, detail, traffic changes, rollback, predict, ground truth, predictions."""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments import services, serving
from deployments.models import Deployment, DeploymentRevision, Prediction
from mlops_site import context
from mlops_site.api.pagination import StandardPagination
from mlops_site.api.parsers import SafeJSONParser, as_utc
from mlops_site.api.permissions import HasModelPermission
from registry.models import ModelVersion


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


def _deployment(environment: str, model: str) -> Deployment:
    deployment = (
        Deployment.objects.select_related("environment", "model", "primary", "canary", "shadow")
        .filter(environment__name=environment, model__name=model)
        .first()
    )
    if deployment is None:
        raise NotFound(f"Nothing is deployed for model “{model}” in environment “{environment}”.")
    return deployment


def _version(deployment: Deployment, number, field: str) -> ModelVersion | None:
    if number is None:
        return None
    version = (
        ModelVersion.objects.select_related("artifact", "model").filter(model=deployment.model, number=number).first()
    )
    if version is None:
        raise ValidationError({field: f"{deployment.model.name} has no version {number}."})
    return version


class DeploymentList(generics.ListAPIView):
    """Every deployment: environment, model, the versions it serves and the canary's share."""

    permission_classes = [HasModelPermission]
    required_permission = "deployments.view_deployment"
    serializer_class = DeploymentSerializer
    queryset = Deployment.objects.select_related("environment", "model", "primary", "canary", "shadow")


class TrafficSerializer(serializers.Serializer):
    primary_version = serializers.IntegerField(required=False, help_text="Deploy this version as the primary.")
    canary_version = serializers.IntegerField(required=False, allow_null=True, help_text="null removes the canary.")
    canary_percent = serializers.IntegerField(required=False, min_value=0, max_value=100)
    shadow_version = serializers.IntegerField(required=False, allow_null=True, help_text="null removes the shadow.")
    guardrail = serializers.DictField(
        required=False,
        help_text="Canary limits: {max_error_rate, max_p95_ms, baking_minutes, min_requests}; defaults fill the rest.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    override = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Admins, in an emergency: serve a primary or canary not approved for the environment's stage. "
        "Needs a reason; audited, sent to webhooks as deployment.override and bannered until a promotion or rollback.",
    )
    unseen_values = serializers.ChoiceField(
        choices=Deployment._meta.get_field("unseen_values").choices,  # one enum in the schema
        required=False,
        help_text="What predict does with a categorical value training never had: flag (answer and count it) "
        "or refuse (400 naming row, field and value).",
    )


class DeploymentDetail(APIView):
    permission_classes = [HasModelPermission]
    required_permission = "deployments.view_deployment"

    @extend_schema(responses=DeploymentDetailSerializer)
    def get(self, request, environment: str, model: str):
        """Versions, traffic split, revisions and request counts of one deployment."""
        return Response(DeploymentDetailSerializer(_deployment(environment, model)).data)

    @extend_schema(request=TrafficSerializer, responses=DeploymentDetailSerializer)
    def patch(self, request, environment: str, model: str):
        """Admins: deploy a primary, set or remove the canary and its share, set or remove the shadow."""
        deployment = _deployment(environment, model)
        body = TrafficSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if not set(data) - {"reason", "override"}:
            raise ValidationError(
                {
                    "non_field_errors": "Send primary_version, canary_version, canary_percent, shadow_version, "
                    "guardrail or unseen_values."
                }
            )
        # Resolve and check every named version first, outside the transaction below, so an unknown
        # number is a 400 before anything changes and a refused file's audit event is not rolled back.
        for field in ("primary_version", "canary_version", "shadow_version"):
            chosen = _version(deployment, data.get(field), field)
            if chosen is not None:
                services.verify_version(chosen, deployment, actor=request.user)
        with transaction.atomic():
            if "primary_version" in data:
                services.deploy(
                    deployment.environment,
                    _version(deployment, data["primary_version"], "primary_version"),
                    actor=request.user,
                    reason=data["reason"],
                    override=data["override"],
                )
                deployment = _deployment(environment, model)
            traffic = {}
            if "canary_version" in data:
                traffic["canary"] = _version(deployment, data["canary_version"], "canary_version")
            if "canary_percent" in data:
                traffic["canary_percent"] = data["canary_percent"]
            if "shadow_version" in data:
                traffic["shadow"] = _version(deployment, data["shadow_version"], "shadow_version")
            if traffic:
                services.set_traffic(
                    deployment, actor=request.user, reason=data["reason"], override=data["override"], **traffic
                )
            if "guardrail" in data:
                services.set_guardrail(_deployment(environment, model), data["guardrail"], actor=request.user)
            if "unseen_values" in data:
                services.set_unseen_policy(_deployment(environment, model), data["unseen_values"], actor=request.user)
        return Response(DeploymentDetailSerializer(_deployment(environment, model)).data)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class DeploymentRollbackSerializer(ReasonSerializer):
    override = serializers.BooleanField(
        required=False, default=False, help_text="Needed when the revision restored served an unapproved version."
    )


class Rollback(APIView):
    permission_classes = [HasModelPermission]
    required_permission = "deployments.view_deployment"

    @extend_schema(request=DeploymentRollbackSerializer, responses=DeploymentDetailSerializer)
    def post(self, request, environment: str, model: str):
        """Admins: go back to the previous revision (versions, canary share, shadow) in one step."""
        body = DeploymentRollbackSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.rollback(_deployment(environment, model), actor=request.user, **body.validated_data)
        return Response(DeploymentDetailSerializer(_deployment(environment, model)).data)


class PromoteCanary(APIView):
    permission_classes = [HasModelPermission]
    required_permission = "deployments.view_deployment"

    @extend_schema(request=ReasonSerializer, responses=DeploymentDetailSerializer)
    def post(self, request, environment: str, model: str):
        """Admins: the canary becomes the primary and takes all traffic."""
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.promote_canary(_deployment(environment, model), actor=request.user, **body.validated_data)
        return Response(DeploymentDetailSerializer(_deployment(environment, model)).data)


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


class Predict(APIView):
    """Score JSON records with the deployed model. Token auth (personal or service token); role data scientist or admin."""

    permission_classes = [HasModelPermission]
    required_permission = token_permission = "deployments.predict"
    service_tokens = True
    renderer_classes = [JSONRenderer]
    parser_classes = [SafeJSONParser]

    @extend_schema(request=PREDICT_REQUEST, responses={200: PREDICT_RESPONSE})
    def post(self, request, environment: str, model: str):
        started = time.perf_counter()
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.SERVING_MAX_BODY_MB * 1024 * 1024:  # refused before the body is read and parsed
            return Response(
                {
                    "detail": f"The body is {length / 1024 / 1024:.1f} MB; at most {settings.SERVING_MAX_BODY_MB} MB "
                    "per request. Send fewer rows per request.",
                    "code": "too_large",
                    "errors": {},
                },
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        deployment = serving.deployments.find(environment, model)
        if deployment is None:
            raise NotFound(f"Nothing is deployed for model “{model}” in environment “{environment}”.")
        try:
            answer = serving.predict(
                deployment, request.data, request_id=context.request_id.get() or "", started=started
            )
        except serving.ServingError as exc:
            errors = (
                {
                    "records": [
                        f"row {e['row']}, {e['field']}: {e['message']}" if e.get("row") is not None else e["message"]
                        for e in exc.errors
                    ]
                }
                if exc.errors
                else {}
            )
            return Response(
                {"detail": exc.message, "code": "invalid" if exc.status == 400 else "unavailable", "errors": errors},
                status=exc.status,
            )
        return Response({"predictions": answer.predictions})


class GroundTruthItem(serializers.Serializer):
    prediction_id = serializers.UUIDField()
    label = serializers.JSONField()


class GroundTruth(APIView):
    permission_classes = [HasModelPermission]
    required_permission = token_permission = "deployments.predict"
    service_tokens = True

    @extend_schema(
        request=GroundTruthItem(many=True),
        responses={200: inline_serializer("GroundTruthResult", {"updated": serializers.IntegerField()})},
    )
    def post(self, request):
        """Attach the true outcome to served predictions, one or many: `[{prediction_id, label}]`.

        A label is one of the answering version's classes (1, 1.0 and "1" are one class) or, for a regressor,
        a finite number; any bad item is a 400 naming its index and nothing of the batch is stored."""
        updated = services.record_ground_truth(request.data, actor=request.user)
        return Response({"updated": updated}, status=status.HTTP_200_OK)


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


@extend_schema(
    parameters=[
        OpenApiParameter("deployment", str, description="environment/model, e.g. production/credit-default"),
        OpenApiParameter("since", str, description="ISO 8601 time; predictions at or after it"),
    ]
)
class PredictionList(generics.ListAPIView):
    """Logged predictions, newest first."""

    permission_classes = [HasModelPermission]
    required_permission = "deployments.view_prediction"
    serializer_class = PredictionSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        queryset = Prediction.objects.select_related("deployment__environment", "deployment__model", "version")
        params = self.request.query_params
        if value := params.get("deployment"):
            environment, _, model = value.partition("/")
            queryset = queryset.filter(deployment__environment__name=environment, deployment__model__name=model)
        if value := params.get("since"):
            try:
                since = parse_datetime(value)
            except ValueError:
                since = None
            since = as_utc(since) if since is not None else None
            if since is None:
                raise ValidationError({"since": "An ISO 8601 time, e.g. 2026-11-23T10:00:00Z."})
            queryset = queryset.filter(created_at__gte=since)
        return queryset.order_by("-created_at")
