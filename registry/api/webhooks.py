"""REST API of webhooks: admins register subscriber URLs and read each delivery's outcome.

The secret is write-only: it is never serialised, except once in the create response when the
platform generated it.
"""

from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mlops_site.api.permissions import HasModelPermission
from registry.models import Webhook, WebhookDelivery
from registry.services import webhooks


class WebhookSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Webhook.EVENTS), help_text="Events sent to this URL; empty means all."
    )
    last_delivery_status = serializers.CharField(
        read_only=True, allow_null=True, help_text="Status of the newest delivery, null before the first."
    )

    class Meta:
        model = Webhook
        fields = ["id", "url", "description", "events", "active", "created_by", "created_at", "last_delivery_status"]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The generated secret, shown in this response only; null when you chose the secret.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    """Types only; the service checks the URL, the event names and the secret's length."""

    url = serializers.CharField(help_text="http:// or https:// URL that receives POSTed JSON.")
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        write_only=True,
        trim_whitespace=False,
        help_text="At least 16 characters; leave out to have one generated and returned once.",
    )
    events = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text=f"Any of {', '.join(Webhook.EVENTS)}; empty or absent means all.",
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")


class WebhookUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(required=False)
    events = serializers.ListField(child=serializers.CharField(), required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    active = serializers.BooleanField(required=False, help_text="false pauses deliveries; they resume when true.")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "event",
            "event_id",
            "status",
            "attempts",
            "next_attempt_at",
            "response_status",
            "response_body",
            "error",
            "duration_ms",
            "created_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Webhook subscribers (admins only). Deliveries of each are under /api/webhooks/{id}/deliveries/."""

    permission_classes = [HasModelPermission]
    required_permission = "registry.view_webhook"
    serializer_class = WebhookSerializer
    filterset_fields = ["active"]
    ordering_fields = ["created_at", "url"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        newest = WebhookDelivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at", "-pk")
        return Webhook.objects.select_related("created_by").annotate(
            last_delivery_status=Subquery(newest.values("status")[:1])
        )

    @extend_schema(request=WebhookCreateSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request):
        """Register a subscriber. Send `secret`, or leave it out and copy the generated one from the response."""
        data = WebhookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        hook, generated = webhooks.create_webhook(actor=request.user, **data.validated_data)
        body = WebhookCreatedSerializer(self.get_queryset().get(pk=hook.pk)).data
        body["secret"] = generated
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer)
    def partial_update(self, request, pk=None):
        """Change the URL, events or description, or pause (`active: false`) and resume."""
        hook = self.get_object()
        data = WebhookUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhooks.update_webhook(hook, actor=request.user, **data.validated_data)
        return Response(WebhookSerializer(self.get_queryset().get(pk=hook.pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Remove the subscriber and its delivery history."""
        webhooks.delete_webhook(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=WebhookDelivery.Status.values),
            OpenApiParameter("event", OpenApiTypes.STR, enum=list(Webhook.EVENTS)),
        ],
        responses=WebhookDeliverySerializer(many=True),
    )
    @action(detail=True, filter_backends=[])
    def deliveries(self, request, pk=None):
        """The webhook's deliveries, newest first, each with its last attempt's outcome."""
        hook = self.get_object()
        deliveries = hook.deliveries.order_by("-created_at", "-pk")
        errors = {}
        for field, allowed in (("status", WebhookDelivery.Status.values), ("event", Webhook.EVENTS)):
            value = request.query_params.get(field)
            if value in (None, ""):
                continue
            if value not in allowed:
                errors[field] = [f"“{value}” is not one of {', '.join(allowed)}."]
            else:
                deliveries = deliveries.filter(**{field: value})
        if errors:
            return Response({"detail": "Invalid input.", "code": "invalid", "errors": errors}, status=400)
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/redeliver", filter_backends=[])
    def redeliver(self, request, pk=None, delivery_id=None):
        """Send a delivered or failed delivery again (same event_id, attempts start over); 409 while in flight."""
        delivery = get_object_or_404(WebhookDelivery, webhook=self.get_object(), pk=delivery_id)
        delivery = webhooks.redeliver(delivery, actor=request.user)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
