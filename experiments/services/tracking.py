"""Tracking actions: experiments, runs, and what runs log (params, metrics, tags, artifacts).

Logging is the hot path (scripts send batches of up to 10,000 points), so payloads are checked
with plain Python here rather than per-item DRF serializers, and written with `bulk_create` in one
transaction: a batch is stored whole or not at all. Run creation and finishing are audited; each
logged point is not (the run's history is its own record).
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from experiments import metric_store
from experiments.models import DatasetVersion, Experiment, Param, Run, RunArtifact
from experiments.services.permissions import require as _require
from mlops_site import audit
from mlops_site.api.parsers import as_utc, text_problem

__all__ = [
    "create_experiment",
    "create_run",
    "finish_run",
    "log_batch",
    "upload_artifact",
]

MAX_KEY = 250
MAX_PARAM_VALUE = 6000


def _require_owner(run: Run, actor) -> None:
    if run.user_id != actor.pk and not actor.has_perm("experiments.change_run"):
        raise PermissionDenied("Only the person who started this run (or an admin) can log to it.")


@transaction.atomic
def create_experiment(*, name: str, description: str = "", actor) -> Experiment:
    _require(actor, "experiments.add_experiment", "creating experiments")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "An experiment needs a name."})
    taken = ValidationError({"name": f"An experiment named “{name}” already exists."})
    if Experiment.objects.filter(name__iexact=name).exists():
        raise taken
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(name=name[:100], description=description.strip(), owner=actor)
    except IntegrityError:
        raise taken from None
    audit.record(actor=actor, action="experiment.created", target=experiment, after={"name": name})
    return experiment


@transaction.atomic
def create_run(
    experiment: Experiment,
    *,
    actor,
    name: str = "",
    tags: dict | None = None,
    input_versions: list[int] | None = None,
    parent: Run | None = None,
    source: str = Run.Source.LOGGED,
    code_version: str = "",
    command: str = "",
    notes: str = "",
) -> Run:
    """Start a run (status running) that params, metrics and artifacts are then logged to."""
    _require(actor, "experiments.add_run", "creating runs")
    tags = _clean_tags(tags or {})
    versions = list(DatasetVersion.objects.filter(pk__in=input_versions or []))
    missing = sorted(set(input_versions or []) - {v.pk for v in versions})
    if missing:
        raise ValidationError({"input_versions": f"Unknown dataset version id(s): {', '.join(map(str, missing))}."})
    if parent is not None and parent.experiment_id != experiment.pk:
        raise ValidationError({"parent": "A parent run must belong to the same experiment."})
    run = Run.objects.create(
        experiment=experiment,
        name=(name or "").strip()[:200],
        user=actor,
        tags=tags,
        parent=parent,
        source=source,
        code_version=code_version[:100],
        command=command,
        notes=notes,
    )
    run.input_versions.set(versions)
    audit.record(actor=actor, action="run.created", target=run, after={"experiment": experiment.name, "source": source})
    return run


def _clean_tags(tags: Any) -> dict[str, str]:
    if not isinstance(tags, dict):
        raise ValidationError({"tags": "Tags must be an object of names to values."})
    cleaned = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise ValidationError({"tags": f"Tag names must be 1 to {MAX_KEY} characters."})
        cleaned[key] = "" if value is None else str(value)
    return cleaned


def _parse_metrics(metrics: Any, now: datetime) -> list[tuple[str, float, int, datetime]]:
    if not isinstance(metrics, list):
        raise ValidationError({"metrics": "Metrics must be a list of {key, value, step?, timestamp?} objects."})
    if len(metrics) > settings.RUN_LOG_BATCH_LIMIT:
        raise ValidationError(
            {"metrics": f"At most {settings.RUN_LOG_BATCH_LIMIT:,} points per batch; this one has {len(metrics):,}."}
        )
    parsed = []
    append, isfinite, epoch = parsed.append, math.isfinite, datetime.fromtimestamp
    for index, point in enumerate(metrics):  # the hot loop: no work beyond the checks
        if type(point) is not dict:
            raise ValidationError({f"metrics[{index}]": "Each point must be an object with key and value."})
        key, value, step, stamp = point.get("key"), point.get("value"), point.get("step", 0), point.get("timestamp")
        if type(key) is not str or not key or len(key) > MAX_KEY:
            raise ValidationError({f"metrics[{index}].key": f"A metric name of 1 to {MAX_KEY} characters is required."})
        if type(value) not in (int, float) or not isfinite(value):
            raise ValidationError({f"metrics[{index}].value": f"The value must be a finite number, got {value!r}."})
        if type(step) is not int or not -(2**63) <= step < 2**63:
            raise ValidationError({f"metrics[{index}].step": f"The step must be a 64-bit integer, got {step!r}."})
        if type(stamp) is int and 0 <= stamp < 253_402_300_800_000:  # epoch ms up to year 9999
            when = epoch(stamp / 1000, tz=UTC)
        else:
            when = _parse_timestamp(stamp, now, f"metrics[{index}].timestamp")
        append((key, float(value), step, when))
    return parsed


def _parse_timestamp(raw: Any, now: datetime, where: str) -> datetime:
    """ISO 8601 text, or milliseconds since the epoch as MLflow clients send; default now."""
    if raw is None:
        return now
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        try:
            return datetime.fromtimestamp(raw / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(raw, str):
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
        if parsed is not None and (utc := as_utc(parsed)) is not None:
            return utc
    raise ValidationError({where: "Use ISO 8601 text or milliseconds since the epoch."})


def _parse_params(params: Any) -> dict[str, str]:
    if not isinstance(params, dict):
        raise ValidationError({"params": "Params must be an object of names to values."})
    cleaned = {}
    for key, value in params.items():
        if not key or len(key) > MAX_KEY:
            raise ValidationError({"params": f"Param names must be 1 to {MAX_KEY} characters."})
        if isinstance(value, dict | list):
            raise ValidationError({f"params.{key}": "Param values must be text, numbers or booleans."})
        text = "" if value is None else str(value)
        if len(text) > MAX_PARAM_VALUE:
            raise ValidationError({f"params.{key}": f"At most {MAX_PARAM_VALUE} characters."})
        cleaned[key] = text
    return cleaned


@transaction.atomic
def log_batch(run: Run, *, actor, params: Any = None, metrics: Any = None, tags: Any = None) -> dict[str, int]:
    """Store params, metric points and tags of a running run, all of them or none."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    _require_owner(run, actor)
    if run.is_finished:
        raise ValidationError({"run": f"The run is {run.status}; nothing can be logged to it any more."})
    now = timezone.now()
    points = _parse_metrics(metrics or [], now)
    new_params = _parse_params(params or {})
    new_tags = _clean_tags(tags or {})
    existing = dict(Param.objects.filter(run=run, key__in=list(new_params)).values_list("key", "value"))
    conflicts = {
        k: f"already set to “{existing[k]}”; params cannot change"
        for k, v in new_params.items()
        if k in existing and existing[k] != v
    }
    if conflicts:
        raise ValidationError({f"params.{k}": message for k, message in conflicts.items()})
    Param.objects.bulk_create([Param.build(run, k, v) for k, v in new_params.items() if k not in existing])
    metric_store.insert_points(run.pk, points)
    if new_tags:
        run.tags = {**run.tags, **new_tags}
        run.save(update_fields=["tags"])
    return {"params": len(new_params) - len(existing), "metrics": len(points), "tags": len(new_tags)}


