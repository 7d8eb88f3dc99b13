"""Dataset actions: creating datasets, uploads with dedupe, profiling and cleaning."""

from __future__ import annotations

import hashlib
import tempfile
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max

from experiments.models import Dataset, DatasetVersion
from mlops_site import audit, jobs, lazy
from mlops_site.models import Job
from mlops_site.permissions import require

cleaning = lazy.module("experiments.cleaning")
tabular = lazy.module("experiments.tabular")

DENIED = "Your role does not allow {}. Ask an admin for the data-scientist role."

__all__ = [
    "apply_cleaning",
    "compute_profile",
    "create_dataset",
    "load_frame",
    "open_version",
    "preview_recipe",
    "row_transform",
    "serving_transform",
    "start_cleaning",
    "start_profile",
    "store_frame",
    "upload_version",
    "validate_recipe",
]


@transaction.atomic
def create_dataset(*, name: str, description: str = "", actor) -> Dataset:
    """A new, empty dataset; names are unique regardless of case."""
    require(actor, "experiments.add_dataset", DENIED.format("creating datasets"))
    taken = ValidationError({"name": f"A dataset named “{name.strip()}” already exists."})
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A dataset needs a name."})
    if len(name) > 100:
        raise ValidationError({"name": "At most 100 characters."})
    if Dataset.objects.filter(name__iexact=name).exists():
        raise taken
    try:
        with transaction.atomic():  # the constraint decides when two requests race
            dataset = Dataset.objects.create(name=name, description=description.strip(), owner=actor)
    except IntegrityError:
        raise taken from None
    audit.record(actor=actor, action="dataset.created", target=dataset, after={"name": name})
    return dataset


def upload_version(dataset: Dataset, upload, *, actor, target: str = "") -> tuple[DatasetVersion, bool]:
    """Store an uploaded CSV/Parquet as a new version, or return the version that has the same content.

    The file is hashed and parsed before anything is written, so a bad file leaves no row, no
    stored file and no job behind. Returns (version, created).
    """
    require(actor, "experiments.add_datasetversion", DENIED.format("uploading data"))
    with tempfile.TemporaryFile() as spool:
        try:
            digest = tabular.digest_upload(upload.chunks(), max_bytes=settings.DATASET_MAX_UPLOAD_BYTES, sink=spool)
        except tabular.TableError as exc:
            raise ValidationError({"file": str(exc)}) from None
        existing = DatasetVersion.objects.filter(dataset=dataset, sha256=digest.sha256).first()
        if existing:
            if target and target.strip() != existing.target:
                raise ValidationError(
                    {
                        "target": f"This file is already {existing} with target “{existing.target or 'none'}”; "
                        "a version's target cannot change."
                    }
                )
            return existing, False
        spool.seek(0)
        try:
            tabular.check_size(spool, digest, max_rows=settings.DATASET_MAX_ROWS, max_cells=settings.DATASET_MAX_CELLS)
            frame = tabular.read_table(spool, digest.format)
        except tabular.TableError as exc:
            raise ValidationError({"file": str(exc)}) from None
        target = (target or "").strip()
        if target and target not in frame.columns:
            raise ValidationError({"target": f"There is no column “{target}” in the file."})
        try:
            schema = tabular.infer_schema(frame)
        except Exception as exc:  # an odd column the reader let through: refuse it, don't 500
            raise ValidationError({"file": f"The columns' types cannot be determined: {exc}"}) from None
        spool.seek(0)
        stored = default_storage.save(f"datasets/{dataset.pk}/{digest.sha256}.{digest.format}", File(spool))
    try:
        return _create_version(
            dataset,
            actor=actor,
            stored=stored,
            digest=digest,
            frame_shape=frame.shape,
            schema=schema,
            target=target,
            original_filename=getattr(upload, "name", "")[:255],
        ), True
    except IntegrityError:
        # The same content was uploaded concurrently and won the race: hand back that version.
        default_storage.delete(stored)
        return DatasetVersion.objects.get(dataset=dataset, sha256=digest.sha256), False
    except BaseException:
        default_storage.delete(stored)
        raise


@transaction.atomic
def _create_version(
    dataset: Dataset,
    *,
    actor,
    stored: str,
    digest: tabular.Digest,
    frame_shape: tuple[int, int],
    schema: list[dict],
    target: str,
    original_filename: str = "",
    parent: DatasetVersion | None = None,
    recipe: list[dict] | None = None,
    profile_now: bool = True,
) -> DatasetVersion:
    Dataset.objects.select_for_update().get(pk=dataset.pk)  # numbers are handed out one at a time
    number = (DatasetVersion.objects.filter(dataset=dataset).aggregate(n=Max("number"))["n"] or 0) + 1
    version = DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        file=stored,
        format=digest.format,
        original_filename=original_filename,
        sha256=digest.sha256,
        size_bytes=digest.size,
        row_count=frame_shape[0],
        column_count=frame_shape[1],
        schema=schema,
        target=target,
        parent=parent,
        recipe=recipe,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        actor=actor,
        action="dataset_version.created",
        target=version,
        after={
            "sha256": digest.sha256,
            "rows": frame_shape[0],
            "columns": frame_shape[1],
            "parent": parent.pk if parent else None,
        },
    )
    if profile_now:
        _queue_profile(version, actor=actor)
    return version


