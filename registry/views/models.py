"""Model pages: the model list, a model with its versions and aliases, registering a run."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from experiments import metrics
from mlops_site import ui
from mlops_site.filters import sort_key
from registry import charts, schemas, services
from registry.filters import RegisteredModelFilter
from registry.forms import AliasForm, DescribeForm, GatesForm, ModelForm, RegisterForm
from registry.models import ModelVersion, PromotionRequest, RegisteredModel
from registry.selectors import models_with_counts


@permission_required("registry.view_registeredmodel", raise_exception=True)
def model_list(request):
    form = ModelForm(request.POST or None, prefix="new")
    if request.method == "POST" and form.is_valid():
        with ui.service_errors(request, form) as call:
            model = services.create_model(actor=request.user, **form.cleaned_data)
        if not call.failed:
            messages.success(request, f"Model “{model.name}” registered. Add versions from trained runs.")
            return redirect(model)
    filterset = RegisteredModelFilter(request.GET, queryset=models_with_counts(), request=request)
    return render(
        request,
        "registry/model_list.html",
        {"page": ui.paginate(request, filterset.qs), "sort": sort_key(filterset), "form": form, "filter": filterset},
    )


@permission_required("registry.view_registeredmodel", raise_exception=True)
def model_detail(request, name: str):
    model = get_object_or_404(RegisteredModel.objects.select_related("owner"), name=name)
    versions = list(model.versions.select_related("run", "created_by").prefetch_related("aliases").order_by("-number"))
    metric_keys = sorted({key for version in versions for key in version.metrics})
    preferred = next((k for k in metrics.HEADLINES if k in metric_keys), None)
    metric = request.GET.get("metric") if request.GET.get("metric") in metric_keys else preferred
    chart = None
    if metric:
        chart = charts.metric_across_versions(
            metric, [{"number": v.number, "stage": v.stage, "value": v.metrics.get(metric)} for v in versions]
        )
    gates = schemas.normalise_gates(model.gates)
    context = {
        "model": model,
        "versions": versions,
        "aliases": model.aliases.select_related("version").order_by("name"),
        "metric_keys": metric_keys,
        "metric": metric,
        "headline": [k for k in metrics.HEADLINES if k in metric_keys][:3],
        "chart": chart,
        # The newest 100 choices; the form accepts any finished trained run by id.
        "recent_runs": RegisterForm().fields["run"].queryset[:100],
        "describe_form": DescribeForm.for_object(model),
        "gates": gates,
        "gates_form": GatesForm.from_config(gates),
        "can_edit_gates": services.can_edit_model(model, request.user),
        "can_edit": services.can_edit_model(model, request.user),
        "open_requests": model.promotion_requests.filter(status__in=PromotionRequest.OPEN).select_related("version"),
        "rollback_target": services.rollback_target(model),
        "panels": ui.panels("model", request, model),  # e.g. monitoring's retraining loop
        "top_panels": ui.panels("model-top", request, model),  # e.g. what deployments serve, override banners
    }
    return render(request, "registry/model_detail.html", context)


@require_POST
@permission_required("registry.add_modelversion", raise_exception=True)
def model_register(request, name: str):
    """Register a finished trained run as the model's next version."""
    model = get_object_or_404(RegisteredModel, name=name)
    form = RegisterForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(model)
    with ui.service_errors(request) as call:
        version = services.register_version(model, form.cleaned_data["run"], actor=request.user)
    if call.failed:
        return redirect(model)
    messages.success(request, f"Registered {version} from run #{version.run_id}.")
    return redirect(model)


@require_POST
@permission_required("registry.view_registeredmodel", raise_exception=True)
def model_gates(request, name: str):
    """Save the gate configuration; the service decides who may (owner or admin) and checks every field."""
    model = get_object_or_404(RegisteredModel, name=name)
    form = GatesForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(f"{k}: {e}" for k, errors in form.errors.items() for e in errors))
        return redirect(model)
    with ui.service_errors(request, denied="message") as call:
        services.update_model(model, {"gates": form.to_config()}, actor=request.user)
    if call.failed:
        return redirect(model)
    messages.success(request, "Gates saved; they apply to requests opened from now on.")
    return redirect(model)


@require_POST
@permission_required("registry.change_modelalias", raise_exception=True)
def model_alias(request, name: str):
    """Point an alias at a version, or remove it (the `delete` button)."""
    model = get_object_or_404(RegisteredModel, name=name)
    form = AliasForm(request.POST)
    with ui.service_errors(request, denied="message"):
        if request.POST.get("delete"):
            services.delete_alias(model, request.POST.get("alias", ""), actor=request.user)
            messages.success(request, f"Alias “{request.POST.get('alias')}” removed.")
        elif not form.is_valid():
            messages.error(request, " ".join(f"{k}: {e}" for k, errors in form.errors.items() for e in errors))
        else:
            version = model.versions.filter(number=form.cleaned_data["version"]).first()
            if version is None:
                raise ValidationError({"version": f"{model.name} has no version {form.cleaned_data['version']}."})
            alias = services.set_alias(model, form.cleaned_data["alias"], version, actor=request.user)
            messages.success(request, f"{alias.name} → v{version.number}.")
    return redirect(model)


@require_POST
@permission_required("registry.add_registeredmodel", raise_exception=True)
def model_edit(request, name: str):
    """Description and tags of the model."""
    model = get_object_or_404(RegisteredModel, name=name)
    form = DescribeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(model)
    with ui.service_errors(request, denied="message") as call:
        services.update_model(model, form.cleaned_data, actor=request.user)
    if call.failed:
        return redirect(model)
    messages.success(request, "Description and tags saved.")
    return redirect(model)


@require_POST
@permission_required("registry.add_modelversion", raise_exception=True)
def version_edit(request, name: str, number: int):
    """Description and tags of a version; its file, metrics and lineage never change."""
    version = get_object_or_404(ModelVersion.objects.select_related("model"), model__name=name, number=number)
    form = DescribeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect(version)
    with ui.service_errors(request) as call:
        services.update_version(version, form.cleaned_data, actor=request.user)
    if call.failed:
        return redirect(version)
    messages.success(request, "Description and tags saved.")
    return redirect(version)
