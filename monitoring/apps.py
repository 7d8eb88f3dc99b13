from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Drift, performance, alert rules, alerts, notifications, retraining policies."""

    name = "monitoring"
