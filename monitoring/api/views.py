"""REST API of monitoring: monitors, drift reports, ad-hoc drift, alert rules, alerts, retraining policies."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments.models import DatasetVersion
from mlops_site.api.pagination import StandardPagination
from mlops_site.api.parsers import query_id
from mlops_site.api.permissions import HasModelPermission
from mlops_site.api.serializers import JobSerializer
from monitoring import schemas, selectors, services
from monitoring.models import Alert, AlertRule, DriftReport, FeatureDrift, Monitor, Retraining, RetrainingPolicy


class WritePermissions:
    """`required_permission` by HTTP method, so a write is refused (403) before the service runs: reads need
    `read_permission`, writes the `add_`/`change_`/`delete_` permission in `write_permissions`."""

    write_permissions: dict[str, str] = {}

    @property
    def required_permission(self) -> str:
        return self.write_permissions.get(self.request.method, self.read_permission)


FEATURE_ROW = inline_serializer(
    "ComparedFeature",
    {
        "feature": serializers.CharField(),
        "kind": serializers.CharField(),
        "status": serializers.CharField(help_text="ok, not enough data, missing in current, new in current"),
        "method": serializers.CharField(allow_null=True),
        "statistic": serializers.FloatField(allow_null=True),
        "p_value": serializers.FloatField(allow_null=True),
        "threshold": serializers.FloatField(allow_null=True),
        "drifted": serializers.BooleanField(),
        "reference_rows": serializers.IntegerField(),
        "current_rows": serializers.IntegerField(),
        "reference_null_share": serializers.FloatField(allow_null=True),
        "current_null_share": serializers.FloatField(allow_null=True),
        "statistics": serializers.DictField(help_text="Every method's {statistic, p_value?} for this column."),
    },
)
COMPARE_RESPONSE = inline_serializer(
    "DriftComparison",
    {
        "reference_version": serializers.IntegerField(),
        "current_version": serializers.IntegerField(),
        "compared": serializers.IntegerField(),
        "drifted_count": serializers.IntegerField(),
        "share": serializers.FloatField(allow_null=True),
        "threshold": serializers.FloatField(),
        "drifted": serializers.BooleanField(),
        "features": FEATURE_ROW,
    },
)


class DriftCompare(APIView):
    """Drift between any two dataset versions (same columns): per-feature rows and every method's statistic."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_datasetversion"

    @extend_schema(request=schemas.CompareRequest, responses={200: COMPARE_RESPONSE})
    def post(self, request):
        reference, current, report = services.compare_request(request.data)
        return Response({"reference_version": reference.pk, "current_version": current.pk} | report.as_dict())


# ---------------------------------------------------------------------------------------------------
# Monitors and drift reports
# ---------------------------------------------------------------------------------------------------


class MonitorSerializer(serializers.ModelSerializer):
    deployment = serializers.SerializerMethodField()
    reference = serializers.PrimaryKeyRelatedField(
        queryset=DatasetVersion.objects.all(),
        allow_null=True,
        required=False,
        help_text="Dataset version id; null: the data the served model was trained on.",
    )
    latest_report = serializers.SerializerMethodField()

    class Meta:
        model = Monitor
        fields = [
            "id",
            "deployment",
            "reference",
            "window_hours",
            "window_predictions",
            "every_minutes",
            "min_rows",
            "methods",
            "thresholds",
            "share",
            "enabled",
            "last_run_at",
            "latest_report",
        ]
        read_only_fields = ["id", "deployment", "last_run_at", "latest_report"]

    def get_deployment(self, monitor) -> str:
        return f"{monitor.deployment.environment.name}/{monitor.deployment.model.name}"

    def get_latest_report(self, monitor) -> int | None:
        if hasattr(monitor, "latest_report_id"):  # annotated by selectors.monitors_with_latest
            return monitor.latest_report_id
        report = monitor.reports.order_by("-created_at", "-id").first()
        return report.pk if report else None


class FeatureDriftSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeatureDrift
        fields = [
            "feature",
            "is_prediction",
            "kind",
            "status",
            "method",
            "statistic",
            "p_value",
            "threshold",
            "drifted",
            "reference_rows",
            "current_rows",
            "reference_null_share",
            "current_null_share",
            "statistics",
        ]
        read_only_fields = fields


class DriftReportSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", allow_null=True, read_only=True)

    class Meta:
        model = DriftReport
        fields = [
            "id",
            "monitor",
            "job",
            "version",
            "reference",
            "status",
            "message",
            "window_start",
            "window_end",
            "current_rows",
            "reference_rows",
            "compared",
            "drifted_count",
            "drift_share",
            "share_threshold",
            "dataset_drifted",
            "prediction_drifted",
            "labelled_rows",
            "performance",
            "baseline",
            "settings",
            "created_at",
        ]
        read_only_fields = fields


class DriftReportDetailSerializer(DriftReportSerializer):
    features = FeatureDriftSerializer(many=True, read_only=True)

    class Meta(DriftReportSerializer.Meta):
        fields = [*DriftReportSerializer.Meta.fields, "features"]
        read_only_fields = fields


class MonitorList(generics.ListAPIView):
    """Every deployment's monitor."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_monitor"
    serializer_class = MonitorSerializer
    queryset = selectors.monitors_with_latest().order_by("pk")


class MonitorDetail(WritePermissions, APIView):
    permission_classes = [HasModelPermission]
    read_permission = "monitoring.view_monitor"
    write_permissions = {"PATCH": "monitoring.change_monitor"}

    def _monitor(self, pk: int) -> Monitor:
        return generics.get_object_or_404(selectors.monitors_with_latest(), pk=pk)

    @extend_schema(responses=MonitorSerializer)
    def get(self, request, pk: int):
        """A monitor's reference, window, schedule, methods and thresholds."""
        return Response(MonitorSerializer(self._monitor(pk)).data)

    @extend_schema(request=schemas.MonitorSettings, responses=MonitorSerializer)
    def patch(self, request, pk: int):
        """Change the reference, the window (last N hours or last N predictions), schedule, methods, thresholds."""
        monitor = services.update_monitor(self._monitor(pk), request.data, actor=request.user)
        return Response(MonitorSerializer(self._monitor(monitor.pk)).data)


