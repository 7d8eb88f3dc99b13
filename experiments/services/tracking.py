"""Tracking actions: experiments, runs, and what runs log (params, metrics, tags, artifacts).

Logging is the hot path (scripts send batches of up to 10,000 points): `schemas.LogBatch` checks a
batch's metric list in one plain loop rather than a serializer per point, and it is written with
`bulk_create` in one transaction: a batch is stored whole or not at all. Run creation and finishing are audited; each
logged point is not (the run's history is its own record).
"""

from __future__ import annotations

import hashlib
import tempfile
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from experiments import metric_store, schemas
from experiments.models import DatasetVersion, Experiment, Param, Run, RunArtifact
from mlops_site import audit
from mlops_site.api.parsers import text_problem
from mlops_site.permissions import require
from mlops_site.schemas import validate

__all__ = [
    "attach_model_file",
    "check_can_log",
    "create_experiment",
    "create_run",
    "delete_tag",
    "end_run",
    "finish_run",
    "log_batch",
    "rename_run",
    "reopen_run",
    "upload_artifact",
]

DENIED = "Your role does not allow {}. Ask an admin for the data-scientist role."


def _require_owner(run: Run, actor) -> None:
    """The run's own author may log to it; anyone else needs change_run (an admin)."""
    if actor is not None and run.user_id == actor.pk:
        return
    require(actor, "experiments.change_run", "Only the person who started this run (or an admin) can log to it.")


@transaction.atomic
def create_experiment(*, name: str, description: str = "", actor) -> Experiment:
    require(actor, "experiments.add_experiment", DENIED.format("creating experiments"))
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
    require(actor, "experiments.add_run", DENIED.format("creating runs"))
    tags = validate(schemas.RunTags, {"tags": tags or {}})["tags"]
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


@transaction.atomic
def log_batch(
    run: Run,
    data: Any = None,
    *,
    actor,
    params: Any = None,
    metrics: Any = None,
    tags: Any = None,
    non_finite: bool = False,
    after_finish: bool = False,
) -> dict[str, int]:
    """Store params, metric points and tags of a running run, all of them or none.

    `data` is the batch as the API receives it (`schemas.LogBatch`); scripts here may pass the parts instead.
    The MLflow surface passes `non_finite` (NaN and ±Infinity are metric values there) and `after_finish`
    (MLflow lets a script log to a run it has ended).
    """
    run = Run.objects.select_for_update().get(pk=run.pk)
    _require_owner(run, actor)
    if run.is_finished and not after_finish:
        raise ValidationError({"run": f"The run is {run.status}; nothing can be logged to it any more."})
    now = timezone.now()
    if data is None:
        data = {"params": params, "metrics": metrics, "tags": tags}
    batch = validate(schemas.LogBatch, data, context={"now": now, "non_finite": non_finite})
    points, new_params, new_tags = batch["metrics"], batch["params"], batch["tags"]
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


@transaction.atomic
def reopen_run(run: Run, *, actor) -> Run:
    """Set a logged run running again (MLflow's `start_run(run_id=...)` resumes a run it has ended).

    Only runs logged from outside: a run the site trained or an upload is a record of what the site did."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    _require_owner(run, actor)
    if run.source != Run.Source.LOGGED:
        raise ValidationError(
            {"run": f"Only runs logged from outside can be resumed; this one is “{run.get_source_display()}”."}
        )
    if not run.is_finished:
        return run
    previous = run.status
    run.status, run.ended_at = Run.Status.RUNNING, None
    run.save(update_fields=["status", "ended_at"])
    audit.record(actor=actor, action="run.resumed", target=run, before={"status": previous})
    return run


@transaction.atomic
def end_run(run: Run, *, actor, status: str, ended_at=None) -> Run:
    """Finish a run, or change how an ended run ended (MLflow lets `end_run` be called again).

    `finish_run` is the site's one-way finish; this is its MLflow-surface sibling, for logged runs."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    _require_owner(run, actor)
    if status not in (Run.Status.FINISHED, Run.Status.FAILED, Run.Status.KILLED):
        raise ValidationError({"status": "End a run as finished, failed or killed."})
    if run.is_finished and run.source != Run.Source.LOGGED:
        raise ValidationError({"status": f"The run is already {run.status}."})
    before = run.status
    run.status, run.ended_at = status, ended_at or timezone.now()
    run.save(update_fields=["status", "ended_at"])
    if before != status:
        audit.record(
            actor=actor, action="run.finished", target=run, before={"status": before}, after={"status": status}
        )
    return run


