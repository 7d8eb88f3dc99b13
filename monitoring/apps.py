import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)
WEBHOOK_EVENTS = ("alert.opened", "alert.acknowledged", "alert.resolved", "retraining.requested", "retraining.failed")


def _monitor_new_deployment(sender, instance, created, **kwargs) -> None:
    if created:
        from monitoring import services

        services.ensure_monitor(instance)


def _settle_retraining(sender, event, **kwargs) -> None:
    """A training run ended: if a retraining was waiting for it, register the version and open the request.
    Runs after the run's transaction committed; a failure is logged, and the schedule's sweep tries again."""
    if event.action not in ("run.trained", "run.failed", "run.killed") or not event.target_id.isdigit():
        return
    from monitoring import services

    try:
        services.settle_run(int(event.target_id))
    except Exception:
        logger.exception("could not settle the retraining of run %s", event.target_id)


class MonitoringConfig(AppConfig):
    """Drift, performance, alert rules, alerts, notifications, retraining policies."""

    name = "monitoring"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from deployments.models import Deployment
        from mlops_site import demo, events, schedules, ui
        from mlops_site.models import Webhook
        from monitoring.models import Alert

        post_save.connect(_monitor_new_deployment, sender=Deployment, dispatch_uid="monitoring.monitor_new_deployment")
        events.audit_event_recorded.connect(_settle_retraining, dispatch_uid="monitoring.settle_retraining")
        Webhook.add_events(*WEBHOOK_EVENTS)
        schedules.register("run-due-monitors", "monitoring.tasks.run_due_monitors", 1)
        ui.register_panel(
            "model", ui.Panel("monitoring/_retraining_panel.html", "monitoring.panels.retraining_panel", order=50)
        )
        ui.register_panel(
            "deployment", ui.Panel("monitoring/_deployment_panel.html", "monitoring.panels.monitoring_panel", order=50)
        )
        ui.register_dashboard_card(
            ui.DashboardCard(
                label="Open alerts",
                url_name="alerts",
                count=Alert.objects.filter(status=Alert.Status.OPEN).count,
                hint="drift, performance, service",
                order=60,
            )
        )
        demo.register_step(
            50,
            "monitoring drift",
            "monitoring.demo.create_demo_drift",
            waiting="monitoring.demo.demo_waiting",
            one_off="monitoring.demo.drift_and_report",
        )
