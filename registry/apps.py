from django.apps import AppConfig

# Audit actions of the registry that webhooks can subscribe to (mlops_site.webhooks).
WEBHOOK_EVENTS = (
    "model.version_created",
    "promotion.requested",
    "promotion.approved",
    "promotion.rejected",
    "model.stage_changed",
)


class RegistryConfig(AppConfig):
    """Registered models, versions, aliases, model cards, gates, promotion requests, reviews."""

    name = "registry"

    def ready(self) -> None:
        from mlops_site import demo, ui
        from mlops_site.models import Webhook
        from registry.models import PromotionRequest, RegisteredModel

        Webhook.add_events(*WEBHOOK_EVENTS)
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
        demo.register_step(
            30,
            "model registry",
            "registry.demo.create_demo_registry",
            waiting="registry.demo.demo_waiting",
            one_off="registry.demo.finish_demo_registry",
        )
