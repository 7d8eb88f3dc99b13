"""REST API of the registry: registered models, their versions, and aliases."""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from experiments.models import Run
from mlops_site.api.permissions import HasModelPermission
from registry import cards, schemas, services
from registry.filters import ModelVersionFilter, RegisteredModelFilter
from registry.models import ModelVersion, PromotionRequest, RegisteredModel
from registry.selectors import models_with_counts
from registry.services import cards as card_service
from registry.services import catalog


class ModelVersionSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    aliases = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = ModelVersion
        fields = [
            "model",
            "number",
            "run",
            "sha256",
            "format",
            "stage",
            "aliases",
            "signature",
            "metrics",
            "metrics_source",
            "params",
            "lineage",
            "tags",
            "description",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class VersionPromotionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PromotionRequest
        fields = ["id", "stage", "kind", "status", "gates_status", "gates", "created_at", "decided_at"]
        read_only_fields = fields


class ModelVersionDetailSerializer(ModelVersionSerializer):
    """One version with its evidence: the gates of each promotion request and the model card."""

    promotions = VersionPromotionSerializer(source="promotion_requests", many=True, read_only=True)
    card = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "promotions", "card"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField())
    def get_card(self, version) -> dict:
        """Generated from lineage, metrics and the latest fairness gate, with the editable sections."""
        return cards.build(card_service.card_facts(version))


class RegisteredModelSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    latest_version = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = RegisteredModel
        fields = ["name", "description", "owner", "tags", "gates", "created_at", "latest_version", "aliases"]
        read_only_fields = ["name", "owner", "created_at", "latest_version", "aliases"]
        extra_kwargs = {
            "gates": {
                "help_text": "Gate configuration: {thresholds: [{metric, op, value}], champion: {metric, tolerance}, "
                "fairness: {column, max_gap} or null, approvals: {staging: n, production: n}}. "
                "Only the owner or an admin may change it."
            }
        }

    def get_latest_version(self, model) -> int | None:
        latest = max((version.number for version in model.versions.all()), default=None)
        return latest

    def get_aliases(self, model) -> dict[str, int]:
        """alias → version number."""
        return {alias.name: alias.version.number for alias in model.aliases.all()}


class RegisterVersionSerializer(serializers.Serializer):
    run = serializers.IntegerField(help_text="A finished run trained here.")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class SetAliasSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The version number the alias points to.")


class ModelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class RegisteredModelViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Registered models, addressed by name; versions and aliases under each."""

    permission_classes = [HasModelPermission]
    required_permission = "registry.view_registeredmodel"
    write_permissions = {
        "create": ("registry.add_registeredmodel", catalog.denied("registering models")),
        "update": ("registry.add_registeredmodel", catalog.denied("editing models")),
        "partial_update": ("registry.add_registeredmodel", catalog.denied("editing models")),
        "versions": ("registry.add_modelversion", catalog.denied("registering model versions")),
        "version": ("registry.add_modelversion", catalog.denied("editing model versions")),
        "alias PUT": ("registry.change_modelalias", catalog.denied("moving aliases")),
        "alias DELETE": ("registry.delete_modelalias", catalog.denied("removing aliases")),
    }
    serializer_class = RegisteredModelSerializer
    queryset = models_with_counts().prefetch_related("versions", "aliases__version")
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    filterset_class = RegisteredModelFilter
    ordering_fields = ["name", "created_at"]
    http_method_names = ["get", "post", "patch", "put", "delete", "head", "options"]

    @extend_schema(request=ModelCreateSerializer, responses={201: RegisteredModelSerializer})
    def create(self, request):
        data = ModelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.create_model(actor=request.user, **data.validated_data)
        return Response(RegisteredModelSerializer(model).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=schemas.ModelEdit, responses=RegisteredModelSerializer)
    def update(self, request, *args, **kwargs):
        """PATCH description, tags or the gate configuration (checked; unknown keys are refused)."""
        model = services.update_model(self.get_object(), request.data, actor=request.user)
        return Response(RegisteredModelSerializer(model).data)

    @extend_schema(request=schemas.ModelEdit, responses=RegisteredModelSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, **kwargs)

    @extend_schema(
        methods=["POST"],
        request={
            "application/json": RegisterVersionSerializer,
            "application/x-www-form-urlencoded": RegisterVersionSerializer,
            "multipart/form-data": schemas.VersionUpload,
        },
        responses={201: ModelVersionSerializer},
    )
    @extend_schema(
        methods=["GET"],
        responses=ModelVersionSerializer(many=True),
        parameters=[OpenApiParameter("sort", str, description=ModelVersionFilter.SORT_HELP)],
    )
    @action(detail=True, methods=["get", "post"])
    def versions(self, request, name=None):
        """GET: the model's versions, newest first. POST: the next version, from a finished trained run (JSON
        `{run}`), or from a model file trained anywhere (multipart: `file`, plus `signature` or `sample`, and
        optionally `task`, `run`, `training_dataset_version`, `target`, `description`)."""
        model = self.get_object()
        if request.method == "GET":
            versions = model.versions.select_related("model", "created_by").prefetch_related("aliases")
            versions = ModelVersionFilter({"sort": request.query_params.get("sort", "")}, queryset=versions).qs
            return Response(ModelVersionSerializer(versions, many=True).data)
        if request.content_type.startswith("multipart/") and "file" in request.data:
            version = services.upload_version(model, request.data, actor=request.user)
            return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)
        body = RegisterVersionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = Run.objects.filter(pk=body.validated_data["run"]).first()
        if run is None:
            raise ValidationError({"run": "No such run."})
        version = services.register_version(
            model, run, actor=request.user, description=body.validated_data["description"]
        )
        return Response(ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=ModelVersionDetailSerializer)
    @extend_schema(methods=["PATCH"], request=schemas.VersionEdit, responses=ModelVersionDetailSerializer)
    @action(detail=True, methods=["get", "patch"], url_path=r"versions/(?P<number>\d+)")
    def version(self, request, name=None, number=None):
        """GET: the version with lineage, gates of its promotion requests and its model card.
        PATCH: description, tags, and the model card's sections (intended_use, limitations, ethical_considerations)."""
        version = get_object_or_404(
            ModelVersion.objects.select_related("model", "created_by", "run").prefetch_related("aliases"),
            model=self.get_object(),
            number=number,
        )
        if request.method == "PATCH":
            version = services.update_version(version, request.data, actor=request.user)
        return Response(ModelVersionDetailSerializer(version).data)

    @extend_schema(
        methods=["PUT"],
        request=SetAliasSerializer,
        responses={
            200: inline_serializer("Alias", {"alias": serializers.CharField(), "version": serializers.IntegerField()})
        },
    )
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @extend_schema(methods=["GET"], responses=ModelVersionDetailSerializer)
    @action(detail=True, methods=["get", "put", "delete"], url_path=r"aliases/(?P<alias>[^/]+)")
    def alias(self, request, name=None, alias=None):
        """GET: the version the alias points to. PUT `{version}` points the alias at that version (moving it
        if needed); DELETE removes it."""
        model = self.get_object()
        if request.method == "GET":
            target = model.aliases.select_related("version").filter(name=alias.lower()).first()
            if target is None:
                raise NotFound(f"{model.name} has no alias “{alias}”.")
            return Response(ModelVersionDetailSerializer(target.version).data)
        if request.method == "DELETE":
            services.delete_alias(model, alias, actor=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        body = SetAliasSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = model.versions.filter(number=body.validated_data["version"]).first()
        if version is None:
            raise ValidationError({"version": f"{model.name} has no such version."})
        made = services.set_alias(model, alias, version, actor=request.user)
        return Response({"alias": made.name, "version": version.number})
