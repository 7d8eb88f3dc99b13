"""REST API of deployments: list, detail, traffic changes, rollback, predict, ground truth, predictions.

Views look the deployment up, hand `request.data` to the service (which validates it with the schema
documented here) and serialize the answer; refusals are raised and shaped by mlops_site.api.exceptions.
"""

from __future__ import annotations

import time

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from deployments import filters, schemas, services
from deployments.api import serializers as s
from deployments.models import Deployment, Prediction
from mlops_site import context, lazy
from mlops_site.api.pagination import StandardPagination
from mlops_site.api.parsers import SafeJSONParser
from mlops_site.api.permissions import HasModelPermission

serving = lazy.module("deployments.serving")  # the ML stack, loaded by the first predict

VIEW = "deployments.view_deployment"
PATH = [
    OpenApiParameter("environment", str, OpenApiParameter.PATH),
    OpenApiParameter("model", str, OpenApiParameter.PATH),
]


def _not_deployed(environment: str, model: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"Nothing is deployed for model “{model}” in environment “{environment}”.")


class DeploymentLookup:
    """A deployment is addressed by environment and model name (see deployments/api/urls.py)."""

    def get_object(self) -> Deployment:
        environment, model = self.kwargs["environment"], self.kwargs["model"]
        deployment = self.get_queryset().filter(environment__name=environment, model__name=model).first()
        if deployment is None:
            raise _not_deployed(environment, model)
        self.check_object_permissions(self.request, deployment)
        return deployment


@extend_schema_view(
    retrieve=extend_schema(parameters=PATH),
    partial_update=extend_schema(parameters=PATH),
    rollback=extend_schema(parameters=PATH),
    promote_canary=extend_schema(parameters=PATH),
)
class DeploymentViewSet(DeploymentLookup, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every deployment: environment, model, the versions it serves and the canary's share."""

    permission_classes = [HasModelPermission]
    required_permission = VIEW
    # Writes need the change permission, so the API refuses before the service does.
    write_permissions = {
        "partial_update": services.CHANGE,
        "rollback": services.CHANGE,
        "promote_canary": services.CHANGE,
    }
    queryset = Deployment.objects.select_related("environment", "model", "primary", "canary", "shadow")
    filterset_class = filters.DeploymentFilter

    def get_serializer_class(self):
        return s.DeploymentSerializer if self.action == "list" else s.DeploymentDetailSerializer

    def _answer(self, deployment: Deployment) -> Response:
        return Response(s.DeploymentDetailSerializer(deployment).data)

    @extend_schema(responses=s.DeploymentDetailSerializer)
    def retrieve(self, request, environment: str, model: str):
        """Versions, traffic split, revisions and request counts of one deployment."""
        return self._answer(self.get_object())

    @extend_schema(request=schemas.DeploymentChange, responses=s.DeploymentDetailSerializer)
    def partial_update(self, request, environment: str, model: str):
        """Admins: deploy a primary, set or remove the canary and its share, set or remove the shadow."""
        return self._answer(services.update_deployment(self.get_object(), request.data, actor=request.user))

    @extend_schema(request=schemas.DeploymentRollback, responses=s.DeploymentDetailSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, environment: str, model: str):
        """Admins: go back to the previous revision (versions, canary share, shadow) in one step."""
        deployment, _ = services.change(self.get_object(), "rollback", request.data, actor=request.user)
        return self._answer(deployment)

    @extend_schema(request=schemas.Reason, responses=s.DeploymentDetailSerializer)
    @action(detail=True, methods=["post"], url_path="promote-canary")
    def promote_canary(self, request, environment: str, model: str):
        """Admins: the canary becomes the primary and takes all traffic."""
        deployment, _ = services.change(self.get_object(), "promote_canary", request.data, actor=request.user)
        return self._answer(deployment)


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class NotServed(exceptions.APIException):
    """Predict's refusal: the sentence as the detail, the rows at fault under `errors.records`."""

    def __init__(self, exc: serving.ServingError):
        self.status_code = exc.status
        super().__init__(exc.message, code="invalid" if exc.status == 400 else "unavailable")
        rows = [
            f"row {e['row']}, {e['field']}: {e['message']}" if e.get("row") is not None else e["message"]
            for e in exc.errors
        ]
        self.errors = {"records": rows} if rows else {}


def body_too_large(request) -> str | None:
    """Why a predict body is refused before it is read and parsed (its declared length), or None."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= settings.SERVING_MAX_BODY_MB * 1024 * 1024:
        return None
    return (
        f"The body is {length / 1024 / 1024:.1f} MB; at most {settings.SERVING_MAX_BODY_MB} MB "
        "per request. Send fewer rows per request."
    )


class PredictViewSet(viewsets.GenericViewSet):
    """Score JSON records with the deployed model. Token auth (personal or service token); role data scientist or admin."""

    permission_classes = [HasModelPermission]
    required_permission = token_permission = "deployments.predict"
    service_tokens = True
    renderer_classes = [JSONRenderer]
    parser_classes = [SafeJSONParser]
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        operation_id="deployments_predict_create",
        parameters=PATH,
        request=s.PREDICT_REQUEST,
        responses={200: s.PREDICT_RESPONSE},
    )
    @action(detail=True, methods=["post"])
    def predict(self, request, environment: str, model: str):
        started = time.perf_counter()
        if too_large := body_too_large(request):
            raise BodyTooLarge(too_large)
        deployment = serving.deployments.find(environment, model)
        if deployment is None:
            raise _not_deployed(environment, model)
        try:
            answer = serving.predict(
                deployment, request.data, request_id=context.request_id.get() or "", started=started
            )
        except serving.ServingError as exc:
            raise NotServed(exc) from None
        return Response({"predictions": answer.predictions})


class GroundTruthViewSet(viewsets.GenericViewSet):
    permission_classes = [HasModelPermission]
    required_permission = token_permission = services.PREDICT
    service_tokens = True
    pagination_class = None
    filter_backends: list = []

    @extend_schema(
        request=schemas.GroundTruthItem(many=True),
        responses={200: inline_serializer("GroundTruthResult", {"updated": serializers.IntegerField()})},
    )
    def create(self, request):
        """Attach the true outcome to served predictions, one or many: `[{prediction_id, label}]`.

        A label is one of the answering version's classes (1, 1.0 and "1" are one class) or, for a regressor,
        a finite number; any bad item is a 400 naming its index and nothing of the batch is stored."""
        updated = services.record_ground_truth(request.data, actor=request.user)
        return Response({"updated": updated}, status=status.HTTP_200_OK)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("deployment", str, description="environment/model, e.g. production/credit-default"),
            OpenApiParameter("since", str, description="ISO 8601 time; predictions at or after it"),
        ]
    )
)
class PredictionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Logged predictions, newest first."""

    permission_classes = [HasModelPermission]
    required_permission = "deployments.view_prediction"
    serializer_class = s.PredictionSerializer
    pagination_class = StandardPagination
    filterset_class = filters.PredictionFilter
    queryset = Prediction.objects.select_related("deployment__environment", "deployment__model", "version")
