import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

logger = logging.getLogger(__name__)


def _fan_out_webhooks(sender, event, **kwargs) -> None:
    """Audit event → webhook deliveries. Runs after the action committed, so a failure here is
    logged rather than raised: the action already happened and its caller must not see an error."""
    from mlops_site.webhooks import services

    try:
        services.fan_out(event)
    except Exception:
        logger.exception("could not queue webhook deliveries for audit event %s (%s)", event.pk, event.action)


class MlopsSiteConfig(AppConfig):
    """Shared kernel: settings, auth and roles, audit trail, jobs, events, webhooks, shared UI."""

    name = "mlops_site"
    verbose_name = "Platform"

    def ready(self) -> None:
        from mlops_site import events, roles, schedules

        events.audit_event_recorded.connect(_fan_out_webhooks, dispatch_uid="mlops_site.webhooks.fan_out")

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="mlops_site.sync_role_permissions")
        post_migrate.connect(schedules.ensure_schedules, dispatch_uid="mlops_site.ensure_schedules")
