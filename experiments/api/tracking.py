"""REST API for experiment tracking: experiments, runs, and logging from outside scripts."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from experiments import schemas, search, selectors, services
from experiments.filters import ExperimentFilter, RunFilter
from experiments.metrics import finite
from experiments.models import Experiment, Run, RunArtifact
from experiments.services.tracking import DENIED
from experiments.services.training import TRAINING_DENIED
from mlops_site.api.parsers import SafeFormParser, SafeJSONParser, SafeMultiPartParser
from mlops_site.api.permissions import HasModelPermission
from mlops_site.api.serializers import JobDetailSerializer

# The sentence `services.log_batch`, `finish_run` and `upload_artifact` refuse someone else's run with.
OWNER_ONLY = "Only the person who started this run (or an admin) can log to it."


class ExperimentSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Experiment
        fields = ["id", "name", "description", "owner", "created_at"]
        read_only_fields = ["id", "owner", "created_at"]


class RunSerializer(serializers.ModelSerializer):
    experiment = serializers.PrimaryKeyRelatedField(queryset=Experiment.objects.all())
    user = serializers.SlugRelatedField(slug_field="username", read_only=True)
    input_versions = serializers.ListField(child=serializers.IntegerField(), required=False, write_only=True)
    inputs = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "experiment",
            "name",
            "status",
            "source",
            "user",
            "started_at",
            "ended_at",
            "parent",
            "tags",
            "notes",
            "code_version",
            "command",
            "input_versions",
            "inputs",
            "reproduced_from",
            "job",
        ]
        read_only_fields = ["id", "status", "source", "user", "started_at", "ended_at", "reproduced_from", "job"]

    def get_inputs(self, run) -> list[int]:
        return [version.pk for version in run.input_versions.all()]


def _json_values(metrics: dict[str, float]) -> dict[str, float | None]:
    return {key: finite(value) for key, value in metrics.items()}


class RunListSerializer(RunSerializer):
    """A run with its params and latest metrics, read for a whole page at once by the view."""

    params = serializers.SerializerMethodField()
    metrics = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "params", "metrics"]

    def get_params(self, run) -> dict[str, str]:
        values = getattr(run, "param_values", None)
        return values if values is not None else dict(run.params.order_by("key").values_list("key", "value"))

    def get_metrics(self, run) -> dict[str, float | None]:
        """The latest value of each metric; null for NaN and ±Infinity, which JSON cannot carry."""
        values = getattr(run, "metric_values", None)
        return _json_values(values if values is not None else selectors.latest_metrics(run))


class RunDetailSerializer(RunListSerializer):
    sweep = serializers.SerializerMethodField()
    artifacts = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunListSerializer.Meta.fields, "artifacts", "sweep"]

    def get_sweep(self, run) -> dict | None:
        """For a sweep's parent: each trial's params and metrics, and the best trial (`?metric=` to choose)."""
        request = self.context.get("request")
        summary = selectors.sweep_summary(run, request.query_params.get("metric") if request else None)
        if summary is not None:  # the best trial's value is finite by construction
            summary["trials"] = [{**trial, "metrics": _json_values(trial["metrics"])} for trial in summary["trials"]]
        return summary

    def get_artifacts(self, run) -> list[dict]:
        return list(run.artifacts.values("id", "path", "content_type", "size_bytes", "sha256", "created_at"))


class ExperimentViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Experiments group runs."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_experiment"
    write_permissions = {"create": ("experiments.add_experiment", DENIED.format("creating experiments"))}
    serializer_class = ExperimentSerializer
    queryset = selectors.experiments_with_counts()
    filterset_class = ExperimentFilter
    ordering_fields = ["name", "created_at"]

    def create(self, request):
        data = ExperimentSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = services.create_experiment(actor=request.user, **data.validated_data)
        return Response(ExperimentSerializer(experiment).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(
        description=(
            "Runs with their params and latest metrics. `search` takes an expression such as "
            '`metrics.f1 > 0.8 and params.algorithm = "random_forest"`; `ordering` takes an attribute '
            "(`started_at`, `name`, `status`, `id`, `ended_at`) or `metrics.<key>`, `params.<key>`, "
            "`tags.<key>`, with `-` for descending. A bad expression is a 400 naming the problem.\n\n"
            + search.SYNTAX_HELP
        )
    )
)
class RunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Runs: create one, log params/metrics/tags in batches, upload artifacts, finish it."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_run"
    # Logging needs the run's author (or change_run, admins) in the service; every author holds add_run.
    write_permissions = {
        "create": ("experiments.add_run", DENIED.format("creating runs")),
        "log_batch": ("experiments.add_run", OWNER_ONLY),
        "finish": ("experiments.add_run", OWNER_ONLY),
        "artifacts": ("experiments.add_run", OWNER_ONLY),
        "reproduce": ("experiments.add_run", TRAINING_DENIED),
    }
    queryset = Run.objects.select_related("experiment", "user").prefetch_related("input_versions")
    filter_backends = [DjangoFilterBackend]  # `ordering` is the filterset's, which knows metrics and params
    filterset_class = RunFilter

    def get_serializer_class(self):
        if self.action == "list":
            return RunListSerializer
        return RunSerializer if self.action == "create" else RunDetailSerializer

    def list(self, request, *args, **kwargs):
        runs = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        params, metrics = selectors.run_values(run.pk for run in runs)
        for run in runs:
            run.param_values, run.metric_values = params[run.pk], metrics[run.pk]
        return self.get_paginated_response(RunListSerializer(runs, many=True).data)

    def create(self, request):
        data = RunSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        run = services.create_run(
            fields["experiment"],
            actor=request.user,
            name=fields.get("name", ""),
            tags=fields.get("tags"),
            input_versions=fields.get("input_versions"),
            parent=fields.get("parent"),
            code_version=fields.get("code_version", ""),
            command=fields.get("command", ""),
            notes=fields.get("notes", ""),
        )
        return Response(RunDetailSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=schemas.LogBatch,
        responses=inline_serializer(
            "LogBatchResult",
            {
                "params": serializers.IntegerField(),
                "metrics": serializers.IntegerField(),
                "tags": serializers.IntegerField(),
            },
        ),
    )
    @action(detail=True, methods=["post"], url_path="log-batch")
    def log_batch(self, request, pk=None):
        """Params, metric points and tags in one request, stored all together or not at all."""
        return Response(services.log_batch(self.get_object(), request.data, actor=request.user))

    @extend_schema(
        request=inline_serializer(
            "FinishRun",
            {"status": serializers.ChoiceField(choices=["finished", "failed", "killed"], default="finished")},
        ),
        responses=RunDetailSerializer,
    )
    @action(detail=True, methods=["post"])
    def finish(self, request, pk=None):
        run = services.finish_run(self.get_object(), actor=request.user, status=request.data.get("status", "finished"))
        return Response(RunDetailSerializer(run, context={"request": request}).data)

    @extend_schema(
        methods=["POST"],
        request={
            "multipart/form-data": inline_serializer(
                "ArtifactUpload", {"file": serializers.FileField(), "path": serializers.CharField(required=False)}
            )
        },
        responses={201: OpenApiResponse(description="The stored artifact with its sha256.")},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[SafeMultiPartParser, SafeFormParser, SafeJSONParser])
    def artifacts(self, request, pk=None):
        """GET: the run's artifacts. POST: upload one (multipart `file`, optional `path`)."""
        run = self.get_object()
        if request.method == "GET":
            return Response(
                list(run.artifacts.values("id", "path", "content_type", "size_bytes", "sha256", "created_at"))
            )
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError({"file": ["No file was sent."]})
        artifact = services.upload_artifact(run, upload, actor=request.user, path=request.data.get("path", ""))
        return Response(
            {"id": artifact.pk, "path": artifact.path, "size_bytes": artifact.size_bytes, "sha256": artifact.sha256},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer("ReproductionStarted", {"run": RunDetailSerializer(), "job": JobDetailSerializer()})
        },
    )
    @action(detail=True, methods=["post"])
    def reproduce(self, request, pk=None):
        """Start a new run from this run's recorded lineage; its metrics equal the original's."""
        new = services.reproduce_run(self.get_object(), actor=request.user)
        return Response(
            {"run": RunDetailSerializer(new).data, "job": JobDetailSerializer(new.job).data},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="The artifact's bytes.")})
    @action(detail=True, url_path=r"artifacts/(?P<artifact_id>\d+)/download")
    def artifact_download(self, request, pk=None, artifact_id=None):
        artifact = RunArtifact.objects.filter(run=self.get_object(), pk=artifact_id).first()
        if artifact is None:
            raise NotFound("No such artifact.")
        from django.core.files.storage import default_storage

        return FileResponse(
            default_storage.open(artifact.file, "rb"), as_attachment=True, filename=artifact.path.rsplit("/", 1)[-1]
        )

    @extend_schema(
        parameters=[OpenApiParameter("max_points", int, description="Downsample to at most this many points.")],
        responses={200: OpenApiResponse(description="{key, total_points, downsampled, points: [{step, value}]}")},
    )
    @action(detail=True, url_path=r"metrics/(?P<key>[^/]+)")
    def metric(self, request, pk=None, key=None):
        """One metric's history; long histories are downsampled keeping each bucket's min and max."""
        try:
            max_points = int(request.query_params.get("max_points", settings.METRIC_HISTORY_MAX_POINTS))
        except ValueError:
            max_points = 0
        if not 10 <= max_points <= 1_000_000:
            raise ValidationError({"max_points": ["A whole number from 10 to 1,000,000."]})
        return Response(selectors.metric_history(self.get_object(), key, max_points=max_points))