def check_can_log(run: Run, actor) -> None:
    """Raise PermissionDenied unless `actor` may log to `run` (its author, or an admin)."""
    _require_owner(run, actor)


@transaction.atomic
def delete_tag(run: Run, key: str, *, actor) -> None:
    """Remove a tag (MLflow's `delete_tag`); an unknown key is an error, as there."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    _require_owner(run, actor)
    if key not in (run.tags or {}):
        raise ValidationError({"key": f"The run has no tag “{key[:100]}”."})
    run.tags = {k: v for k, v in run.tags.items() if k != key}
    run.save(update_fields=["tags"])


@transaction.atomic
def rename_run(run: Run, name: str, *, actor) -> Run:
    run = Run.objects.select_for_update().get(pk=run.pk)
    _require_owner(run, actor)
    name = (name or "").strip()[:200]
    if problem := text_problem(name):
        raise ValidationError({"name": problem})
    if name != run.name:
        before, run.name = run.name, name
        run.save(update_fields=["name"])
        audit.record(actor=actor, action="run.renamed", target=run, before={"name": before}, after={"name": name})
    return run


MAX_ARTIFACT_PATH = 300
MAX_NAME_BYTES = 255  # a file or folder name on common filesystems (ext4, APFS, NTFS)


def _artifact_path(run: Run, raw: str, *, replace: bool = False) -> str:
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
    if clash == path and replace:
        return path
    if clash == path:
        raise ValidationError({"path": f"The run already has an artifact at “{path}”."})
    if clash is not None:
        raise ValidationError({"path": f"“{path}” clashes with the artifact “{clash}”: a name is a file or a folder."})
    return path


def upload_artifact(
    run: Run, upload, *, actor, path: str = "", replace: bool = False, after_finish: bool = False
) -> RunArtifact:
    """Store a file under the run, with its sha256 and size; a path can be written once.

    The MLflow surface passes `replace` (MLflow overwrites a path; never one a model version pins) and
    `after_finish` (MLflow scripts upload to runs they have ended; only to runs logged from outside).
    """
    _require_owner(run, actor)
    path = _artifact_path(run, path or getattr(upload, "name", "") or "", replace=replace)
    if run.is_finished and not (after_finish and run.source == Run.Source.LOGGED):
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
            # Uploads to one run take turns here, so two at once to one path cannot both pass the check above.
            Run.objects.select_for_update().filter(pk=run.pk).first()
            previous = RunArtifact.objects.filter(run=run, path=path).first()
            if previous is not None and not replace:
                raise ValidationError({"path": f"The run already has an artifact at “{path}”."})
            if previous is not None:
                try:
                    previous.delete()
                except ProtectedError:
                    raise ValidationError(
                        {"path": f"“{path}” is the file of a model version; it cannot be replaced."}
                    ) from None
                transaction.on_commit(lambda name=previous.file: default_storage.delete(name))
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


def attach_model_file(run: Run, data: bytes, *, extension: str, actor) -> RunArtifact:
    """Store a model file (already checked by the registry) under the run, at the first free `model/model[-N].ext`.

    Unlike `upload_artifact` this also serves finished runs: registering an upload pins the file to the run
    it came from. The stored file is removed again if the row cannot be written.
    """
    taken = set(RunArtifact.objects.filter(run=run, path__startswith="model/").values_list("path", flat=True))
    path = next(
        candidate
        for n in range(1, len(taken) + 2)
        if (candidate := f"model/model.{extension}" if n == 1 else f"model/model-{n}.{extension}") not in taken
    )
    stored = default_storage.save(f"runs/{run.pk}/{path}", ContentFile(data))
    try:
        with transaction.atomic():
            artifact = RunArtifact.objects.create(
                run=run,
                path=path,
                file=stored,
                content_type="application/octet-stream",
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
            audit.record(
                actor=actor, action="run.artifact_added", target=run, after={"path": path, "sha256": artifact.sha256}
            )
    except BaseException:
        default_storage.delete(stored)
        raise
    return artifact