def _queue_profile(version: DatasetVersion, *, actor) -> Job:
    job = jobs.enqueue(
        kind="dataset.profile",
        task="experiments.tasks.profile_version",
        actor=actor,
        title=f"Profile {version}",
        params={"version_id": version.pk},
        target=version,
    )
    version.profile_job = job
    version.save(update_fields=["profile_job"])
    return job


@transaction.atomic
def start_profile(version: DatasetVersion, *, actor) -> Job:
    """Re-run the profile and quality checks of a version (e.g. after thresholds changed)."""
    require(actor, "experiments.add_datasetversion", DENIED.format("profiling data"))
    version = DatasetVersion.objects.select_for_update().get(pk=version.pk)
    if version.profile_job and not version.profile_job.is_finished:
        return version.profile_job  # a double click gets the job already running
    job = _queue_profile(version, actor=actor)
    audit.record(actor=actor, action="dataset_version.profile_requested", target=version)
    return job


def open_version(version: DatasetVersion):
    return default_storage.open(version.file, "rb")


def load_frame(version: DatasetVersion, *, nrows: int | None = None):
    with open_version(version) as handle:
        return tabular.read_table(handle, version.format, nrows=nrows)


def compute_profile(version: DatasetVersion, *, progress=None) -> DatasetVersion:
    """Profile and quality-check a version (run on a worker); stores both on the row."""
    from django.utils import timezone

    from experiments import profiling, quality

    progress = progress or (lambda percent, message: None)
    progress(2, f"Reading {version.row_count:,} rows × {version.column_count} columns")
    frame = load_frame(version)
    progress(20, "Profiling columns")
    profile = profiling.profile_frame(frame, version.schema, progress=lambda p, m: progress(20 + 0.6 * p, m))
    progress(80, "Running quality checks")
    thresholds = quality.Thresholds(**settings.DATASET_QUALITY_THRESHOLDS)
    report = quality.run_checks(frame, version.schema, target=version.target or None, thresholds=thresholds)
    DatasetVersion.objects.filter(pk=version.pk).update(
        profile=profile, quality=report, quality_summary=DatasetVersion.summarise(report), profiled_at=timezone.now()
    )
    version.refresh_from_db()
    progress(98, "Profile and quality report saved")
    return version


def validate_recipe(version: DatasetVersion, steps: Any) -> list[dict]:
    """Check a recipe against the version's columns (and its profile) before anything is queued."""
    try:
        normalised = cleaning.validate_recipe(steps, version.columns, kinds=version.kinds)
    except cleaning.RecipeError as exc:
        raise ValidationError(exc.errors or {"steps": [str(exc)]}) from None
    empty = {c["name"] for c in (version.profile or {}).get("columns", []) if c["nulls"] == version.row_count}
    for index, step in enumerate(normalised):
        if step["op"] == "impute" and step["strategy"] != "constant" and step["column"] in empty:
            raise ValidationError(
                {
                    f"steps[{index}].column": [
                        f"“{step['column']}” has no values at all; impute it with a constant or drop it."
                    ]
                }
            )
    return normalised


def preview_recipe(version: DatasetVersion, steps: Any, *, actor, rows: int = 20) -> dict:
    """The first rows of the version after the recipe, to check it before running it for real."""
    require(actor, "experiments.add_datasetversion", DENIED.format("cleaning data"))
    normalised = validate_recipe(version, steps)
    head = load_frame(version, nrows=max(rows * 10, 200))
    try:
        cleaned = cleaning.apply_recipe(head, normalised)
    except cleaning.RecipeError as exc:
        raise ValidationError(exc.errors or {"steps": [str(exc)]}) from None
    shown = cleaned.head(rows)
    return {
        "columns": [str(c) for c in shown.columns],
        "rows": _jsonable_rows(shown),
        "steps": [cleaning.describe_step(step) for step in normalised],
        "rows_read": len(head),
        "rows_after": len(cleaned),
    }


def _jsonable_rows(frame) -> list[list]:
    import json

    return json.loads(frame.to_json(orient="values", date_format="iso"))


@transaction.atomic
def start_cleaning(version: DatasetVersion, steps: Any, *, actor) -> Job:
    """Queue a job that applies a recipe to a version, producing a child version."""
    require(actor, "experiments.add_datasetversion", DENIED.format("cleaning data"))
    normalised = validate_recipe(version, steps)
    job = jobs.enqueue(
        kind="dataset.clean",
        task="experiments.tasks.clean_version",
        actor=actor,
        title=f"Clean {version}",
        params={"version_id": version.pk, "steps": normalised},
    )
    audit.record(actor=actor, action="dataset_version.cleaning_requested", target=version, after={"steps": normalised})
    return job


