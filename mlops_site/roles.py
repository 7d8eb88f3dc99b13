"""The three platform roles and the permissions each one holds.

Groups are created by a data migration; permissions are (re)attached after every migrate
by `sync_role_permissions`, because apps added later bring their own permissions. Entries
are strings, so this module never imports the apps above it. Sync only adds: an admin may
grant more through the Django admin and it is kept.
"""

from __future__ import annotations

DATA_SCIENTIST = "data-scientist"
REVIEWER = "reviewer"
ADMIN = "admin"
ROLE_NAMES = (DATA_SCIENTIST, REVIEWER, ADMIN)

# Apps whose every permission the admin role holds.
PLATFORM_APPS = ("mlops_site", "experiments", "registry", "deployments", "monitoring")

_EVERYONE = [
    "mlops_site.view_job",
    "mlops_site.add_job",
    "mlops_site.view_auditevent",
]

_READ_DATA = [
    "experiments.view_dataset",
    "experiments.view_datasetversion",
    "experiments.view_experiment",
    "experiments.view_run",
    "registry.view_registeredmodel",
    "registry.view_modelversion",
    "registry.view_modelalias",
    "registry.view_promotionrequest",
    "registry.view_review",
    "deployments.view_environment",
    "deployments.view_deployment",
    "deployments.view_deploymentrevision",
    "deployments.view_prediction",
    "monitoring.view_monitor",
    "monitoring.view_driftreport",
    "monitoring.view_featuredrift",
    "monitoring.view_alertrule",
    "monitoring.view_alert",
    "monitoring.view_retrainingpolicy",
    "monitoring.view_retraining",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    DATA_SCIENTIST: [
        *_EVERYONE,
        *_READ_DATA,
        "experiments.add_dataset",
        "experiments.change_dataset",
        "experiments.add_datasetversion",
        "experiments.add_experiment",
        "experiments.add_run",
        "registry.add_registeredmodel",
        "registry.add_modelversion",
        "registry.change_modelalias",
        "registry.delete_modelalias",
        "registry.add_promotionrequest",
        "deployments.predict",
        "monitoring.change_monitor",
        "monitoring.add_alertrule",
        "monitoring.change_alertrule",
        "monitoring.delete_alertrule",
        "monitoring.change_alert",
        "monitoring.change_retrainingpolicy",
        "monitoring.add_retraining",
    ],
    # Reviewers are often the ones on call: they may acknowledge and resolve alerts.
    REVIEWER: [*_EVERYONE, *_READ_DATA, "registry.review_promotionrequest", "monitoring.change_alert"],
    ADMIN: [*_EVERYONE, "auth.view_user", "auth.change_user", "auth.view_group"],
}


def sync_role_permissions(**kwargs) -> None:
    """post_migrate receiver: make sure each role group holds its permissions."""
    from django.contrib.auth.models import Group, Permission

    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = Permission.objects.none()
        for name in names:
            app_label, codename = name.split(".", 1)
            wanted |= Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        if role == ADMIN:
            wanted |= Permission.objects.filter(content_type__app_label__in=PLATFORM_APPS)
        group.permissions.add(*wanted.distinct())


def roles_of(user) -> list[str]:
    if not user.is_authenticated:
        return []
    return sorted(name for name in user.groups.values_list("name", flat=True) if name in ROLE_NAMES)
