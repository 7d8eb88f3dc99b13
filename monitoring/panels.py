"""Sections monitoring adds to pages of lower apps (registered in apps.py through mlops_site.ui)."""

from __future__ import annotations

from monitoring.forms import RetrainingPolicyForm
from monitoring.models import Alert, Monitor, Retraining
from monitoring.services import retraining


def retraining_panel(request, model) -> dict | None:
    """The registry's model page: the retraining policy and the loop alert → run → version → request."""
    if not request.user.has_perm("monitoring.view_retraining"):
        return None
    policy = retraining.policy_of(model)
    initial = retraining.policy_values(policy)
    loops = Retraining.objects.filter(model=model).select_related(
        "alert__rule",
        "run",
        "version",
        "promotion",
        "dataset_version__dataset",
        "dataset_version__parent",
        "base_version",
        "job",
    )[:10]
    return {
        "policy": policy,
        "saved": policy.pk is not None,
        "form": RetrainingPolicyForm(initial=initial),
        "loops": loops,
        "can_edit": retraining.can_set_policy(request.user),
        "can_retrain": retraining.can_retrain(request.user),
    }


def monitoring_panel(request, deployment) -> dict | None:
    """The deployment page: its monitor's latest verdict and active alerts, with the way to the details."""
    if not request.user.has_perm("monitoring.view_monitor"):
        return None
    monitor = Monitor.objects.filter(deployment=deployment).first()
    if monitor is None:
        return None
    return {
        "monitor": monitor,
        "latest": monitor.reports.order_by("-created_at", "-id").first(),
        "alerts": Alert.objects.filter(monitor=monitor, status__in=Alert.ACTIVE).select_related("rule")[:5],
    }
