"""Registry versions from what the mlflow client registers: a logged model (`models:/m-…`) or a run's MLmodel
directory (`runs:/<run>/<path>`, which the client sends as the run's artifact URI).

The model file goes through the registry's own checks (`registry.services.uploads.checked_model`: it loads
with the trusted types, matches the signature and predicts on probe rows) and is pinned by sha256 like any
upload. From there the version is a registry version like any other: gated, reviewed, served.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.files.storage import default_storage

from experiments.models import Run, RunArtifact
from mlflow_compat import mlmodel
from mlflow_compat.errors import invalid, not_found
from mlflow_compat.models import LoggedModel
from mlflow_compat.services import logged_models
from mlops_site.permissions import require
from registry.models import ModelVersion, RegisteredModel
from registry.services import uploads
from registry.services.catalog import denied

LOGGED_SOURCE = re.compile(r"^models:/(?P<model>m-[0-9a-f]{32})/?$")
RUN_SOURCE = re.compile(
    r"^(?:mlflow-artifacts:/(?P<experiment>\d{1,18})/(?P<run>\d{1,18})/artifacts|runs:/(?P<run2>\d{1,18}))/(?P<path>.+?)/?$"
)


class Directory:
    """The files of an MLmodel directory, read on demand: a logged model's, or a run's under a path."""

    def __init__(self, *, logged: LoggedModel | None = None, run: Run | None = None, prefix: str = ""):
        self.logged, self.run, self.prefix = logged, run, prefix

    def read(self, path: str) -> bytes:
        if self.logged is not None:
            return logged_models.read_file(self.logged, path)
        full = f"{self.prefix}/{path}"
        artifact = RunArtifact.objects.filter(run=self.run, path=full).first()
        if artifact is None:
            raise invalid(f"Run {self.run.pk} has no artifact '{full}'.")
        with default_storage.open(artifact.file, "rb") as handle:
            return handle.read(settings.MODEL_MAX_UPLOAD_BYTES + 1)


def _directory(source: str, model_id: str | None) -> tuple[Directory, Run | None, dict]:
    if model_id and not source.startswith("models:/"):
        source = f"models:/{model_id}"
    if match := LOGGED_SOURCE.match(source):
        logged = logged_models.get(match["model"])
        if logged.status != LoggedModel.Status.READY:
            raise invalid(
                f"Logged model {logged.model_id} is {logged.get_status_display()}: register it once its files are "
                "uploaded (log_model does this by itself)."
            )
        lineage = {"logged_model": logged.model_id, "source": source}
        return Directory(logged=logged), logged.source_run, lineage
    if match := RUN_SOURCE.match(source):
        run = Run.objects.filter(pk=int(match["run"] or match["run2"])).first()
        if run is None:
            raise not_found(f"Run with id={match['run'] or match['run2']} not found")
        path = match["path"].strip("/")
        return Directory(run=run, prefix=path), run, {"run_path": path, "source": source}
    raise invalid(
        f"Cannot register from {source[:200]!r}: register a logged model (models:/m-...) or a run's model "
        "(runs:/<run id>/<path>)."
    )


def create_version(
    model: RegisteredModel, *, source: str, model_id: str | None, actor, description: str = ""
) -> ModelVersion:
    require(actor, "registry.add_modelversion", denied("registering model versions"))  # before any file is read
    directory, run, lineage = _directory(source, model_id)
    try:
        document = mlmodel.parse(directory.read(mlmodel.MLMODEL).decode("utf-8", "replace"))
        path, _ = mlmodel.model_file(document)
        signature = mlmodel.site_signature(document)
    except mlmodel.MLmodelError as exc:
        raise invalid(str(exc)) from None
    if signature is None:
        raise invalid(
            "The model was logged without a signature: pass input_example= (a pandas DataFrame) or signature= to "
            "log_model, so the site knows its input columns."
        )
    data = directory.read(path)
    if len(data) > settings.MODEL_MAX_UPLOAD_BYTES:
        raise invalid(f"Model files are limited to {settings.MODEL_MAX_UPLOAD_BYTES // 2**20} MB.")
    fmt, loaded, signature = uploads.checked_model(data, signature, None, None)
    if run is not None and run.status != Run.Status.FINISHED and run.source != Run.Source.LOGGED:
        raise invalid(f"Run {run.pk} is {run.status}; only finished runs can be registered.")
    return uploads.register_model_file(
        model,
        data,
        fmt=fmt,
        signature=signature,
        run=run,
        actor=actor,
        file_name=path,
        params=uploads.estimator_params(loaded) if run is None else None,
        description=description,
        extra_lineage={"mlflow": lineage},
    )


def version_json_source(version: ModelVersion) -> str:
    return (version.lineage or {}).get("mlflow", {}).get("source") or f"models:/{version.model.name}/{version.number}"
