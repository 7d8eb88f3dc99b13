from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from mlops_site.models import ApiToken, AuditEvent, Job
from mlops_site.roles import roles_of


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "first_name", "last_name", "email", "roles", "is_superuser"]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_roles(self, user):
        return roles_of(user)


class ObtainTokenInputSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, max_length=100, default="script")
    expires_in_days = serializers.IntegerField(required=False, min_value=0, max_value=3650)


class TokenKeySerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown only once.")
    id = serializers.IntegerField()
    name = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    scope = serializers.CharField(required=False)


class ApiTokenSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scope", "state", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class CreateTokenInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices,
        default=ApiToken.Scope.FULL,
        help_text="full: acts as you. predict: a service token that may only call predict and ground truth.",
    )


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    duration_seconds = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "title",
            "status",
            "progress",
            "message",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "duration_seconds",
            "attempts",
            "max_attempts",
            "worker",
            "cancel_requested",
            "params",
            "result",
            "target",
            "url",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_duration_seconds(self, job):
        return round(job.duration.total_seconds(), 3) if job.duration is not None else None

    @extend_schema_field(serializers.DictField(allow_null=True))
    def get_target(self, job):
        if not job.target_type_id:
            return None
        return {"type": f"{job.target_type.app_label}.{job.target_type.model}", "id": job.target_id}

    def get_url(self, job) -> str:
        return job.get_absolute_url()


class JobDetailSerializer(JobSerializer):
    class Meta(JobSerializer.Meta):
        fields = [*JobSerializer.Meta.fields, "log", "error", "traceback"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    target_type = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target_repr",
            "before",
            "after",
            "comment",
            "request_id",
        ]
        read_only_fields = fields

    def get_actor(self, event) -> str:
        return event.actor_name or "system"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_target_type(self, event):
        return f"{event.target_type.app_label}.{event.target_type.model}" if event.target_type_id else None
