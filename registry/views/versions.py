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

from mlops_site import ui
from registry import cards, charts
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
        diff = compare(a, b)
        context["diff"] = diff
        context["chart"] = charts.metrics_side_by_side(
            f"v{a.number}",
            a.metrics,
            f"v{b.number}",
            b.metrics,
            lower_is_better=frozenset(key for key in {*a.metrics, *b.metrics} if cards.lower_is_better(key)),
        )
    return render(request, "registry/version_diff.html", context)


def compare(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """Rows for each side-by-side table; reads only the versions' snapshots, no queries."""
    params = param_rows(a.params or {}, b.params or {})
    return {
        "a": a,
        "b": b,
        "params": params,
        "params_changed": [row for row in params if row["differs"]],
        "params_same": [row for row in params if not row["differs"]],
        "metrics": metric_rows(a.metrics or {}, b.metrics or {}),
        "signature": signature_rows(a.signature or {}, b.signature or {}),
        "output": output_rows(a.signature or {}, b.signature or {}),
        "lineage": lineage_rows(a.lineage or {}, b.lineage or {}),
    }


def param_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    return [
        {"name": key, "a": a.get(key), "b": b.get(key), "differs": a.get(key) != b.get(key)} for key in sorted({*a, *b})
    ]


def metric_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    """b − a for each metric both have, and which side is better (lower for losses and errors)."""
    rows = []
    for key in sorted({*a, *b}):
        left, right = a.get(key), b.get(key)
        lower = cards.lower_is_better(key)
        row = {"name": key, "a": left, "b": right, "delta": None, "better": None, "lower": lower}
        if _is_number(left) and _is_number(right):
            row["delta"] = right - left
            if right == left:
                row["better"] = "same"
            else:
                row["better"] = "b" if (right < left) == lower else "a"
        rows.append(row)
    return rows


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def signature_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    """One row per input column: added, removed, kind or dtype changed, or unchanged."""
    left = {column.get("name"): column for column in a.get("inputs") or []}
    right = {column.get("name"): column for column in b.get("inputs") or []}
    names = list(left) + [name for name in right if name not in left]
    rows = []
    for name in names:
        old, new = left.get(name), right.get(name)
        if old is None:
            change = "added"
        elif new is None:
            change = "removed"
        elif old.get("kind") != new.get("kind"):
            change = "kind changed"
        elif old.get("dtype") != new.get("dtype"):
            change = "dtype changed"
        else:
            change = ""
        rows.append({"name": name, "a": old, "b": new, "change": change})
    return rows


def output_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    left, right = a.get("output") or {}, b.get("output") or {}
    rows = []
    for key, label in (("task", "Task"), ("classes", "Classes")):
        old, new = left.get(key), right.get(key)
        rows.append({"name": label, "a": _listed(old), "b": _listed(new), "differs": old != new})
    return rows


def _listed(value: Any) -> Any:
    return ", ".join(map(str, value)) if isinstance(value, list) else value


def lineage_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    """Per input dataset: the version each side trained on and whether its bytes (sha256) are the same."""
    left = {item.get("dataset"): _input(item) for item in a.get("inputs") or []}
    right = {item.get("dataset"): _input(item) for item in b.get("inputs") or []}
    rows = []
    for dataset in list(left) + [name for name in right if name not in left]:
        old, new = left.get(dataset), right.get(dataset)
        same = bool(old and new and old["sha256"] == new["sha256"])
        rows.append({"dataset": dataset, "a": old, "b": new, "same": same})
    return rows


def _input(item: dict) -> dict[str, Any]:
    chain = item.get("chain") or []
    head = chain[0] if chain else {}
    steps = [cards.describe_step(step) for node in chain for step in (node.get("recipe") or [])]
    return {"id": item.get("version"), "number": head.get("number"), "sha256": head.get("sha256") or "", "steps": steps}
