"""django-q2 entry points of webhooks: load by id, call one service."""

from mlops_site.models import WebhookDelivery


def deliver(delivery_id: int) -> None:
    """Make one delivery's next attempt (queued on commit by fan-out and redeliver)."""
    from mlops_site.webhooks import services

    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is not None:  # its webhook may have been deleted since
        services.deliver(delivery)


def deliver_due() -> dict[str, int]:
    """The deliver-webhooks schedule: retries whose time has come, and any delivery whose task was lost."""
    from mlops_site.webhooks import services

    return services.deliver_due()
