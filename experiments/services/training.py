"""Training actions: validate a training request, queue it, and record what the worker produced.

The request is checked against the dataset version's schema (algorithm, hyperparameters through
scikit-learn's own validation, columns, split) before anything is queued. The worker then trains
with `experiments.training` and the result is written to the run as params, metrics and
artifacts: the fitted pipeline (skops) with its sha256, its signature, and the evaluation data.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from experiments import metric_store, schemas
from experiments.models import DatasetVersion, Experiment, Param, Run, RunArtifact
from experiments.services.tracking import create_experiment, create_run
from mlops_site import audit, jobs
from mlops_site.permissions import require
from mlops_site.schemas import validate

TRAINING_DENIED = "Your role does not allow training models. Ask an admin for the data-scientist role."

__all__ = [
    "Holdout",
    "begin_training",
    "holdout_of",
    "load_pipeline",
    "record_training",
    "refit_training",
    "reproduce_run",
    "settle_sweep",
    "start_refit",
    "start_sweep",
    "start_training",
    "start_training_request",
    "training_rows_of",
    "validate_training",
]

REQUEST_FIELDS = ("algorithm", "target", "task", "holdout", "cv_folds", "seed", "features")


def validate_training(version: DatasetVersion, **request: Any) -> dict:
    """The normalised request, or a ValidationError naming the field, without touching the data."""
    return dict(validate(schemas.TrainingSettings, request, context={"version": version}))


@transaction.atomic
def start_training_request(data: Any, *, actor, sweep: bool = False, new_experiment: str = "") -> Run:
    """A training run (`schemas.TrainingRequest`), or with `sweep` a sweep (`schemas.SweepRequest`).

    The one entry of the API's training and sweep endpoints and of the training page.
    `new_experiment` names an experiment to create first (the page's "new experiment" field); it is
    created in the same transaction, so a refused request leaves no empty experiment behind.
    """
    require(actor, "experiments.add_run", TRAINING_DENIED)
    if new_experiment:
        try:
            experiment = create_experiment(name=new_experiment, actor=actor)
        except ValidationError as exc:
            raise ValidationError({"new_experiment": exc.messages}) from None
        data = {**data, "experiment": experiment.pk}
    if sweep:
        clean = dict(validate(schemas.SweepRequest, data))
        experiment, version = clean.pop("experiment"), clean.pop("dataset_version")
        return start_sweep(experiment, version, actor=actor, **clean)
    clean = dict(validate(schemas.TrainingRequest, data))
    experiment, version, name = clean.pop("experiment"), clean.pop("dataset_version"), clean.pop("name")
    return start_training(experiment, version, actor=actor, name=name, **clean)


@transaction.atomic
def start_training(
    experiment: Experiment,
    version: DatasetVersion,
    *,
    actor,
    name: str = "",
    parent: Run | None = None,
    reproduced_from: Run | None = None,
    rate_limit: bool = True,
    **request: Any,
) -> Run:
    """Create a run (source "trained") and queue the job that trains it on a worker.

    `rate_limit=False` is for callers that already counted (a sweep) or are bounded otherwise (retraining).
    """
    require(actor, "experiments.add_run", TRAINING_DENIED)
    normalised = validate_training(version, **request)
    if rate_limit:
        jobs.check_rate("training.run", actor)
    run = create_run(
        experiment,
        actor=actor,
        name=name or f"{normalised['algorithm']} on {version}",
        input_versions=[version.pk],
        parent=parent,
        source=Run.Source.TRAINED,
        tags={"algorithm": normalised["algorithm"]},
    )
    job = jobs.enqueue(
        kind="training.run",
        task="experiments.tasks.train_run",
        actor=actor,
        title=f"Train {run}",
        params={"run_id": run.pk, "version_id": version.pk, "request": normalised},
        target=run,
    )
    run.job, run.training_request, run.reproduced_from = job, normalised, reproduced_from
    run.save(update_fields=["job", "training_request", "reproduced_from"])
    audit.record(actor=actor, action="run.training_queued", target=run, after={"request": normalised})
    return run


@transaction.atomic
def reproduce_run(run: Run, *, actor) -> Run:
    """Train again from the run's recorded lineage: same dataset version, request and seed."""
    if run.source != Run.Source.TRAINED or not run.training_request:
        raise ValidationError({"run": "Only runs trained here record what it takes to reproduce them."})
    version = run.input_versions.first()
    if version is None:
        raise ValidationError({"run": "The run's dataset version is gone; it cannot be reproduced."})
    return start_training(
        run.experiment, version, actor=actor, name=f"reproduce {run}", reproduced_from=run, **run.training_request
    )


@transaction.atomic
def start_refit(
    experiment: Experiment, version: DatasetVersion, *, actor, refit_of: str, name: str = "", job=None
) -> Run:
    """A run (source "trained", tagged `refit_of`) that `refit_training` fits: a model made anywhere, fitted again.

    It has no `training_request`: its recipe is the model's own parameters, so it is refit again next time
    and never "reproduced" through the catalogue. `job` is the job that fits it (a retraining's).
    """
    require(actor, "experiments.add_run", TRAINING_DENIED)
    run = create_run(
        experiment,
        actor=actor,
        name=name or f"refit of {refit_of} on {version}",
        input_versions=[version.pk],
        source=Run.Source.TRAINED,
        tags={"refit_of": refit_of},
    )
    if job is not None:
        run.job = job
        run.save(update_fields=["job"])
    audit.record(actor=actor, action="run.refit_queued", target=run, after={"refit_of": refit_of})
    return run


def refit_training(
    run: Run,
    version: DatasetVersion,
    model,
    *,
    target: str,
    features: list[str],
    task: str | None = None,
    inputs: list[dict] | None = None,
    seed: int = 0,
    holdout: float = 0.2,
    progress=None,
) -> Run:
    """Fit a copy of `model` on `version` for `run` (`experiments.training.refit`) and record it as a training.

    Params, metrics and artifacts are a trained run's (target, task, the split in evaluation.json), so the
    gates read its holdout with `holdout_of` like any run trained here. A failure raises (TrainingError
    with the reason) and leaves the run running: the caller says why on its own record, then calls
    `fail_training`.
    """
    from experiments import training
    from experiments.services.datasets import load_frame

    begin_training(run)
    frame = load_frame(version)
    result = training.refit(
        model,
        frame,
        target=target,
        features=features,
        task=task,
        inputs=inputs,
        holdout=holdout,
        seed=seed,
        progress=progress,
        importance_repeats=settings.TRAINING_IMPORTANCE_REPEATS,
        importance_max_rows=settings.TRAINING_IMPORTANCE_MAX_ROWS,
    )
    request = {
        "algorithm": result.algorithm,
        "target": target,
        "task": result.task,
        "holdout": holdout,
        "cv_folds": None,
        "seed": seed,
        "features": list(features),
    }
    return record_training(run, request, result)


def _artifact(run: Run, path: str, data: bytes, content_type: str) -> RunArtifact:
    stored = default_storage.save(f"runs/{run.pk}/{path}", ContentFile(data))
    return RunArtifact.objects.create(
        run=run,
        path=path,
        file=stored,
        content_type=content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@transaction.atomic
def record_training(run: Run, request: dict, result) -> Run:
    """Write a finished training result to its run: params, metrics, artifacts, status finished."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    now = timezone.now()
    params = {key: request.get(key) for key in REQUEST_FIELDS}
    params["features"] = ",".join(request.get("features") or [])
    params["task"] = result.task
    params.update({key: value for key, value in result.params.items() if key not in params})
    Param.objects.bulk_create(
        [Param.build(run, key, str(value)) for key, value in sorted(params.items())],
        ignore_conflicts=True,
    )
    points = [(key, float(value), 0, now) for key, value in result.metrics.items()]
    for key, scores in (result.cv_scores or {}).items():
        points += [(f"cv_{key}", float(score), fold, now) for fold, score in enumerate(scores)]
    for key, curve in (result.curves or {}).items():
        points += [(key, float(value), int(step), now) for step, value in curve]
    metric_store.insert_points(run.pk, points)
    model = _artifact(run, "model/pipeline.skops", result.model_bytes, "application/octet-stream")
    if model.sha256 != result.model_sha256:
        raise RuntimeError("The stored model does not match the hash computed at training time.")
    _artifact(run, "model/signature.json", json.dumps(result.signature, indent=2).encode(), "application/json")
    evaluation = {
        key: getattr(result, key)
        for key in ("evaluation", "importance", "split", "library_versions")
        if hasattr(result, key)
    }
    _artifact(run, "evaluation.json", json.dumps(evaluation, default=str).encode(), "application/json")
    run.status, run.ended_at = Run.Status.FINISHED, now
    run.save(update_fields=["status", "ended_at"])
    audit.record(
        actor=None, action="run.trained", target=run, after={"metrics": result.metrics, "model_sha256": model.sha256}
    )
    return run


def begin_training(run: Run) -> None:
    """A run starts when a worker takes it up, so its duration is the training's, not the queue's."""
    Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(started_at=timezone.now())


def fail_training(run: Run, error: str, *, status: str = Run.Status.FAILED) -> None:
    """Mark a run whose training stopped; the error and traceback stay on its job."""
    with transaction.atomic():
        if Run.objects.filter(pk=run.pk, status=Run.Status.RUNNING).update(status=status, ended_at=timezone.now()):
            audit.record(actor=None, action=f"run.{status}", target=run, after={"error": error[:500]})


@transaction.atomic
def start_sweep(
    experiment: Experiment,
    version: DatasetVersion,
    *,
    actor,
    search: str,
    space: Any,
    trials: int | None = None,
    name: str = "",
    **request: Any,
) -> Run:
    """A parent run with one child training run per trial; workers train the children in parallel.

    Every trial is validated before anything is queued, so a bad value anywhere stores nothing.
    """
    require(actor, "experiments.add_run", TRAINING_DENIED)
    sweep = validate(schemas.SweepSettings, {"search": search, "space": space, "trials": trials})
    search, space = sweep["search"], sweep["space"]
    base_params = request.pop("params", None) or {}
    combos = schemas.sweep_trials(search, space, sweep["trials"], request.get("seed", 0))
    checked = []
    for index, combo in enumerate(combos):
        try:
            checked.append(validate_training(version, params={**base_params, **combo}, **request))
        except ValidationError as exc:
            raise ValidationError(
                {f"trial[{index}] {combo}": [m for ms in exc.message_dict.values() for m in ms]}
            ) from None
    jobs.check_rate("training.run", actor, count=len(checked))
    parent = create_run(
        experiment,
        actor=actor,
        name=name or f"{search} sweep of {checked[0]['algorithm']} on {version}",
        input_versions=[version.pk],
        source=Run.Source.TRAINED,
        tags={"sweep": search, "algorithm": checked[0]["algorithm"], "trials": str(len(checked))},
    )
    Param.objects.bulk_create(
        [
            Param.build(parent, "search", search),
            Param.build(parent, "space", json.dumps(space, sort_keys=True)),
        ]
    )
    for combo, normalised in zip(combos, checked, strict=True):
        label = " ".join(f"{key}={value}" for key, value in sorted(combo.items()))
        start_training(
            experiment,
            version,
            actor=actor,
            parent=parent,
            name=f"{checked[0]['algorithm']} {label}",
            rate_limit=False,
            **normalised,
        )
    return parent


def settle_sweep(parent: Run) -> None:
    """Finish a sweep's parent run once none of its children is still running."""
    with transaction.atomic():
        parent = Run.objects.select_for_update().get(pk=parent.pk)
        if parent.is_finished or parent.children.filter(status=Run.Status.RUNNING).exists():
            return
        failed = not parent.children.filter(status=Run.Status.FINISHED).exists()
        parent.status = Run.Status.FAILED if failed else Run.Status.FINISHED
        parent.ended_at = timezone.now()
        parent.save(update_fields=["status", "ended_at"])
        audit.record(actor=None, action=f"run.{parent.status}", target=parent, after={"sweep": True})


class Holdout:
    """A trained run's holdout rows (all columns of its dataset version), the target as training saw it, the task."""

    def __init__(self, frame, y, target: str, task: str, version: DatasetVersion):
        self.frame, self.y, self.target, self.task, self.version = frame, y, target, task, version


def _split_of(run: Run):
    """The run's dataset version as a frame and its holdout index labels; ValueError with a sentence."""
    from experiments.services.datasets import load_frame

    evaluation = run.artifacts.filter(path="evaluation.json").first()
    version = run.input_versions.order_by("pk").first()
    if evaluation is None or version is None:
        raise ValueError(f"Run {run.pk} was not trained here, so its holdout rows are unknown.")
    try:
        with default_storage.open(evaluation.file, "rb") as handle:
            index = json.load(handle)["split"]["test_index"]
        frame = load_frame(version)
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"The holdout of run {run.pk} cannot be read back: {exc}.") from None
    return frame, index, version


def training_rows_of(run: Run):
    """The rows a trained run was fitted on (its dataset version without its holdout), or None when unknown."""
    try:
        frame, index, _ = _split_of(run)
    except ValueError:
        return None
    return frame.drop(index=[label for label in index if label in frame.index])


def load_pipeline(artifact: RunArtifact, signature: dict | None = None):
    """The fitted model stored as `artifact`, refused (ValueError) unless its bytes match the recorded sha256.

    A skops file loads with the platform's allow-list plus the admin's MODEL_TRUSTED_TYPES; an ONNX
    file reads its task and class labels from `signature` (the version's), which its outputs lack.
    """
    from experiments import training

    with default_storage.open(artifact.file, "rb") as handle:
        data = handle.read()
    options = {}
    if settings.MODEL_TRUSTED_TYPES:
        options["extra_trusted"] = settings.MODEL_TRUSTED_TYPES
    if data[:4] != b"PK\x03\x04" and signature:
        output = signature.get("output") or {}
        options.update(classes=output.get("classes"), task=output.get("task"))
    return training.load_model(data, artifact.sha256, **options)


def holdout_of(run: Run) -> Holdout:
    """The rows a trained run was evaluated on, read back from its dataset version by the recorded index.

    Raises ValueError with a sentence when the run was not trained here or its data is gone.
    """
    from experiments import training

    params = dict(run.params.filter(key__in=["target", "task"]).values_list("key", "value"))
    if "target" not in params:
        raise ValueError(f"Run {run.pk} was not trained here, so its holdout rows are unknown.")
    frame, index, version = _split_of(run)
    missing = [label for label in index if label not in frame.index]
    if missing:
        raise ValueError(f"Dataset version {version.pk} no longer holds {len(missing)} of the holdout rows.")
    rows, task = frame.loc[index], params.get("task", "")
    return Holdout(rows, training._target_values(rows[params["target"]], task), params["target"], task, version)
