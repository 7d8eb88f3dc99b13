"""Sections deployments adds to the registry's pages (registered in apps.py through mlops_site.ui).

The model page shows, per environment, what is actually served beside what the registry says holds
the stage, so a disagreement is visible; model and version pages carry the override banner.
"""

from __future__ import annotations

from deployments import services
from deployments.models import Deployment, Environment
from registry.models import ModelVersion


def deployment_override(deployment: Deployment) -> dict | None:
    """The banner's facts while an override is in effect: which versions, by whom, why, since when."""
    if not deployment.is_overridden:
        return None
    unapproved = services.unapproved_versions(deployment)
    return {
        "deployment": deployment,
        "versions": unapproved,
        "by": deployment.override_by.username if deployment.override_by else "an admin",
        "reason": deployment.override_reason,
        "at": deployment.override_at,
    }


def model_serving_panel(request, model) -> dict | None:
    """Per environment: the registry's version for its stage, and the primary, canary and shadow served."""
    if not request.user.has_perm("deployments.view_deployment"):
        return None
    deployments = {
        d.environment_id: d
        for d in Deployment.objects.filter(model=model).select_related(
            "environment", "model", "primary__model", "canary__model", "shadow", "override_by"
        )
    }
    holders: dict[str, ModelVersion | None] = {}  # one query per stage, not per environment
    rows = []
    for environment in Environment.objects.all():
        deployment = deployments.get(environment.pk)
        if environment.stage and environment.stage not in holders:
            holders[environment.stage] = ModelVersion.objects.stage_holder(model.pk, environment.stage)
        holder = holders.get(environment.stage)
        if deployment is None or deployment.primary is None:
            state = "not deployed"
        elif deployment.is_overridden:
            state = "override"
        elif holder is not None and deployment.primary_id != holder.pk:
            state = "differs"
        else:
            state = "agrees"
        rows.append({"environment": environment, "holder": holder, "deployment": deployment, "state": state})
    if not any(row["deployment"] for row in rows):
        return {"rows": rows, "overrides": [], "deployed": False}
    overrides = [o for o in (deployment_override(row["deployment"]) for row in rows if row["deployment"]) if o]
    return {"rows": rows, "overrides": overrides, "deployed": True}


def version_serving_panel(request, version) -> dict | None:
    """Where this version answers callers, and the banner if it does so without approval."""
    if not request.user.has_perm("deployments.view_deployment"):
        return None
    serving = []
    overrides = []
    for deployment in Deployment.objects.filter(model_id=version.model_id).select_related(
        "environment", "model", "primary", "canary", "shadow", "override_by"
    ):
        roles = [
            role
            for role, served in (
                ("primary", deployment.primary),
                ("canary", deployment.canary),
                ("shadow", deployment.shadow),
            )
            if served is not None and served.pk == version.pk
        ]
        if not roles:
            continue
        serving.append({"deployment": deployment, "roles": roles})
        override = deployment_override(deployment)
        if override and any(v.pk == version.pk for v in override["versions"]):
            overrides.append(override)
    if not serving:
        return None
    return {"serving": serving, "overrides": overrides}
