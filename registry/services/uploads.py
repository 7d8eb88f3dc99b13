"""Versions of models trained anywhere: a skops or ONNX file, checked before anything is stored.

The file must load (skops' trusted types plus MODEL_TRUSTED_TYPES; ONNX through onnxruntime), agree with
its signature's columns, and predict (with probabilities, for a classifier) on probe rows; only then are
its run, its artifact and its version written, in one transaction. The version then goes through the
same gates, approval, serving, monitoring and retraining as one trained here.
"""

from __future__ import annotations

import io
import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction

from experiments import services as experiment_services
from experiments.models import DatasetVersion, Experiment, Run
from mlops_site import lazy
from mlops_site.permissions import require
from registry import schemas
from registry.models import ModelVersion, RegisteredModel
from registry.services.catalog import SIGNATURE_PATH, create_version, denied

model_files = lazy.module("experiments.model_files")
pd = lazy.module("pandas")

__all__ = ["model_files_of", "read_sample", "register_run_file", "upload_version"]

MAX_SAMPLE_BYTES = 1024 * 1024
MAX_SAMPLE_ROWS = 1000


def read_sample(upload) -> pd.DataFrame:
    """Sample input rows from a CSV or a JSON list of objects; ValidationError under `sample` otherwise."""
    data = upload.read(MAX_SAMPLE_BYTES + 1) if hasattr(upload, "read") else bytes(upload)
    if len(data) > MAX_SAMPLE_BYTES:
        raise ValidationError({"sample": f"A sample is at most {MAX_SAMPLE_BYTES // 1024} KB: a few rows are enough."})
    if b"\x00" in data:
        raise ValidationError({"sample": "The sample is binary data; send CSV text or a JSON list of objects."})
    text = data.decode("utf-8", errors="replace").strip()
    try:
        if text.startswith("["):
            rows = json.loads(text)
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise ValueError("a JSON sample is a list of objects, one per row")
            if any(isinstance(value, dict | list) for row in rows for value in row.values()):
                raise ValueError("each value is a number, text, true/false or null, not an object or a list")
            frame = pd.DataFrame.from_records(rows)
        else:
            frame = pd.read_csv(io.StringIO(text), nrows=MAX_SAMPLE_ROWS)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValidationError({"sample": f"The sample cannot be read: {exc}."}) from None
    except RecursionError:
        raise ValidationError({"sample": "The sample cannot be read: its JSON is nested too deeply."}) from None
    if frame.empty or not len(frame.columns):
        raise ValidationError({"sample": "The sample has no rows: send a header and at least one row."})
    return frame.head(MAX_SAMPLE_ROWS)


def _read_file(upload) -> bytes:
    size = getattr(upload, "size", None)
    if size is not None and size > settings.MODEL_MAX_UPLOAD_BYTES:
        raise ValidationError({"file": f"Model files are limited to {settings.MODEL_MAX_UPLOAD_BYTES // 2**20} MB."})
    data = upload.read(settings.MODEL_MAX_UPLOAD_BYTES + 1)
    if len(data) > settings.MODEL_MAX_UPLOAD_BYTES:
        raise ValidationError({"file": f"Model files are limited to {settings.MODEL_MAX_UPLOAD_BYTES // 2**20} MB."})
    return data


def checked_model(data: bytes, signature: dict | None, sample: pd.DataFrame | None, task: str | None):
    """(format, loaded model, signature) once the file loads, matches the signature and predicts on probe rows.

    The signature is the one given, or one inferred from the sample; the task comes from the request, the
    signature or the estimator; a classifier's classes from the estimator (skops) or its outputs (ONNX).
    """
    try:
        fmt = model_files.detect(data)
        given_output = (signature or {}).get("output") or {}
        task = task or given_output.get("task")
        model = model_files.load(
            data, extra_trusted=settings.MODEL_TRUSTED_TYPES, classes=given_output.get("classes"), task=task
        )
    except model_files.ModelFileError as exc:
        raise ValidationError({"file": str(exc)}) from None
    task = task or model_files.task_of(model)
    if task is None:
        raise ValidationError(
            {
                "task": "The model does not say whether it classifies or regresses: send task=classification or regression."
            }
        )
    if signature is None:
        signature = model_files.infer_signature(sample, model=model, task=task)
    signature = {"inputs": signature["inputs"], "output": {**given_output, "task": task}}
    if sample is not None:
        missing = [column["name"] for column in signature["inputs"] if column["name"] not in sample.columns]
        if missing:
            raise ValidationError({"sample": f"The sample lacks the signature's columns {', '.join(missing)}."})
    try:
        model_files.check_columns(model, signature)
        model_files.probe(model, signature, sample)
    except model_files.ModelFileError as exc:
        raise ValidationError({"file": str(exc)}) from None
    if task == model_files.CLASSIFICATION:
        classes = getattr(model, "classes_", None)
        if classes is None:
            raise ValidationError({"signature": "Give the classifier's class labels as output.classes."})
        signature["output"]["classes"] = [value.item() if hasattr(value, "item") else value for value in classes]
    else:
        signature["output"]["classes"] = None
    return fmt, model, signature


