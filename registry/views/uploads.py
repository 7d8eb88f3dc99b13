"""Upload a version trained anywhere: infer the signature from sample rows, confirm it, upload the file."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from mlops_site import ui
from registry import services
from registry.forms import UploadForm
from registry.models import RegisteredModel


@permission_required("registry.add_modelversion", raise_exception=True)
def version_upload(request, name: str):
    """Step 1 ("Infer signature") reads the sample and fills the signature in; step 2 ("Upload") stores the version."""
    model = get_object_or_404(RegisteredModel, name=name)
    form = UploadForm(request.POST or None, request.FILES or None)
    inferred = None
    if request.method == "POST" and form.is_valid():
        if "infer" in request.POST:
            inferred = _infer(request, form)
        else:
            with ui.service_errors(request, form) as call:
                version = services.upload_version(model, form.service_data(), actor=request.user)
            if not call.failed:
                messages.success(request, f"Uploaded {version} ({version.get_format_display()}); it can now be gated.")
                return redirect(version)
    return render(
        request,
        "registry/version_upload.html",
        {"model": model, "form": form, "inferred": inferred, "next_number": model.versions.count() + 1},
    )


def _infer(request, form: UploadForm) -> dict | None:
    """The signature the sample implies, written into the form for the person to check before uploading."""
    from experiments import model_files
    from registry.services.uploads import read_sample

    sample = form.cleaned_data.get("sample")
    if sample is None:
        form.add_error("sample", "Choose a CSV of a few input rows to infer the signature from.")
        return None
    try:
        frame = read_sample(sample)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None
    signature = model_files.infer_signature(frame, task=form.cleaned_data.get("task") or None)
    data = form.data.copy()
    columns = ",\n  ".join(json.dumps(column) for column in signature["inputs"])
    data["signature"] = f'{{"inputs": [\n  {columns}\n]}}'  # one column per line, to read and edit
    form.data = data
    messages.info(
        request, f"Signature inferred from {len(frame)} sample rows: check the columns, then upload the file."
    )
    return signature


@permission_required("registry.add_modelversion", raise_exception=True)
def run_register(request, pk: int):
    """Register a finished run's model file (logged or trained) as a version, checked like an upload."""
    from experiments.models import Run
    from registry.forms import RunRegisterForm
    from registry.services.uploads import model_files_of

    run = get_object_or_404(Run.objects.select_related("experiment"), pk=pk)
    paths = model_files_of(run)
    form = RunRegisterForm(
        request.POST or None, request.FILES or None, paths=paths, initial={"path": request.GET.get("path")}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with ui.service_errors(request, form) as call:
            version = services.register_run_file(
                data["model"],
                run,
                path=data["path"],
                signature=data["signature"] or None,
                sample=data["sample"],
                task=data["task"] or None,
                description=data["description"],
                actor=request.user,
            )
        if not call.failed:
            messages.success(request, f"Registered {version} from run #{run.pk} ({data['path']}).")
            return redirect(version)
    return render(request, "registry/run_register.html", {"run": run, "form": form, "paths": paths})
