"""Promotion pages: the reviewers' approval queue, a request with its evidence, and the decisions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from experiments import metrics
from mlops_site import ui
from mlops_site.filters import sort_key
from registry import services
from registry.filters import PromotionRequestFilter
from registry.models import ModelVersion, PromotionRequest, RegisteredModel, Review

QUEUE_TABS = [
    ("pending", "Awaiting review"),
    ("checking", "Gates running"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("withdrawn", "Withdrawn"),
    ("all", "All"),
]
GATE_LABELS = {
    "artifact_hash": "Artifact hash",
    "metric_thresholds": "Metric thresholds",
    "signature_compatible": "Signature compatible with production",
    "champion_challenger": "Champion vs challenger",
    "fairness": "Fairness",
    "gates": "Gates",
}


def _requests():
    return (
        PromotionRequest.objects.select_related("model", "version__model", "requested_by", "champion")
        .annotate(approvals=Count("reviews", filter=Q(reviews__decision=Review.Decision.APPROVE)))
        .order_by("-created_at", "-pk")
    )


@permission_required("registry.view_promotionrequest", raise_exception=True)
def queue(request):
    tab = request.GET.get("status", "pending")
    if tab not in dict(QUEUE_TABS):
        tab = "pending"
    data = request.GET.copy()
    data["status"] = "" if tab == "all" else tab  # the tabs: one status, or all of them
    filterset = PromotionRequestFilter(data, queryset=_requests(), request=request)
    counts = dict(PromotionRequest.objects.values_list("status").annotate(n=Count("id")))
    tabs = [(key, label, sum(counts.values()) if key == "all" else counts.get(key, 0)) for key, label in QUEUE_TABS]
    return render(
        request,
        "registry/approvals.html",
        {"page": ui.paginate(request, filterset.qs), "sort": sort_key(filterset), "tab": tab, "tabs": tabs},
    )


def _metric_rows(promotion: PromotionRequest) -> list[dict]:
    """Candidate metrics beside the champion's as registered, with which one is better."""
    candidate = promotion.version.metrics
    champion = promotion.champion.metrics if promotion.champion else {}
    keys = [k for k in metrics.PREFERENCE if k in candidate] + sorted(
        k for k in candidate if k not in metrics.PREFERENCE and not k.startswith("holdout_")
    )
    rows = []
    for key in keys:
        mine, theirs = candidate.get(key), champion.get(key)
        better = None
        if mine is not None and theirs is not None and mine != theirs:
            better = "candidate" if (mine < theirs) == metrics.lower_is_better(key) else "champion"
        difference = mine - theirs if mine is not None and theirs is not None else None
        rows.append({"key": key, "candidate": mine, "champion": theirs, "difference": difference, "better": better})
    return rows


@permission_required("registry.view_promotionrequest", raise_exception=True)
def request_detail(request, pk: int):
    promotion = get_object_or_404(
        _requests().select_related("version__run", "version__model", "overridden_by", "job"), pk=pk
    )
    gates = {gate["name"]: gate for gate in promotion.gates}
    context = {
        "promotion": promotion,
        "version": promotion.version,
        "gates": [{**gate, "label": GATE_LABELS.get(gate["name"], gate["name"])} for gate in promotion.gates],
        "fairness": gates.get("fairness"),
        "champion_gate": gates.get("champion_challenger"),
        "metric_rows": _metric_rows(promotion),
        "reviews": promotion.reviews.select_related("reviewer"),
        **services.actions_for(request.user, promotion),  # can_review, can_withdraw, can_rerun, ...
        "lineage": promotion.version.lineage,
    }
    return render(request, "registry/promotion_detail.html", context)


@require_POST
@permission_required("registry.view_promotionrequest", raise_exception=True)
def decide(request, pk: int):
    """approve / reject / withdraw / rerun, all through the same services as the API."""
    promotion = get_object_or_404(PromotionRequest, pk=pk)
    action = request.POST.get("action")
    with ui.service_errors(request, denied="message") as call:
        promotion, done = services.decide(promotion, action, request.POST, actor=request.user)
    if not call.failed:
        messages.success(request, done)
    return redirect(promotion)


@require_POST
@permission_required("registry.add_promotionrequest", raise_exception=True)
def request_new(request, name: str, number: int):
    version = get_object_or_404(ModelVersion.objects.select_related("model"), model__name=name, number=number)
    with ui.service_errors(request) as call:
        promotion = services.request_promotion(
            version,
            request.POST.get("stage", ""),
            justification=request.POST.get("justification", ""),
            actor=request.user,
        )
    if call.failed:
        return redirect(version)
    messages.success(request, f"Request #{promotion.pk} opened; the gates are running on a worker.")
    return redirect(promotion)


@require_POST
@permission_required("registry.add_promotionrequest", raise_exception=True)
def rollback(request, name: str):
    model = get_object_or_404(RegisteredModel, name=name)
    with ui.service_errors(request) as call:
        promotion = services.request_rollback(
            model, justification=request.POST.get("justification", ""), actor=request.user
        )
    if call.failed:
        return redirect(model)
    messages.success(request, f"Rollback request #{promotion.pk} opened; a reviewer must approve it.")
    return redirect(promotion)
