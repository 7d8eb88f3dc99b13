"""Webhook API (being written)."""

from rest_framework import viewsets

from mlops_site.api.permissions import HasModelPermission
from registry.models import Webhook


class WebhookViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [HasModelPermission]
    required_permission = "registry.view_webhook"
    queryset = Webhook.objects.none()
