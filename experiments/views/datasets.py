"""Dataset pages: list, detail with the version tree and upload, version detail, cleaning, compare."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count, Max
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from experiments import charts, comparison, services
from experiments.filters import DatasetFilter
from experiments.forms import DatasetForm, RecipeForm, UploadForm
from experiments.models import Dataset, DatasetVersion
from mlops_site import ui
from mlops_site.filters import sort_key
from mlops_site.permissions import require


@permission_required("experiments.view_dataset", raise_exception=True)
def dataset_list(request):
    form = DatasetForm(request.POST or None, prefix="new")
    if request.method == "POST" and form.is_valid():
        with ui.service_errors(request, form) as call:
            dataset = services.create_dataset(actor=request.user, **form.cleaned_data)
        if not call.failed:
            messages.success(request, f"Dataset “{dataset.name}” created. Upload its first version below.")
            return redirect(dataset)
    queryset = Dataset.objects.select_related("owner").annotate(
        version_count=Count("versions"), latest_number=Max("versions__number")
    )
    filterset = DatasetFilter(request.GET, queryset=queryset, request=request)
    context = {
        "filter": filterset,
        "page": ui.paginate(request, filterset.qs),
        "sort": sort_key(filterset),
        "form": form,
    }
    return render(request, "experiments/dataset_list.html", context)


def _version_tree(versions: list[DatasetVersion]) -> list[tuple[DatasetVersion, int]]:
    """Versions in depth-first order under their parents, with their depth for indentation."""
    children: dict[int | None, list[DatasetVersion]] = {}
    ids = {v.pk for v in versions}
    for version in sorted(versions, key=lambda v: v.number):
        parent = version.parent_id if version.parent_id in ids else None
        children.setdefault(parent, []).append(version)
    ordered: list[tuple[DatasetVersion, int]] = []

    def walk(parent, depth):
        for version in children.get(parent, []):
            ordered.append((version, depth))
            walk(version.pk, depth + 1)

    walk(None, 0)
    return ordered


@permission_required("experiments.view_dataset", raise_exception=True)
def dataset_detail(request, pk: int):
    dataset = get_object_or_404(Dataset.objects.select_related("owner"), pk=pk)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        with ui.service_errors(request, form) as call:
            version, created = services.upload_version(
                dataset, form.cleaned_data["file"], actor=request.user, target=form.cleaned_data["target"]
            )
        if not call.failed:
            if created:
                messages.success(request, f"Uploaded {version}. Its profile and quality checks are being computed.")
            else:
                messages.info(request, f"This exact file is already {version} (same sha256); nothing new was stored.")
            return redirect(version)
    versions = list(dataset.versions.select_related("created_by", "profile_job").defer("profile"))
    context = {"dataset": dataset, "tree": _version_tree(versions), "form": form, "versions": versions}
    return render(request, "experiments/dataset_detail.html", context, status=400 if form.errors else 200)


@permission_required("experiments.view_datasetversion", raise_exception=True)
def version_detail(request, pk: int):
    version = get_object_or_404(
        DatasetVersion.objects.select_related("dataset", "parent", "created_by", "profile_job"), pk=pk
    )
    recipe_form = RecipeForm(request.POST or None, initial={"steps": json.dumps(_suggested_recipe(version), indent=2)})
    preview = None
    status = 200
    if request.method == "POST":
        require(request.user, "experiments.add_datasetversion", "Your role does not allow cleaning data.")
        if recipe_form.is_valid():
            steps = recipe_form.cleaned_data["steps"]
            with ui.service_errors(request, recipe_form, fallback="steps") as call:
                if request.POST.get("action") == "run":
                    job = services.start_cleaning(version, steps, actor=request.user)
                else:
                    preview = services.preview_recipe(version, steps, actor=request.user)
            if not call.failed and request.POST.get("action") == "run":
                messages.success(request, "Cleaning queued: the job produces a new child version.")
                return redirect(job)
        if recipe_form.errors:
            status = 400
    profile_columns = []
    if version.profile:
        for column in version.profile["columns"]:
            profile_columns.append({"profile": column, "figure": charts.column_distribution(column)})
    context = {
        "version": version,
        "recipe_form": recipe_form,
        "preview": preview,
        "profile_columns": profile_columns,
        "missing_chart": charts.missing_by_column(version.profile) if version.profile else None,
        "quality_counts": version.quality_counts(),
        "quality": sorted(version.quality or [], key=lambda r: {"fail": 0, "warn": 1, "pass": 2}[r["status"]]),
        "has_siblings": version.dataset.versions.exclude(pk=version.pk).exists(),
    }
    return render(request, "experiments/version_detail.html", context, status=status)


def _suggested_recipe(version: DatasetVersion) -> list[dict]:
    """A starting recipe built from the quality report, so the form is never a blank box."""
    steps: list[dict] = []
    for result in version.quality or []:
        if result["status"] == "pass":
            continue
        if result["check"] == "inconsistent_spellings" and version.kinds.get(result["column"]) == "boolean":
            steps.append({"op": "standardize_booleans", "columns": [result["column"]]})
        elif result["check"] == "inconsistent_spellings":
            steps.append({"op": "trim_strings", "columns": [result["column"]]})
            steps.append({"op": "casefold_strings", "columns": [result["column"]]})
        elif result["check"] == "duplicate_rows":
            steps.append({"op": "drop_duplicates"})
        elif result["check"] == "missing_target":
            steps.append({"op": "drop_missing_target", "column": result["column"]})
        elif (
            result["check"] == "missing_values"
            and version.kinds.get(result["column"]) == "numeric"
            and result["count"] < version.row_count
        ):
            steps.append({"op": "impute", "column": result["column"], "strategy": "median"})
    return steps or [{"op": "drop_duplicates"}]


@permission_required("experiments.view_datasetversion", raise_exception=True)
def version_download(request, pk: int):
    version = get_object_or_404(DatasetVersion.objects.select_related("dataset"), pk=pk)
    filename = version.original_filename or f"{version.dataset.name}-v{version.number}.{version.format}"
    return FileResponse(services.open_version(version), as_attachment=True, filename=filename)


@require_POST
@permission_required("experiments.view_datasetversion", raise_exception=True)
def version_reprofile(request, pk: int):
    version = get_object_or_404(DatasetVersion, pk=pk)
    job = services.start_profile(version, actor=request.user)
    messages.success(request, "Profiling queued.")
    return redirect(job)


@permission_required("experiments.view_datasetversion", raise_exception=True)
def version_compare(request, pk: int):
    a = get_object_or_404(DatasetVersion.objects.select_related("dataset"), pk=pk)
    base = a
    others = a.dataset.versions.exclude(pk=a.pk).only("id", "number")
    b_id = request.GET.get("other")
    result = b = None
    if b_id:
        b = get_object_or_404(
            DatasetVersion.objects.select_related("dataset"),
            pk=b_id if b_id.isdecimal() and b_id.isascii() else 0,
            dataset=a.dataset,
        )
        older, newer = (a, b) if a.number < b.number else (b, a)  # read as "what changed since"
        result = comparison.compare(
            {"schema": older.schema, "profile": older.profile, "row_count": older.row_count},
            {"schema": newer.schema, "profile": newer.profile, "row_count": newer.row_count},
        )
        a, b = older, newer
    context = {"a": a, "b": b, "others": others, "result": result, "base": base, "selected": b_id}
    return render(request, "experiments/version_compare.html", context)