def estimator_params(model) -> dict[str, str]:
    """The final estimator's own parameters, as the run's params (what a refit clones)."""
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    if not hasattr(final, "get_params"):
        return {}
    params = {"estimator": f"{type(final).__module__}.{type(final).__name__}"}
    for key, value in sorted(final.get_params(deep=False).items()):
        if not hasattr(value, "get_params"):
            params[key] = str(value)[:500]
    return params


def upload_version(model: RegisteredModel, data=None, *, actor, **fields) -> ModelVersion:
    """Version n+1 of `model` from a model file trained anywhere (`schemas.VersionUpload`).

    Nothing is stored unless the file loads, matches its signature and predicts. Without `run`, the file
    gets a run of its own (source "uploaded") in the experiment "<model> uploads".
    """
    require(actor, "registry.add_modelversion", denied("registering model versions"))
    clean = schemas.validate(schemas.VersionUpload, schemas.merged(data, fields))
    sample = read_sample(clean["sample"]) if "sample" in clean else None
    run, training_data = _given_run(clean), _given_training_data(clean)
    target = clean.get("target")
    file_bytes = _read_file(clean["file"])
    fmt, loaded, signature = checked_model(file_bytes, clean.get("signature"), sample, clean.get("task"))
    if training_data is not None:
        columns = {column["name"] for column in training_data.schema or []}
        if columns and (missing := [c["name"] for c in signature["inputs"] if c["name"] not in columns]):
            raise ValidationError(
                {"training_dataset_version": f"{training_data} lacks the model's columns {', '.join(missing)}."}
            )
    return register_model_file(
        model,
        file_bytes,
        fmt=fmt,
        signature=signature,
        run=run,
        actor=actor,
        file_name=getattr(clean["file"], "name", "model"),
        params=estimator_params(loaded),
        training_data=training_data,
        description=clean.get("description", ""),
        extra_lineage={"target": target, "uploaded": {"format": fmt, "size_bytes": len(file_bytes)}},
    )


def register_model_file(
    model: RegisteredModel,
    file_bytes: bytes,
    *,
    fmt: str,
    signature: dict,
    run: Run | None,
    actor,
    file_name: str = "model",
    params: dict | None = None,
    training_data: DatasetVersion | None = None,
    description: str = "",
    extra_lineage: dict | None = None,
) -> ModelVersion:
    """Version n+1 from model bytes `checked_model` accepted: stored under `run` (or a run of its own,
    source "uploaded", in "<model> uploads") and pinned by sha256. Nothing stays stored if the version cannot be made.

    The MLflow surface registers a logged model here while its run may still be running (MLflow's `log_model`
    registers before `end_run`); the file is the run's from then on, whatever the run logs after.
    """
    require(actor, "registry.add_modelversion", denied("registering model versions"))
    stored = []
    try:
        with transaction.atomic():
            if run is None:
                experiment = _uploads_experiment(model, actor)
                run = experiment_services.create_run(
                    experiment,
                    actor=actor,
                    name=file_name[:200],
                    source=Run.Source.UPLOADED,
                    input_versions=[training_data.pk] if training_data is not None else [],
                )
                if params:
                    experiment_services.log_batch(run, actor=actor, params=params)
                run = experiment_services.finish_run(run, actor=actor)
            elif training_data is not None:
                run.input_versions.add(training_data)
            # One registration per run at a time: a double click waits here, then finds the file and the version
            # the first made (a Conflict naming it), instead of racing it for the run's next model path.
            Run.objects.select_for_update().filter(pk=run.pk).first()
            # The same bytes registered again from one run (under another model) pin the file already there.
            artifact = run.artifacts.filter(path__startswith="model/", sha256=model_files.sha256(file_bytes)).first()
            if artifact is None:
                artifact = experiment_services.attach_model_file(
                    run, file_bytes, extension=model_files.EXTENSIONS[fmt], actor=actor
                )
                stored.append(artifact.file)
            return create_version(
                model,
                run,
                artifact,
                signature=signature,
                fmt=fmt,
                actor=actor,
                description=description,
                metrics_source="platform" if run.source == Run.Source.TRAINED else "uploader",
                extra_lineage=extra_lineage,
            )
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise


