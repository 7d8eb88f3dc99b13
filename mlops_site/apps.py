from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MlopsSiteConfig(AppConfig):
    """Shared kernel: settings, auth and roles, audit trail, jobs, events, shared UI."""

    name = "mlops_site"
    verbose_name = "Platform"

    def ready(self) -> None:
        from mlops_site import roles, schedules

        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="mlops_site.sync_role_permissions")
        post_migrate.connect(schedules.ensure_schedules, dispatch_uid="mlops_site.ensure_schedules")