class SweepViewSet(viewsets.ViewSet):
    """Grid or random search: a parent run with one child training run per trial; 202 with the parent."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_run"
    write_permissions = {"create": ("experiments.add_run", TRAINING_DENIED)}

    @extend_schema(
        operation_id="sweeps_create",
        request=schemas.SweepRequest,
        responses={202: RunDetailSerializer},
        tags=["sweeps"],
    )
    def create(self, request):
        parent = services.start_training_request(request.data, actor=request.user, sweep=True)
        return Response(RunDetailSerializer(parent, context={"request": request}).data, status=status.HTTP_202_ACCEPTED)


class TrainingViewSet(viewsets.ViewSet):
    """Train a scikit-learn pipeline on a worker from a dataset version; 202 with the run and its job."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_run"
    write_permissions = {"create": ("experiments.add_run", TRAINING_DENIED)}

    @extend_schema(
        operation_id="training_create",
        request=schemas.TrainingRequest,
        responses={
            202: inline_serializer("TrainingStarted", {"run": RunDetailSerializer(), "job": JobDetailSerializer()})
        },
        tags=["training"],
    )
    def create(self, request):
        run = services.start_training_request(request.data, actor=request.user)
        return Response(
            {"run": RunDetailSerializer(run).data, "job": JobDetailSerializer(run.job).data},
            status=status.HTTP_202_ACCEPTED,
        )
