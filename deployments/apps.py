import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


def _follow_stage_change(sender, **kwargs) -> None:
    """An approved promotion deploys itself. Runs after the approval committed: log, never raise."""
    from deployments import services

    try:
        services.follow_stage_change(model=kwargs["model"], version_id=kwargs["version_id"], stage=kwargs["stage"])
    except Exception:
        logger.exception("could not follow the stage change of %s v%s", kwargs.get("model"), kwargs.get("version"))


class DeploymentsConfig(AppConfig):
    """Environments, deployments, serving, traffic split, prediction logs."""

    name = "deployments"

    def ready(self) -> None:
        from deployments.models import Deployment
        from mlops_site import demo, events, schedules, ui
        from mlops_site.models import Webhook

        events.model_stage_changed.connect(_follow_stage_change, dispatch_uid="deployments.follow_stage_change")
        ui.register_dashboard_card(
            ui.DashboardCard(
                label="Deployments", url_name="deployments", count=Deployment.objects.count, hint="served", order=50
            )
        )
        demo.register_step(
            40,
            "deployment traffic",
            "deployments.demo.create_demo_traffic",
            waiting="deployments.demo.demo_waiting",
            one_off="deployments.demo.send_demo_traffic",
        )
        schedules.register("check-canary-guardrails", "deployments.tasks.check_guardrails", 1)
        # What is served must be what the registry approved: repair a missed stage move, report a deliberate one.
        schedules.register("reconcile-deployments", "deployments.tasks.reconcile_stages", 5)
        Webhook.add_events(
            "deployment.changed",
            "deployment.override",
            "deployment.override_ended",
            "deployment.reconciled",
            "deployment.stage_mismatch",
        )
        ui.register_panel(
            "model-top",
            ui.Panel("deployments/_model_serving_panel.html", "deployments.panels.model_serving_panel", order=10),
        )
        ui.register_panel(
            "version-top",
            ui.Panel("deployments/_version_serving_panel.html", "deployments.panels.version_serving_panel", order=10),
        )
