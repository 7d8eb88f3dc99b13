"""REST API of promotion requests: open one (gates run on a worker), list, approve, reject, withdraw."""

from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mlops_site.api.permissions import HasModelPermission
from registry import schemas, services
from registry.filters import PromotionRequestFilter
from registry.models import PromotionRequest, Review
from registry.services import promotions


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Review
        fields = ["reviewer", "decision", "comment", "created_at"]
        read_only_fields = fields


class PromotionSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    champion = serializers.IntegerField(source="champion.number", read_only=True, allow_null=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    overridden_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    approvals = serializers.IntegerField(read_only=True, help_text="Approvals so far.")
    reviews = ReviewSerializer(many=True, read_only=True)
    job = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The gates job (GET /api/jobs/{id}/).")

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "model",
            "version",
            "stage",
            "kind",
            "status",
            "justification",
            "gates_status",
            "gates",
            "evidence",
            "champion",
            "approvals_required",
            "approvals",
            "reviews",
            "override_reason",
            "overridden_by",
            "job",
            "requested_by",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


@extend_schema(
    parameters=[
        OpenApiParameter("status", str, enum=PromotionRequest.Status.values),
        OpenApiParameter("model", str, description="Registered model name."),
        OpenApiParameter("stage", str, enum=PromotionRequest.TARGET_STAGES),
    ]
)
class PromotionViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Promotion requests. Creating one answers 202: the gates run on a worker; poll the request or its job."""

    permission_classes = [HasModelPermission]
    required_permission = "registry.view_promotionrequest"
    write_permissions = {
        "create": promotions.PERMISSIONS["request"],
        "rollback": promotions.PERMISSIONS["rollback"],
        "approve": promotions.PERMISSIONS["approve"],
        "reject": promotions.PERMISSIONS["reject"],
    }
    serializer_class = PromotionSerializer
    filterset_class = PromotionRequestFilter
    ordering_fields = ["created_at", "id"]

    @staticmethod
    def _base_queryset():
        return (
            PromotionRequest.objects.select_related(
                "model", "version", "champion", "requested_by", "overridden_by", "job"
            )
            .prefetch_related("reviews__reviewer")
            .annotate(approvals=Count("reviews", filter=Q(reviews__decision=Review.Decision.APPROVE)))
            .order_by("-created_at", "-pk")
        )

    def get_queryset(self):
        return self._base_queryset()

    def filter_queryset(self, queryset):
        """List filters narrow the list, not the object a verb acts on (`approve/?status=pending` still finds it)."""
        return super().filter_queryset(queryset) if self.action == "list" else queryset

    def _answer(self, promotion, code=status.HTTP_200_OK):
        """The promotion as it is now, read without the URL's list filters (a verb just changed its status)."""
        return Response(PromotionSerializer(self._base_queryset().get(pk=promotion.pk)).data, status=code)

    @extend_schema(request=schemas.PromotionCreate, responses={202: PromotionSerializer})
    def create(self, request):
        promotion = services.request_promotion_from(request.data, actor=request.user)
        return self._answer(promotion, status.HTTP_202_ACCEPTED)

    @extend_schema(request=schemas.Approval, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        """Approve with an optional comment; the last approval needed moves the version into the stage."""
        promotion = services.approve(self.get_object(), request.data, actor=request.user)
        return self._answer(promotion)

    @extend_schema(request=schemas.Rejection, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        promotion = services.reject(self.get_object(), request.data, actor=request.user)
        return self._answer(promotion)

    @extend_schema(request=None, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        promotion = services.withdraw(self.get_object(), actor=request.user)
        return self._answer(promotion)

    @extend_schema(request=None, responses={202: PromotionSerializer})
    @action(detail=True, methods=["post"], url_path="rerun-gates")
    def rerun_gates(self, request, pk=None):
        promotion = services.rerun_gates(self.get_object(), actor=request.user)
        return self._answer(promotion, status.HTTP_202_ACCEPTED)

    @extend_schema(request=schemas.Rollback, responses={201: PromotionSerializer})
    @action(detail=False, methods=["post"])
    def rollback(self, request):
        """Fast-track request to put back the version that left production last; one reviewer approves it."""
        promotion = services.request_rollback_from(request.data, actor=request.user)
        return self._answer(promotion, status.HTTP_201_CREATED)
