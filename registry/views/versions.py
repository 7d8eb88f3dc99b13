"""Version pages: one version with its evidence and model card, the card's editor and Markdown export,
and two versions side by side (params, metrics, signature, data lineage)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_safe

from experiments import metrics
from mlops_site import ui
from registry import cards, charts, diff
from registry.forms import DescribeForm
from registry.models import ModelVersion, PromotionRequest, RegisteredModel
from registry.services import cards as card_services


class CardForm(forms.Form):
    """The three sections people write; the rest of the card is generated from the lineage."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key in cards.SECTIONS:
            self.fields[key] = forms.CharField(
                label=cards.LABELS[key],
                help_text=cards.HINTS[key],
                required=False,
                max_length=cards.MAX_SECTION_CHARS,
                widget=forms.Textarea(attrs={"rows": 5}),
            )


def _version(name: str, number: int) -> ModelVersion:
    return get_object_or_404(
        ModelVersion.objects.select_related(
            "model", "model__owner", "run", "run__experiment", "created_by", "artifact"
        ),
        model__name=name,
        number=number,
    )


def _card_form(version: ModelVersion, data=None) -> CardForm:
    return CardForm(data, initial={key: (version.card or {}).get(key, "") for key in cards.SECTIONS})


@permission_required("registry.view_modelversion", raise_exception=True)
def version_detail(request, name: str, number: int):
    version = _version(name, number)
    card = cards.build(card_services.card_facts(version))
    numbers = list(version.model.versions.order_by("number").values_list("number", flat=True))
    earlier = [n for n in numbers if n < version.number]
    later = [n for n in numbers if n > version.number]
    compare_with = earlier[-1] if earlier else (later[0] if later else None)
    can_edit = card_services.can_edit(version, request.user)
    context = {
        "model": version.model,
        "version": version,
        "card": card,
        "aliases": card["version"]["aliases"],
        "promotions": list(version.promotion_requests.select_related("requested_by").order_by("-created_at", "-pk")),
        "can_edit_card": can_edit,
        "card_form": _card_form(version) if can_edit else None,
        # A production version is replaced or rolled back, never sent down to staging.
        "promote_stages": []
        if version.stage == "production"
        else [stage for stage in PromotionRequest.TARGET_STAGES if stage != version.stage],
        "describe_form": DescribeForm.for_object(version),
        "compare_with": compare_with,
        "top_panels": ui.panels("version-top", request, version),  # e.g. where it is served, override banners
        "serving_transform": _serving_transform(version),
    }
    return render(request, "registry/version_detail.html", context)


def _serving_transform(version: ModelVersion) -> list[dict] | None:
    """The cleaning steps predict applies to each record, described; None when the lineage predates them."""
    steps = (version.lineage or {}).get("serving_transform")
    if steps is None:
        return None
    return [
        {
            "text": step.get("description") or cards.describe_step(step),
            "dataset_version": step.get("dataset_version"),
            "step": step.get("step"),
        }
        for step in steps
        if isinstance(step, dict)
    ]


@require_http_methods(["GET", "POST"])
@permission_required("registry.view_modelversion", raise_exception=True)
def card_edit(request, name: str, number: int):
    """Edit the written sections; the generated parts are not editable, they follow the lineage."""
    version = _version(name, number)
    if not card_services.can_edit(version, request.user):
        raise PermissionDenied(f"Only data scientists or the owner of {version.model.name} can edit its model card.")
    form = _card_form(version, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        with ui.service_errors(request, form) as call:
            card_services.update_card(version, actor=request.user, **form.cleaned_data)
        if not call.failed:
            messages.success(request, f"Model card of {version} saved.")
            return redirect(f"{version.get_absolute_url()}#card")
    return render(request, "registry/card_edit.html", {"model": version.model, "version": version, "form": form})


@require_safe
@permission_required("registry.view_modelversion", raise_exception=True)
def card_markdown(request, name: str, number: int):
    version = _version(name, number)
    text = cards.to_markdown(cards.build(card_services.card_facts(version)))
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    filename = f"{_safe_filename(version.model.name)}-v{version.number}-model-card.md"
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response


def _safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"


# ---------------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------------


class DiffForm(forms.Form):
    a = forms.TypedChoiceField(label="Version A", coerce=int)
    b = forms.TypedChoiceField(label="Version B", coerce=int)

    def __init__(self, *args, versions: list[ModelVersion], **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(v.number, f"v{v.number} ({v.get_stage_display().lower()})") for v in versions]
        self.fields["a"].choices = self.fields["b"].choices = choices

    def clean(self):
        data = super().clean()
        if data.get("a") is not None and data.get("a") == data.get("b"):
            raise ValidationError("Pick two different versions to compare.")
        return data


@require_safe
@permission_required("registry.view_modelversion", raise_exception=True)
def version_diff(request, name: str):
    """Two versions side by side; defaults to the two newest, so "what changed in the last one" is one click."""
    model = get_object_or_404(RegisteredModel, name=name)
    versions = list(model.versions.select_related("run", "run__experiment", "created_by").order_by("-number"))
    data = request.GET if ("a" in request.GET or "b" in request.GET) else None
    if data is None and len(versions) >= 2:
        data = {"a": versions[1].number, "b": versions[0].number}
    form = DiffForm(data, versions=versions)
    context: dict[str, Any] = {"model": model, "versions": versions, "form": form, "diff": None}
    if data is not None and form.is_valid():
        by_number = {v.number: v for v in versions}
        a, b = by_number[form.cleaned_data["a"]], by_number[form.cleaned_data["b"]]
        context["diff"] = {"a": a, "b": b, **diff.compare(diff.snapshot(a), diff.snapshot(b))}
        context["chart"] = charts.metrics_side_by_side(
            f"v{a.number}",
            a.metrics,
            f"v{b.number}",
            b.metrics,
            lower_is_better=frozenset(key for key in {*a.metrics, *b.metrics} if metrics.lower_is_better(key)),
        )
    return render(request, "registry/version_diff.html", context)