def _given_run(clean: dict) -> Run | None:
    if "run" not in clean:
        return None
    run = Run.objects.filter(pk=clean["run"]).first()
    if run is None:
        raise ValidationError({"run": f"There is no run {clean['run']}."})
    if run.status != Run.Status.FINISHED:
        raise ValidationError({"run": f"Run {run.pk} is {run.status}; finish it before registering its model."})
    return run


def _given_training_data(clean: dict) -> DatasetVersion | None:
    """The dataset version the model was fitted on, holding the target column when one is named."""
    if "training_dataset_version" not in clean:
        return None
    training_data = DatasetVersion.objects.filter(pk=clean["training_dataset_version"]).first()
    if training_data is None:
        raise ValidationError(
            {"training_dataset_version": f"There is no dataset version {clean['training_dataset_version']}."}
        )
    columns = [column["name"] for column in training_data.schema or []]
    if (target := clean.get("target")) is not None and columns and target not in columns:
        raise ValidationError({"target": f"{training_data} has no column “{target}”."})
    return training_data


def _uploads_experiment(model: RegisteredModel, actor) -> Experiment:
    name = f"{model.name} uploads"
    found = Experiment.objects.filter(name__iexact=name).first()
    return found or experiment_services.create_experiment(
        name=name, description=f"Model files uploaded as versions of {model.name}.", actor=actor
    )


def register_run_file(
    model: RegisteredModel,
    run: Run,
    *,
    path: str,
    actor,
    signature=None,
    sample=None,
    task: str | None = None,
    description: str = "",
) -> ModelVersion:
    """Version n+1 from a model file a finished run already holds (logged or trained), checked like an upload."""
    require(actor, "registry.add_modelversion", denied("registering model versions"))
    if run.status != Run.Status.FINISHED:
        raise ValidationError({"run": f"Run {run.pk} is {run.status}; only finished runs can be registered."})
    artifact = run.artifacts.filter(path=path).first()
    if artifact is None:
        raise ValidationError({"path": f"Run {run.pk} has no artifact at “{path}”."})
    if signature is not None:
        signature = schemas.validate(schemas.VersionUpload, {"signature": signature, "file": None}, partial=True)[
            "signature"
        ]
    frame = read_sample(sample) if sample is not None else None
    if signature is None and frame is None:
        signature = _logged_signature(run)
    if signature is None and frame is None:
        raise ValidationError({"signature": "Send a signature, or a sample of input rows to infer it."})
    try:
        with default_storage.open(artifact.file, "rb") as handle:
            data = handle.read(settings.MODEL_MAX_UPLOAD_BYTES + 1)
    except OSError:
        raise ValidationError({"path": f"The file of “{path}” is missing from storage."}) from None
    if model_files.sha256(data) != artifact.sha256:
        raise ValidationError({"path": f"The file of “{path}” no longer matches its recorded sha256."})
    fmt, _, signature = checked_model(data, signature, frame, task)
    return create_version(
        model,
        run,
        artifact,
        signature=signature,
        fmt=fmt,
        actor=actor,
        description=description,
        metrics_source="platform" if run.source == Run.Source.TRAINED else "uploader",
    )


def _logged_signature(run: Run) -> dict | None:
    """The run's own `model/signature.json` (trained runs write one; scripts may log one), when it is valid."""
    logged = run.artifacts.filter(path=SIGNATURE_PATH).first()
    if logged is None:
        return None
    try:
        with default_storage.open(logged.file, "rb") as handle:
            raw = json.load(handle)
    except (OSError, ValueError):
        return None
    try:
        schemas.validate(schemas.Signature, raw)
    except ValidationError:
        return None
    return raw  # as written: trained runs' columns also carry their dtype


def model_files_of(run: Run) -> list[str]:
    """Paths of the run's artifacts that can be registered: skops or ONNX files."""
    paths = run.artifacts.order_by("path").values_list("path", flat=True)
    return [path for path in paths if path.lower().endswith((".skops", ".onnx"))]
