"""Deployment pages: the list, and one deployment with its traffic, revisions, predictions and charts."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from deployments import charts, guardrail, panels, selectors, services
from deployments.filters import DeploymentFilter
from deployments.models import Deployment, Environment
from mlops_site import idempotency, ui
from mlops_site.filters import sort_key

CHART_HOURS = 24


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
    filterset = DeploymentFilter(request.GET, queryset=deployments, request=request)
    return render(
        request,
        "deployments/deployment_list.html",
        {
            "filter": filterset,
            "deployments": filterset.qs,
            "sort": sort_key(filterset),
            "environments": Environment.objects.all(),
            "hours": CHART_HOURS,
        },
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
        "can_change": services.can_change(request.user),
        "can_override": services.can_override(request.user),
    }
    return render(request, "deployments/deployment_detail.html", context)


def _posted(request, action: str) -> dict:
    """The posted widgets under the service's field names (an empty version field: none)."""
    post = request.POST
    data = {"reason": post.get("reason", ""), "override": post.get("override") in ("on", "1", "true")}
    if action == "deploy":
        data["version"] = post.get("version") or None
    elif action == "traffic":
        data |= {
            "canary_version": post.get("canary") or None,
            "canary_percent": post.get("canary_percent") or "0",
            "shadow_version": post.get("shadow") or None,
        }
    elif action == "unseen_values":
        data["unseen_values"] = post.get("unseen_values", "")
    return data


@require_POST
@permission_required("deployments.view_deployment", raise_exception=True)
def deployment_change(request, environment: str, model: str):
    """Deploy, canary, shadow, promote the canary or roll back, through the same service as the API.

    A change of the primary (what every caller gets) is shown on a confirmation page first.
    """
    deployment = _deployment(environment, model)
    action = request.POST.get("action", "")
    data = _posted(request, action)
    can_change = services.can_change(request.user)
    with ui.service_errors(request, denied="message") as call:
        change = services.primary_change(deployment, action, data)
        if change is not None and request.POST.get("confirm") != "yes" and can_change:
            # The confirmation is a new form with its own one-time token; the first one was spent on this page.
            spent = ("csrfmiddlewaretoken", "confirm", idempotency.FORM_FIELD)
            fields = {k: v for k, v in request.POST.items() if k not in spent}
            override, reason = data["override"], data["reason"]
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
        _, done = services.change(deployment, action, data, actor=request.user)
    if not call.failed:
        messages.success(request, done)
    return redirect(deployment)
