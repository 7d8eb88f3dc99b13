"""The webhook lists, one FilterSet each, shared by the pages and the API."""

import django_filters

from mlops_site.filters import SortFilter
from mlops_site.models import Webhook, WebhookDelivery


def _event_choices():
    # A callable: the apps add their events in ready(), after this module may have been imported.
    return [(name, name) for name in Webhook.EVENTS]


class WebhookFilter(django_filters.FilterSet):
    """Over `services.with_last_delivery()`, which provides `delivery_count`."""

    sort = SortFilter(
        fields={"url": "url", "created": "created_at", "active": "active", "deliveries": "delivery_count"},
        default="-created",
    )

    class Meta:
        model = Webhook
        fields = ["active"]


class WebhookDeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.Status.choices, empty_label="Any")
    event = django_filters.ChoiceFilter(choices=_event_choices, empty_label="Any")
    sort = SortFilter(
        fields={
            "created": "created_at",
            "event": "event",
            "status": "status",
            "attempts": "attempts",
            "response": "response_status",
            "duration": "duration_ms",
            "next": "next_attempt_at",
        },
        default="-created",
    )

    class Meta:
        model = WebhookDelivery
        fields = ["status", "event"]
