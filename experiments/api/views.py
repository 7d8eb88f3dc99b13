"""REST API for datasets and their versions."""

from django.db.models import Count, Max
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from experiments import comparison, services
from experiments.api import serializers as s
from experiments.filters import DatasetFilter, DatasetVersionFilter
from experiments.models import Dataset, DatasetVersion
from experiments.services.datasets import DENIED
from mlops_site.api.parsers import SafeFormParser, SafeJSONParser, SafeMultiPartParser
from mlops_site.api.permissions import HasModelPermission
from mlops_site.api.serializers import JobDetailSerializer


class DatasetViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Datasets. Upload a file to `/api/datasets/{id}/versions/` to add a version."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_dataset"
    write_permissions = {
        "create": ("experiments.add_dataset", DENIED.format("creating datasets")),
        "versions": ("experiments.add_datasetversion", DENIED.format("uploading data")),
    }
    serializer_class = s.DatasetSerializer
    filterset_class = DatasetFilter
    ordering_fields = ["name", "created_at"]
    queryset = (
        Dataset.objects.select_related("owner")
        .annotate(version_count=Count("versions"), latest_number=Max("versions__number"))
        .order_by("name")  # Meta.ordering does not apply to aggregated querysets
    )

    @extend_schema(request=s.DatasetCreateSerializer, responses={201: s.DatasetSerializer})
    def create(self, request):
        data = s.DatasetCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dataset = services.create_dataset(actor=request.user, **data.validated_data)
        return Response(
            s.DatasetSerializer(self.get_queryset().get(pk=dataset.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": s.UploadSerializer},
        responses={
            201: OpenApiResponse(s.DatasetVersionSerializer, description="A new version was created."),
            200: OpenApiResponse(s.DatasetVersionSerializer, description="Identical content: the existing version."),
        },
    )
    @extend_schema(methods=["GET"], responses=s.DatasetVersionSummarySerializer(many=True))
    @action(detail=True, methods=["get", "post"], parser_classes=[SafeMultiPartParser, SafeFormParser, SafeJSONParser])
    def versions(self, request, pk=None):
        """GET: the dataset's versions. POST: upload a CSV or Parquet file as a new version."""
        dataset = self.get_object()
        if request.method == "GET":
            versions = DatasetVersion.objects.filter(dataset=dataset).order_by("-number")
            return Response(s.DatasetVersionSummarySerializer(versions, many=True).data)
        data = s.UploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version, created = services.upload_version(
            dataset, data.validated_data["file"], actor=request.user, target=data.validated_data["target"]
        )
        return Response(
            s.DatasetVersionSerializer(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class DatasetVersionViewSet(viewsets.ReadOnlyModelViewSet):
    """Dataset versions: schema, counts, hash and lineage; profile, quality, download, cleaning, comparison."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_datasetversion"
    write_permissions = {
        "clean": ("experiments.add_datasetversion", DENIED.format("cleaning data")),
        "clean_preview": ("experiments.add_datasetversion", DENIED.format("cleaning data")),
    }
    serializer_class = s.DatasetVersionSerializer
    filterset_class = DatasetVersionFilter
    ordering_fields = ["created_at", "number", "row_count"]
    queryset = DatasetVersion.objects.select_related("dataset", "created_by", "parent", "profile_job").defer(
        "profile", "quality"
    )

    def get_queryset(self):
        if self.action in ("profile", "quality", "compare"):
            return DatasetVersion.objects.select_related("dataset")
        return self.queryset

    def get_serializer_class(self):
        return s.DatasetVersionListSerializer if self.action == "list" else s.DatasetVersionSerializer

    @extend_schema(responses={200: OpenApiResponse(description="Per-column profile; 409 while it is computed.")})
    @action(detail=True)
    def profile(self, request, pk=None):
        version = self.get_object()
        if version.profile is None:
            return _not_ready(version)
        return Response(version.profile)

    @extend_schema(responses={200: OpenApiResponse(description="Quality check results; 409 while computed.")})
    @action(detail=True)
    def quality(self, request, pk=None):
        version = self.get_object()
        if version.quality is None:
            return _not_ready(version)
        return Response({"summary": version.quality_counts(), "results": version.quality})

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiResponse(description="The file as uploaded.")})
    @action(detail=True)
    def download(self, request, pk=None):
        version = self.get_object()
        filename = version.original_filename or f"{version.dataset.name}-v{version.number}.{version.format}"
        return FileResponse(services.open_version(version), as_attachment=True, filename=filename)

    @extend_schema(request=s.RecipeSerializer, responses={202: JobDetailSerializer})
    @action(detail=True, methods=["post"])
    def clean(self, request, pk=None):
        """Apply a cleaning recipe on a worker; the job produces a child version."""
        data = s.RecipeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = services.start_cleaning(self.get_object(), data.validated_data["steps"], actor=request.user)
        return Response(JobDetailSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=s.RecipeSerializer, responses=s.PreviewSerializer)
    @action(detail=True, methods=["post"], url_path="clean/preview")
    def clean_preview(self, request, pk=None):
        """The first rows after the recipe, without storing anything."""
        data = s.RecipeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.preview_recipe(self.get_object(), data.validated_data["steps"], actor=request.user))

    @extend_schema(responses={200: OpenApiResponse(description="Schema differences and per-column statistic changes.")})
    @action(detail=True, url_path=r"compare/(?P<other>\d+)")
    def compare(self, request, pk=None, other=None):
        a = self.get_object()
        b = get_object_or_404(self.get_queryset(), pk=other)
        return Response(comparison.compare(_comparable(a), _comparable(b)) | {"a": a.pk, "b": b.pk})


def _comparable(version: DatasetVersion) -> dict:
    return {"schema": version.schema, "profile": version.profile, "row_count": version.row_count}


def _not_ready(version: DatasetVersion) -> Response:
    job = version.profile_job
    detail = "The profile is not computed yet."
    if job is not None:
        detail += f" Job #{job.pk} is {job.status} ({job.progress}%)."
    return Response(
        {"detail": detail, "code": "not_ready", "errors": {}, "job": job.pk if job else None},
        status=status.HTTP_409_CONFLICT,
    )