@transaction.atomic
def finish_run(run: Run, *, actor, status: str = Run.Status.FINISHED) -> Run:
    run = Run.objects.select_for_update().get(pk=run.pk)
    _require_owner(run, actor)
    if status not in (Run.Status.FINISHED, Run.Status.FAILED, Run.Status.KILLED):
        raise ValidationError({"status": "Finish a run as finished, failed or killed."})
    if run.is_finished:
        raise ValidationError({"status": f"The run is already {run.status}."})
    run.status, run.ended_at = status, timezone.now()
    run.save(update_fields=["status", "ended_at"])
    audit.record(actor=actor, action="run.finished", target=run, after={"status": status})
    return run


MAX_ARTIFACT_PATH = 300
MAX_NAME_BYTES = 255  # a file or folder name on common filesystems (ext4, APFS, NTFS)


def _artifact_path(run: Run, raw: str) -> str:
    """A relative path the storage can hold and no other artifact of the run is in the way of.

    A name over 255 bytes, or a path under another artifact's file name ("model" then "model/x"),
    failed in the filesystem with a 500.
    """
    path = raw.strip().lstrip("/")
    parts = path.split("/")
    if not path or len(path) > MAX_ARTIFACT_PATH or any(part in ("", ".", "..") for part in parts):
        raise ValidationError(
            {
                "path": f"Give a relative path of at most {MAX_ARTIFACT_PATH} characters without “..”, e.g. plots/roc.png."
            }
        )
    if problem := text_problem(path):
        raise ValidationError({"path": problem})
    if long := [part for part in parts if len(part.encode()) > MAX_NAME_BYTES]:
        raise ValidationError(
            {"path": f"“{long[0][:40]}…” is over {MAX_NAME_BYTES} bytes; shorten each name in the path."}
        )
    ancestors = ["/".join(parts[:i]) for i in range(1, len(parts))]
    clash = (
        RunArtifact.objects.filter(run=run)
        .filter(Q(path=path) | Q(path__in=ancestors) | Q(path__startswith=f"{path}/"))
        .values_list("path", flat=True)
        .first()
    )
    if clash == path:
        raise ValidationError({"path": f"The run already has an artifact at “{path}”."})
    if clash is not None:
        raise ValidationError({"path": f"“{path}” clashes with the artifact “{clash}”: a name is a file or a folder."})
    return path


def upload_artifact(run: Run, upload, *, actor, path: str = "") -> RunArtifact:
    """Store a file under the run, with its sha256 and size; a path can be written once."""
    _require_owner(run, actor)
    path = _artifact_path(run, path or getattr(upload, "name", "") or "")
    if run.is_finished:
        raise ValidationError({"run": f"The run is {run.status}; artifacts cannot be added any more."})
    sha, size = hashlib.sha256(), 0
    with tempfile.TemporaryFile() as spool:
        for chunk in upload.chunks():
            size += len(chunk)
            if size > settings.ARTIFACT_MAX_UPLOAD_BYTES:
                raise ValidationError(
                    {"file": f"Artifacts are limited to {settings.ARTIFACT_MAX_UPLOAD_BYTES / 1e6:.0f} MB."}
                )
            sha.update(chunk)
            spool.write(chunk)
        spool.seek(0)
        try:
            stored = default_storage.save(f"runs/{run.pk}/{path}", File(spool))
        except OSError as exc:  # what the checks above cannot foresee (a storage's own name rules)
            raise ValidationError({"path": f"“{path}” cannot be stored: {exc.strerror or exc}."}) from None
    try:
        with transaction.atomic():
            artifact = RunArtifact.objects.create(
                run=run,
                path=path,
                file=stored,
                content_type=getattr(upload, "content_type", "") or "",
                size_bytes=size,
                sha256=sha.hexdigest(),
            )
            audit.record(
                actor=actor, action="run.artifact_added", target=run, after={"path": path, "sha256": artifact.sha256}
            )
    except BaseException:
        default_storage.delete(stored)
        raise
    return artifact