def apply_cleaning(version: DatasetVersion, steps: list[dict], *, actor, progress=None) -> tuple[DatasetVersion, bool]:
    """Apply a validated recipe (on a worker) and store the result as a child version.

    The output is serialised canonically, so the same recipe on the same parent gives the same
    sha256, and running it again returns the existing child.
    """
    progress = progress or (lambda percent, message: None)
    progress(5, f"Reading {version}")
    frame = load_frame(version)
    progress(30, f"Applying {len(steps)} step(s)")
    cleaned = cleaning.apply_recipe(frame, steps)
    if cleaned.empty:
        raise ValueError("The recipe removed every row; there is nothing to store as a new version.")
    return store_frame(version.dataset, cleaned, actor=actor, parent=version, recipe=steps, progress=progress)


def store_frame(
    dataset: Dataset,
    frame,
    *,
    actor,
    parent: DatasetVersion | None = None,
    recipe: list[dict] | None = None,
    target: str | None = None,
    progress=None,
) -> tuple[DatasetVersion, bool]:
    """Store a frame made here (cleaned, or assembled for retraining) as the dataset's next version.

    The frame is serialised canonically, so the same content gives the same sha256, and storing it again
    returns the existing version (created False). The new version is profiled before it is returned.
    """
    progress = progress or (lambda percent, message: None)
    payload = cleaning.to_csv_bytes(frame)
    sha = hashlib.sha256(payload).hexdigest()
    existing = DatasetVersion.objects.filter(dataset=dataset, sha256=sha).first()
    if existing:
        if existing.profile is None:  # an earlier attempt stored it but died before profiling it
            compute_profile(existing, progress=lambda p, m: progress(70 + 0.28 * p, m))
        progress(95, f"Identical content exists already as {existing}")
        return existing, False
    progress(60, "Storing the new version")
    stored = default_storage.save(f"datasets/{dataset.pk}/{sha}.csv", ContentFile(payload))
    try:
        # Schema from the CSV as it will be read back, so kinds match a re-upload of the same file.
        import io

        reread = tabular.read_table(io.BytesIO(payload), "csv")
        target = target if target is not None else (parent.target if parent else "")
        child = _create_version(
            dataset,
            actor=actor,
            stored=stored,
            digest=tabular.Digest(sha256=sha, size=len(payload), format="csv"),
            frame_shape=reread.shape,
            schema=tabular.infer_schema(reread),
            target=target if target in reread.columns else "",
            original_filename="",  # derived, not uploaded: downloads as <dataset>-v<number>.csv
            parent=parent,
            recipe=recipe,
            profile_now=False,
        )
    except IntegrityError:
        default_storage.delete(stored)
        return DatasetVersion.objects.get(dataset=dataset, sha256=sha), False
    except BaseException:
        default_storage.delete(stored)
        raise
    progress(70, "Profiling the new version")
    compute_profile(child, progress=lambda p, m: progress(70 + 0.28 * p, m))
    return child, True


def serving_transform(version: DatasetVersion, inputs: list[str]) -> list[dict]:
    """The row-wise cleaning steps of the recipes that made `version`, fixed for serving one record at a time.

    Walks the lineage from the uploaded root down to `version`. Each cleaning recipe contributes its row-wise
    steps (`cleaning.ROW_OPS`) with their statistics computed on the parent it ran on (read from storage only
    when a step takes one: a median, a mode, IQR bounds), limited to the model's `inputs`. Derivations that
    are not cleaning recipes (retraining's appended production rows) contribute nothing. Each step says
    where it came from (`dataset_version`, `step`). ValueError/OSError when a parent cannot be read.
    """
    chain, node, seen = [], version, set()
    while node is not None and node.pk not in seen:
        seen.add(node.pk)
        chain.append(node)
        node = node.parent
    wanted = set(inputs)
    steps: list[dict] = []
    for child in reversed(chain):
        recipe = child.recipe
        if child.parent is None or not isinstance(recipe, list) or not recipe:
            continue
        if not all(isinstance(step, dict) and step.get("op") in cleaning.OPS for step in recipe):
            continue  # a description of how the data was assembled, not steps to replay
        frame = load_frame(child.parent) if cleaning.needs_data(recipe) else None
        try:
            fitted = cleaning.fit_row_steps(frame, recipe)
        except cleaning.RecipeError as exc:
            raise ValueError(f"The recipe of {child} cannot be replayed: {exc}") from None
        for step in fitted:
            if "columns" in step and step["columns"] is not None:
                step["columns"] = [name for name in step["columns"] if name in wanted]
                if not step["columns"]:
                    continue
            elif "column" in step and step["column"] not in wanted:
                continue
            steps.append({**step, "dataset_version": child.pk, "description": cleaning.describe_step(step)})
    return steps


def row_transform(steps: list[dict]):
    """A callable running fixed row-wise steps (from `serving_transform`) on one list of JSON values per
    column, in place (`cleaning.apply_row_steps`); None when there are no steps. Serving calls it per request."""
    steps = [step for step in steps or [] if isinstance(step, dict)]
    if not steps:
        return None
    return lambda columns: cleaning.apply_row_steps(steps, columns)
