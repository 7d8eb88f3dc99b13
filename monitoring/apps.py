from django.apps import AppConfig


def _monitor_new_deployment(sender, instance, created, **kwargs) -> None:
    if created:
        from monitoring import services

        services.ensure_monitor(instance)


class MonitoringConfig(AppConfig):
    """Drift, performance, alert rules, alerts, notifications, retraining policies."""

    name = "monitoring"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from deployments.models import Deployment
        from mlops_site import demo, schedules
        from monitoring.demo import create_demo_drift

        post_save.connect(_monitor_new_deployment, sender=Deployment, dispatch_uid="monitoring.monitor_new_deployment")
        schedules.register("run-due-monitors", "monitoring.tasks.run_due_monitors", 1)
        demo.register_step(50, "monitoring drift", create_demo_drift)
