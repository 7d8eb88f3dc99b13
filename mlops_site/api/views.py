"""API of the shared kernel: token login, the current user, tokens, jobs, the audit trail."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from mlops_site import lockout, services
from mlops_site.api import serializers as s
from mlops_site.api.exceptions import WrongCredentials
from mlops_site.api.permissions import HasModelPermission
from mlops_site.filters import AuditEventFilter, JobFilter
from mlops_site.models import ApiToken, AuditEvent, Job


class LoginThrottle(AnonRateThrottle):
    rate = "30/min"


class ObtainTokenView(APIView):
    """Exchange a username and password for a new personal API token (for scripts)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(request=s.ObtainTokenInputSerializer, responses={201: s.TokenKeySerializer}, auth=[])
    def post(self, request):
        data = s.ObtainTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A locked-out username or address raises RateLimited: 429 with Retry-After, code "locked_out".
        user = lockout.authenticate(request, data.validated_data["username"], data.validated_data["password"])
        if user is None:
            raise WrongCredentials()
        token, key = services.create_api_token(
            user, name=data.validated_data["name"], expires_in_days=data.validated_data.get("expires_in_days")
        )
        body = {"token": key, "id": token.pk, "name": token.name, "expires_at": token.expires_at}
        return Response(s.TokenKeySerializer(body).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    """The authenticated user and their roles."""

    @extend_schema(responses=s.UserSerializer)
    def get(self, request):
        return Response(s.UserSerializer(request.user).data)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your personal API tokens. Create returns the key once; DELETE revokes."""

    serializer_class = s.ApiTokenSerializer
    filterset_fields: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return ApiToken.objects.none()
        return self.request.user.api_tokens.all()

    @extend_schema(request=s.CreateTokenInputSerializer, responses={201: s.TokenKeySerializer})
    def create(self, request):
        data = s.CreateTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parent = request.auth if isinstance(request.auth, ApiToken) else None
        token, key = services.create_api_token(
            request.user,
            name=data.validated_data["name"],
            expires_in_days=data.validated_data.get("expires_in_days"),
            not_after=parent.expires_at if parent else None,
            scope=data.validated_data["scope"],
        )
        body = {"token": key, "id": token.pk, "name": token.name, "expires_at": token.expires_at, "scope": token.scope}
        return Response(s.TokenKeySerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=s.ApiTokenSerializer)
    def destroy(self, request, pk=None):
        token = services.revoke_api_token(self.get_object(), actor=request.user)
        return Response(s.ApiTokenSerializer(token).data)


class JobViewSet(viewsets.ReadOnlyModelViewSet):
    """Background jobs with status, progress, log tail and error. Poll a job to follow it."""

    permission_classes = [HasModelPermission]
    required_permission = "mlops_site.view_job"
    filterset_class = JobFilter
    ordering_fields = ["created_at", "started_at", "finished_at", "status", "kind"]
    queryset = Job.objects.select_related("created_by", "target_type").defer("log", "traceback")

    def get_queryset(self):
        if self.action == "list":
            return self.queryset
        return Job.objects.select_related("created_by", "target_type")

    def get_serializer_class(self):
        return s.JobSerializer if self.action == "list" else s.JobDetailSerializer

    @extend_schema(request=None, responses=s.JobDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = services.cancel_job(self.get_object(), actor=request.user)
        return Response(s.JobDetailSerializer(job).data)

    @extend_schema(request=None, responses={201: s.JobDetailSerializer})
    @action(detail=False, methods=["post"])
    def selfcheck(self, request):
        """Queue a platform self-check job (database, storage, a small scikit-learn fit)."""
        job = services.start_selfcheck(actor=request.user)
        return Response(s.JobDetailSerializer(job).data, status=status.HTTP_201_CREATED)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The append-only audit trail. Read-only: nothing can change or delete an event."""

    permission_classes = [HasModelPermission]
    required_permission = "mlops_site.view_auditevent"
    serializer_class = s.AuditEventSerializer
    filterset_class = AuditEventFilter
    ordering_fields = ["created_at", "action"]
    queryset = AuditEvent.objects.select_related("target_type")
