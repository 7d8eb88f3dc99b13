"""Deployment pages: the list, and one deployment with its traffic, revisions, predictions and charts."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from deployments import charts, guardrail, panels, selectors, services
from deployments.models import Deployment, Environment
from mlops_site import idempotency, ui

CHART_HOURS = 24


def _whole(text: str) -> bool:
    """A small whole number as typed in a form ("²" and 5,000-digit strings are not)."""
    return text.isascii() and text.isdecimal() and len(text) < 10


@permission_required("deployments.view_deployment", raise_exception=True)
def deployment_list(request):
    since = timezone.now() - timedelta(hours=CHART_HOURS)
    deployments = Deployment.objects.select_related(
        "environment", "model", "primary__model", "canary", "shadow"
    ).annotate(
        requests=Count("request_stats", filter=Q(request_stats__created_at__gte=since)),
        errors=Count(
            "request_stats", filter=Q(request_stats__created_at__gte=since, request_stats__status_code__gte=400)
        ),
    )
    return render(
        request,
        "deployments/deployment_list.html",
        {"deployments": deployments, "environments": Environment.objects.all(), "hours": CHART_HOURS},
    )


def _deployment(environment: str, model: str) -> Deployment:
    return get_object_or_404(
        Deployment.objects.select_related("environment", "model", "primary", "canary", "shadow"),
        environment__name=environment,
        model__name=model,
    )


def _charts(deployment: Deployment) -> dict:
    end = timezone.now()
    per_version = selectors.service_series(deployment, end - timedelta(hours=CHART_HOURS), end)
    if not per_version:
        return {}
    return {
        "rate_chart": charts.request_rate(per_version),
        "error_chart": charts.error_rate(per_version),
        "latency_chart": charts.latency(per_version),
    }


def _version_choices(deployment: Deployment) -> list[dict]:
    """Every version with what serving it here means, so the form can say it before anyone clicks."""
    approved = services.approved_version_ids(deployment)
    stage = deployment.environment.stage
    choices = []
    for v in deployment.model.versions.order_by("-number"):
        ok = approved is None or v.pk in approved
        if not stage:
            note = v.stage
        elif ok:
            note = f"approved for {stage}" if v.stage == stage else f"{v.stage}, served {stage} before"
        else:
            note = f"{v.stage}, not approved for {stage}: override only"
        choices.append({"version": v, "approved": ok, "label": f"v{v.number} — {note}"})
    return choices


@permission_required("deployments.view_deployment", raise_exception=True)
def deployment_detail(request, environment: str, model: str):
    deployment = _deployment(environment, model)
    predictions = deployment.predictions.select_related("version").order_by("-created_at")
    context = {
        "deployment": deployment,
        "versions": deployment.model.versions.order_by("-number"),
        "choices": _version_choices(deployment),
        "override": panels.deployment_override(deployment),
        "revisions": deployment.revisions.select_related("primary", "canary", "shadow", "actor")[:30],
        "page": ui.paginate(request, predictions, per_page=25),
        "hours": CHART_HOURS,
        "primary_percent": 100 - deployment.canary_percent,
        "guardrail": guardrail.normalise(deployment.guardrail),
        "predict_url": request.build_absolute_uri(f"/api/deployments/{environment}/{model}/predict"),
        "example_row": {
            c["name"]: None for c in (deployment.primary.signature if deployment.primary else {}).get("inputs", [])
        },
        **_charts(deployment),
        "unseen": selectors.unseen_summary(deployment, timezone.now() - timedelta(hours=CHART_HOURS), timezone.now()),
        "panels": ui.panels("deployment", request, deployment),  # e.g. monitoring's drift and alerts summary
    }
    return render(request, "deployments/deployment_detail.html", context)


def _primary_change(deployment: Deployment, action: str, chosen) -> dict | None:
    """What a primary-changing action would serve, for the confirmation page; None for other actions."""
    if action == "deploy":
        after = chosen
    elif action == "promote_canary":
        after = deployment.canary
    elif action == "rollback":
        previous = services.rollback_target(deployment)
        after = previous.primary if previous else None
    else:
        return None
    approved = services.approved_version_ids(deployment)
    in_effect = {deployment.primary_id, deployment.canary_id} if deployment.is_overridden else set()
    return {
        "before": deployment.primary,
        "after": after,
        "approved": after is None or approved is None or after.pk in approved,
        "under_override": after is not None and after.pk in in_effect,
    }


@require_POST
@permission_required("deployments.view_deployment", raise_exception=True)
def deployment_change(request, environment: str, model: str):
    """Deploy, canary, shadow, promote the canary or roll back, through the same services as the API.

    A change of the primary (what every caller gets) is shown on a confirmation page first.
    """
    deployment = _deployment(environment, model)
    action, reason = request.POST.get("action"), request.POST.get("reason", "")
    override = request.POST.get("override") in ("on", "1", "true")

    def version(field):
        value = request.POST.get(field) or ""
        if not value:
            return None
        found = deployment.model.versions.filter(number=int(value)).first() if _whole(value) else None
        if found is None:
            raise ValidationError({field: f"{deployment.model.name} has no version {value}."})
        return found

    try:
        if action == "deploy":
            chosen = version("version")
            if chosen is None:
                raise ValidationError({"version": "Choose the version to deploy."})
        else:
            chosen = None
        change = _primary_change(deployment, action, chosen)
        if (
            change is not None
            and request.POST.get("confirm") != "yes"
            and request.user.has_perm("deployments.change_deployment")
        ):
            # The confirmation is a new form with its own one-time token; the first one was spent on this page.
            spent = ("csrfmiddlewaretoken", "confirm", idempotency.FORM_FIELD)
            fields = {k: v for k, v in request.POST.items() if k not in spent}
            return render(
                request,
                "deployments/deployment_confirm.html",
                {
                    "deployment": deployment,
                    "change": change,
                    "fields": fields,
                    "override": override,
                    "reason": reason,
                    # Nothing to confirm when the service would refuse it: say why and offer the way back.
                    "refusable": bool(deployment.environment.stage)
                    and not (change["approved"] or change["under_override"] or (override and reason.strip())),
                },
            )
        if action == "deploy":
            services.deploy(deployment.environment, chosen, actor=request.user, reason=reason, override=override)
            done = f"Deployed v{chosen.number}."
        elif action == "traffic":
            percent = request.POST.get("canary_percent") or "0"
            if not _whole(percent):
                raise ValidationError({"canary_percent": "A whole percentage from 0 to 100."})
            services.set_traffic(
                deployment,
                actor=request.user,
                reason=reason,
                canary=version("canary"),
                canary_percent=int(percent),
                shadow=version("shadow"),
                override=override,
            )
            done = "Traffic updated."
        elif action == "promote_canary":
            services.promote_canary(deployment, actor=request.user, reason=reason)
            done = "The canary is now the primary version."
        elif action == "rollback":
            services.rollback(deployment, actor=request.user, reason=reason, override=override)
            done = "Rolled back to the previous revision."
        elif action == "unseen_values":
            policy = request.POST.get("unseen_values", "")
            services.set_unseen_policy(deployment, policy, actor=request.user)
            done = f"Unseen values: {policy}."
        else:
            raise ValidationError("Unknown action.")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, ui.error_message(exc))
        return redirect(deployment)
    messages.success(request, done)
    return redirect(deployment)