class MonitorRun(APIView):
    permission_classes = [HasModelPermission]
    required_permission = "monitoring.change_monitor"

    @extend_schema(request=None, responses={202: JobSerializer})
    def post(self, request, pk: int):
        """Run the monitor now on a worker: 202 with the job; the report appears when it finishes."""
        monitor = generics.get_object_or_404(Monitor, pk=pk)
        job = services.request_run(monitor, actor=request.user)
        return Response(JobSerializer(job, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(parameters=[OpenApiParameter("monitor", int, description="Only this monitor's reports")])
class DriftReportList(generics.ListAPIView):
    """Drift reports, newest first (without their per-feature rows: see the detail)."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_driftreport"
    serializer_class = DriftReportSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        queryset = DriftReport.objects.select_related("version").order_by("-created_at", "-id")
        value = self.request.query_params.get("monitor")
        if value:
            if (monitor_id := query_id(value)) is None:
                raise ValidationError({"monitor": "A monitor id."})
            queryset = queryset.filter(monitor_id=monitor_id)
        return queryset


class DriftReportDetail(generics.RetrieveAPIView):
    """One drift report with a row per feature (and one for the prediction)."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_driftreport"
    serializer_class = DriftReportDetailSerializer
    queryset = DriftReport.objects.select_related("version").prefetch_related("features")


class AlertRuleSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    emails = serializers.ListField(child=serializers.EmailField(), required=False, help_text="Empty: ALERT_EMAILS.")
    window_minutes = serializers.IntegerField(
        required=False,
        help_text="Drift and performance metrics: the mean over the reports that ended in the last N minutes; "
        "service metrics: the requests of the last N minutes.",
    )

    class Meta:
        model = AlertRule
        fields = [
            "id",
            "monitor",
            "name",
            "metric",
            "comparison",
            "threshold",
            "window_minutes",
            "severity",
            "emails",
            "enabled",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_by", "created_at"]


@extend_schema(parameters=[OpenApiParameter("monitor", int, description="Only this monitor's rules")])
class AlertRuleList(WritePermissions, generics.ListCreateAPIView):
    """Alert rules (GET), or a new one on a monitor (POST): a metric, a comparison, a threshold, a window and a
    severity, checked after each of the monitor's reports."""

    permission_classes = [HasModelPermission]
    read_permission = "monitoring.view_alertrule"
    write_permissions = {"POST": "monitoring.add_alertrule"}
    serializer_class = AlertRuleSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        queryset = AlertRule.objects.select_related("created_by").order_by("pk")
        value = self.request.query_params.get("monitor")
        if value:
            if (monitor_id := query_id(value)) is None:
                raise ValidationError({"monitor": "A monitor id."})
            queryset = queryset.filter(monitor_id=monitor_id)
        return queryset

    @extend_schema(request=schemas.AlertRuleInput, responses={201: AlertRuleSerializer})
    def create(self, request, *args, **kwargs):
        rule = services.create_rule(None, request.data, actor=request.user)
        return Response(AlertRuleSerializer(rule).data, status=status.HTTP_201_CREATED)


class AlertRuleDetail(WritePermissions, generics.RetrieveUpdateDestroyAPIView):
    """One rule: read, change (PATCH, validated field by field), or delete with its alerts."""

    permission_classes = [HasModelPermission]
    read_permission = "monitoring.view_alertrule"
    write_permissions = {"PATCH": "monitoring.change_alertrule", "DELETE": "monitoring.delete_alertrule"}
    serializer_class = AlertRuleSerializer
    queryset = AlertRule.objects.select_related("created_by")
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(request=schemas.AlertRuleInput, responses=AlertRuleSerializer)
    def partial_update(self, request, *args, **kwargs):
        rule = services.update_rule(self.get_object(), request.data, actor=request.user)
        return Response(AlertRuleSerializer(rule).data)

    def destroy(self, request, *args, **kwargs):
        services.delete_rule(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    deployment = serializers.SerializerMethodField()
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    resolved_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "rule",
            "rule_name",
            "monitor",
            "deployment",
            "report",
            "status",
            "severity",
            "metric",
            "value",
            "last_value",
            "threshold",
            "message",
            "opened_at",
            "last_evaluated_at",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution",
            "emailed_to",
            "email_error",
            "retraining_note",
        ]
        read_only_fields = fields

    def get_deployment(self, alert) -> str:
        return str(alert.monitor.deployment)


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, enum=Alert.Status.values, description="open, acknowledged or resolved"),
        OpenApiParameter("monitor", int, description="Only this monitor's alerts"),
        OpenApiParameter("severity", str, enum=AlertRule.Severity.values),
    ]
)
class AlertList(generics.ListAPIView):
    """Alerts, newest first."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_alert"
    serializer_class = AlertSerializer
    pagination_class = StandardPagination

    def get_queryset(self):
        queryset = Alert.objects.select_related(
            "rule", "acknowledged_by", "resolved_by", "monitor__deployment__environment", "monitor__deployment__model"
        ).order_by("-opened_at", "-pk")
        errors = {}
        for field, allowed in (("status", Alert.Status.values), ("severity", AlertRule.Severity.values)):
            value = self.request.query_params.get(field)
            if value:
                if value not in allowed:
                    errors[field] = f"One of {', '.join(allowed)}."
                queryset = queryset.filter(**{field: value})
        monitor = self.request.query_params.get("monitor")
        if monitor:
            if (monitor_id := query_id(monitor)) is None:
                errors["monitor"] = "A monitor id."
            else:
                queryset = queryset.filter(monitor_id=monitor_id)
        if errors:
            raise ValidationError(errors)
        return queryset


class AlertDetail(generics.RetrieveAPIView):
    permission_classes = [HasModelPermission]
    required_permission = "monitoring.view_alert"
    serializer_class = AlertSerializer
    queryset = Alert.objects.select_related("rule", "monitor__deployment__environment", "monitor__deployment__model")


class AlertAction(APIView):
    """Acknowledge (open → acknowledged) or resolve (open or acknowledged → resolved); 409 otherwise."""

    permission_classes = [HasModelPermission]
    required_permission = "monitoring.change_alert"
    action = ""

    @extend_schema(request=schemas.AlertComment, responses={200: AlertSerializer})
    def post(self, request, pk: int):
        alert = generics.get_object_or_404(Alert, pk=pk)
        act = services.acknowledge if self.action == "acknowledge" else services.resolve
        alert = act(alert, actor=request.user, data=request.data)
        return Response(AlertSerializer(alert).data)


class RetrainingPolicySerializer(serializers.Serializer):
    model = serializers.CharField(read_only=True, source="model.name")
    exists = serializers.SerializerMethodField(help_text="False: no policy was set; these are the defaults.")
    enabled = serializers.BooleanField(required=False)
    on_drift_alert = serializers.BooleanField(required=False)
    on_performance_alert = serializers.BooleanField(required=False)
    every_days = serializers.IntegerField(required=False, allow_null=True, help_text="Also retrain every N days.")
    data = serializers.ChoiceField(choices=RetrainingPolicy.Data.choices, required=False)
    dataset_version = serializers.PrimaryKeyRelatedField(
        queryset=DatasetVersion.objects.all(), required=False, allow_null=True, help_text="With data=dataset_version."
    )
    min_labelled_rows = serializers.IntegerField(required=False)
    stage = serializers.ChoiceField(choices=["staging", "production"], required=False)
    cooldown_hours = serializers.IntegerField(required=False)
    owner = serializers.CharField(source="owner.username", read_only=True, allow_null=True, default=None)
    updated_at = serializers.DateTimeField(read_only=True)

    def get_exists(self, policy) -> bool:
        return policy.pk is not None


class RetrainingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Retraining
        fields = [
            "id",
            "trigger",
            "alert",
            "base_version",
            "status",
            "job",
            "dataset_version",
            "production_rows",
            "run",
            "version",
            "promotion",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class RetrainingPolicyView(WritePermissions, APIView):
    """A registered model's retraining policy. PUT sets all of it (fields left out take their defaults), PATCH
    some of it; retraining then acts on the caller's behalf."""

    permission_classes = [HasModelPermission]
    read_permission = "monitoring.view_retrainingpolicy"
    write_permissions = {"PUT": "monitoring.change_retrainingpolicy", "PATCH": "monitoring.change_retrainingpolicy"}

    def _model(self, name: str):
        from registry.models import RegisteredModel

        return generics.get_object_or_404(RegisteredModel, name=name)

    @extend_schema(responses=RetrainingPolicySerializer)
    def get(self, request, name: str):
        return Response(RetrainingPolicySerializer(services.policy_of(self._model(name))).data)

    @extend_schema(request=schemas.RetrainingPolicyInput, responses=RetrainingPolicySerializer)
    def put(self, request, name: str):
        model = self._model(name)
        services.put_policy(model, request.data, actor=request.user)
        return Response(RetrainingPolicySerializer(services.policy_of(model)).data)

    @extend_schema(request=schemas.RetrainingPolicyInput, responses=RetrainingPolicySerializer)
    def patch(self, request, name: str):
        """Change some fields; the others keep their current values (or the defaults, without a policy)."""
        model = self._model(name)
        services.patch_policy(model, request.data, actor=request.user)
        return Response(RetrainingPolicySerializer(services.policy_of(model)).data)


class RetrainingList(WritePermissions, APIView):
    """A model's retrainings, newest first (GET), or start one now with the policy's data (POST → 202)."""

    permission_classes = [HasModelPermission]
    read_permission = "monitoring.view_retraining"
    write_permissions = {"POST": "monitoring.add_retraining"}

    @extend_schema(responses=RetrainingSerializer(many=True))
    def get(self, request, name: str):
        model = RetrainingPolicyView._model(self, name)
        return Response(RetrainingSerializer(Retraining.objects.filter(model=model)[:100], many=True).data)

    @extend_schema(request=None, responses={202: RetrainingSerializer})
    def post(self, request, name: str):
        retraining = services.retrain_now(RetrainingPolicyView._model(self, name), actor=request.user)
        return Response(RetrainingSerializer(retraining).data, status=status.HTTP_202_ACCEPTED)
