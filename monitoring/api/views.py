"""REST API of monitoring: monitors, drift reports, ad-hoc drift, alert rules, alerts, retraining policies.

ViewSets with `@action` verbs; request bodies are the services' schemas (the services validate them), lists
filter with the FilterSets the pages share.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mlops_site.api.pagination import StandardPagination
from mlops_site.api.permissions import HasModelPermission
from mlops_site.api.serializers import JobSerializer
from monitoring import filters, schemas, selectors, services
from monitoring.api import serializers as s
from monitoring.models import Alert, AlertRule, DriftReport, Monitor, Retraining


class DriftCompareViewSet(viewsets.ViewSet):
    """Drift between any two dataset versions (same columns): per-feature rows and every method's statistic."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_datasetversion"  # it reads two versions and stores nothing

    @extend_schema(
        operation_id="drift_compare_create",
        request=schemas.CompareRequest,
        responses={200: s.COMPARE_RESPONSE},
        tags=["drift"],
    )
    def create(self, request):
        reference, current, report = services.compare_request(request.data)
        return Response({"reference_version": reference.pk, "current_version": current.pk} | report.as_dict())


class MonitorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every deployment's monitor: its reference, window, schedule, methods and thresholds."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_monitor"
    write_permissions = {"partial_update": "monitoring.change_monitor", "run": "monitoring.change_monitor"}
    serializer_class = s.MonitorSerializer
    queryset = selectors.monitors_with_latest().order_by("pk")

    @extend_schema(request=schemas.MonitorSettings, responses=s.MonitorSerializer)
    def partial_update(self, request, pk=None):
        """Change the reference, the window (last N hours or last N predictions), schedule, methods, thresholds."""
        monitor = services.update_monitor(self.get_object(), request.data, actor=request.user)
        return Response(s.MonitorSerializer(self.get_queryset().get(pk=monitor.pk)).data)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run the monitor now on a worker: 202 with the job; the report appears when it finishes."""
        monitor = generics.get_object_or_404(Monitor, pk=pk)
        job = services.request_run(monitor, actor=request.user)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class DriftReportViewSet(viewsets.ReadOnlyModelViewSet):
    """Drift reports, newest first (the list without their per-feature rows: see the detail)."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_driftreport"
    pagination_class = StandardPagination
    filterset_class = filters.DriftReportFilter

    def get_queryset(self):
        if self.action == "list":
            return DriftReport.objects.select_related("version")
        return DriftReport.objects.select_related("version").prefetch_related("features")

    def get_serializer_class(self):
        return s.DriftReportSerializer if self.action == "list" else s.DriftReportDetailSerializer


class AlertRuleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Alert rules: a metric, a comparison, a threshold, a window and a severity, checked after each of the
    monitor's reports. Change one field by field (PATCH), or delete it with its alerts."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_alertrule"
    write_permissions = {
        "create": "monitoring.add_alertrule",
        "partial_update": "monitoring.change_alertrule",
        "destroy": "monitoring.delete_alertrule",
    }
    serializer_class = s.AlertRuleSerializer
    pagination_class = StandardPagination
    filterset_class = filters.AlertRuleFilter
    queryset = AlertRule.objects.select_related("created_by")

    @extend_schema(
        request=schemas.AlertRuleInput,
        responses={201: s.AlertRuleSerializer},
        parameters=[OpenApiParameter("monitor", int, description="Not read: the body names the monitor.")],
    )
    def create(self, request):
        rule = services.create_rule(None, request.data, actor=request.user)
        return Response(s.AlertRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=schemas.AlertRuleInput, responses=s.AlertRuleSerializer)
    def partial_update(self, request, pk=None):
        rule = services.update_rule(self.get_object(), request.data, actor=request.user)
        return Response(s.AlertRuleSerializer(rule).data)

    def perform_destroy(self, instance):
        services.delete_rule(instance, actor=self.request.user)


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts, newest first. Acknowledge (open → acknowledged) or resolve (open or acknowledged → resolved);
    409 otherwise."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_alert"
    write_permissions = {"acknowledge": "monitoring.change_alert", "resolve": "monitoring.change_alert"}
    serializer_class = s.AlertSerializer
    pagination_class = StandardPagination
    filterset_class = filters.AlertFilter
    queryset = Alert.objects.select_related(
        "rule", "acknowledged_by", "resolved_by", "monitor__deployment__environment", "monitor__deployment__model"
    )

    @extend_schema(request=schemas.AlertComment, responses={200: s.AlertSerializer})
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = services.acknowledge(generics.get_object_or_404(Alert, pk=pk), actor=request.user, data=request.data)
        return Response(s.AlertSerializer(alert).data)

    @extend_schema(request=schemas.AlertComment, responses={200: s.AlertSerializer})
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        alert = services.resolve(generics.get_object_or_404(Alert, pk=pk), actor=request.user, data=request.data)
        return Response(s.AlertSerializer(alert).data)


@extend_schema(parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH)])  # any name, dots too
class RetrainingViewSet(viewsets.GenericViewSet):
    """A registered model's retraining policy and retrainings (under /api/models/<name>/)."""

    lookup_field = "name"
    lookup_value_regex = "[^/]+"
    permission_classes = [HasModelPermission]
    write_permissions = {"policy": "monitoring.change_retrainingpolicy", "retrainings": "monitoring.add_retraining"}
    pagination_class = None
    filter_backends = []

    @property
    def required_permission(self) -> str:
        return "monitoring.view_retraining" if self.action == "retrainings" else "monitoring.view_retrainingpolicy"

    def get_queryset(self):
        from registry.models import RegisteredModel

        return RegisteredModel.objects.all()

    def _policy(self, model) -> Response:
        return Response(s.RetrainingPolicySerializer(services.policy_of(model)).data)

    @extend_schema(methods=["GET"], responses=s.RetrainingPolicySerializer)
    @extend_schema(
        methods=["PUT"],
        request=schemas.RetrainingPolicyInput,
        responses=s.RetrainingPolicySerializer,
        description="Set all of it (fields left out take their defaults); retraining then acts on the caller's behalf.",
    )
    @extend_schema(
        methods=["PATCH"],
        request=schemas.RetrainingPolicyInput,
        responses=s.RetrainingPolicySerializer,
        description="Change some fields; the others keep their current values (or the defaults, without a policy).",
    )
    @action(detail=True, methods=["get", "put", "patch"], url_path="retraining-policy")
    def policy(self, request, name=None):
        model = self.get_object()
        if request.method == "PUT":
            services.put_policy(model, request.data, actor=request.user)
        elif request.method == "PATCH":
            services.patch_policy(model, request.data, actor=request.user)
        return self._policy(model)

    @extend_schema(methods=["GET"], responses=s.RetrainingSerializer(many=True))
    @extend_schema(methods=["POST"], request=None, responses={202: s.RetrainingSerializer})
    @action(detail=True, methods=["get", "post"])
    def retrainings(self, request, name=None):
        """A model's retrainings, newest first (GET), or start one now with the policy's data (POST → 202)."""
        model = self.get_object()
        if request.method == "POST":
            retraining = services.retrain_now(model, actor=request.user)
            return Response(s.RetrainingSerializer(retraining).data, status=status.HTTP_202_ACCEPTED)
        return Response(s.RetrainingSerializer(Retraining.objects.filter(model=model)[:100], many=True).data)
