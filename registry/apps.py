import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


def _fan_out_webhooks(sender, event, **kwargs) -> None:
    """Audit event → webhook deliveries. Runs after the action committed, so a failure here is
    logged rather than raised: the action already happened and its caller must not see an error."""
    from registry.services import webhooks

    try:
        webhooks.fan_out(event)
    except Exception:
        logger.exception("could not queue webhook deliveries for audit event %s (%s)", event.pk, event.action)


class RegistryConfig(AppConfig):
    """Registered models, versions, aliases, model cards, gates, promotion requests, reviews."""

    name = "registry"

    def ready(self) -> None:
        from mlops_site import demo, events, schedules, ui
        from registry.demo import create_demo_registry, demo_waiting
        from registry.models import PromotionRequest, RegisteredModel

        events.audit_event_recorded.connect(_fan_out_webhooks, dispatch_uid="registry.webhooks.fan_out")
        schedules.register("deliver-webhooks", "registry.tasks.deliver_due_webhooks", 1)
        ui.register_dashboard_card(
            ui.DashboardCard(
                label="Models", url_name="models", count=RegisteredModel.objects.count, hint="registered", order=30
            )
        )
        ui.register_dashboard_card(
            ui.DashboardCard(
                label="Awaiting review",
                url_name="approvals",
                count=PromotionRequest.objects.filter(status=PromotionRequest.Status.PENDING).count,
                hint="promotion requests",
                order=40,
            )
        )
        demo.register_step(30, "model registry", create_demo_registry, waiting=demo_waiting)
