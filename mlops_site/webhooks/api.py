"""REST API of webhooks: admins register subscriber URLs and read each delivery's outcome.

Reads need `view_webhook`; each write needs its own permission, so the API refuses before the
service does. Inputs go to the services as sent: the services validate them (schemas.py).
"""

from django.shortcuts import get_object_or_404
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mlops_site.api.permissions import HasModelPermission
from mlops_site.models import Webhook, WebhookDelivery
from mlops_site.webhooks import services
from mlops_site.webhooks.filters import WebhookDeliveryFilter, WebhookFilter
from mlops_site.webhooks.schemas import WebhookChange, WebhookInput
from mlops_site.webhooks.serializers import WebhookCreatedSerializer, WebhookDeliverySerializer, WebhookSerializer


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Webhook subscribers (admins only). Deliveries of each are under /api/webhooks/{id}/deliveries/."""

    permission_classes = [HasModelPermission]
    required_permission = "mlops_site.view_webhook"
    write_permissions = {
        "create": "mlops_site.add_webhook",
        "partial_update": "mlops_site.change_webhook",
        "redeliver": "mlops_site.change_webhook",
        "destroy": "mlops_site.delete_webhook",
    }
    serializer_class = WebhookSerializer
    filterset_class = WebhookFilter
    ordering_fields = ["created_at", "url"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return services.with_last_delivery()

    @extend_schema(request=WebhookInput, responses={201: WebhookCreatedSerializer})
    def create(self, request):
        """Register a subscriber. Send `secret`, or leave it out and copy the generated one from the response."""
        hook, generated = services.create_webhook(request.data, actor=request.user)
        body = WebhookCreatedSerializer(self.get_queryset().get(pk=hook.pk)).data
        body["secret"] = generated
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookChange, responses=WebhookSerializer)
    def partial_update(self, request, pk=None):
        """Change the URL, events or description, or pause (`active: false`) and resume."""
        hook = services.update_webhook(self.get_object(), request.data, actor=request.user)
        return Response(WebhookSerializer(self.get_queryset().get(pk=hook.pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Remove the subscriber and its delivery history."""
        services.delete_webhook(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=WebhookDelivery.Status.values),
            OpenApiParameter("event", OpenApiTypes.STR, enum=list(Webhook.EVENTS)),
            OpenApiParameter("sort", OpenApiTypes.STR, description=WebhookDeliveryFilter.base_filters["sort"].label),
        ],
        responses=WebhookDeliverySerializer(many=True),
    )
    @action(detail=True, filter_backends=[])
    def deliveries(self, request, pk=None):
        """The webhook's deliveries, newest first (or by `sort`), each with its last attempt's outcome."""
        filterset = WebhookDeliveryFilter(
            request.query_params, queryset=self.get_object().deliveries.all(), request=request
        )
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/redeliver", filter_backends=[])
    def redeliver(self, request, pk=None, delivery_id=None):
        """Send a delivered or failed delivery again (same event_id, attempts start over); 409 while in flight."""
        delivery = get_object_or_404(WebhookDelivery, webhook=self.get_object(), pk=delivery_id)
        delivery = services.redeliver(delivery, actor=request.user)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
