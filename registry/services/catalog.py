"""Models, versions from trained runs, aliases and stage moves.

Each change is audited in its own transaction. Promotion requests and their gates (issue 5) will
call `move_to_stage`, the only place a version's stage changes.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from experiments import selectors as experiment_selectors
from experiments import services as experiment_services
from experiments.metrics import finite
from experiments.models import Run
from experiments.services import training as training_services
from mlops_site import audit, events, lazy
from mlops_site.errors import Conflict
from mlops_site.permissions import can, require
from registry import cards, schemas
from registry.models import ModelAlias, ModelVersion, RegisteredModel

pd = lazy.module("pandas")

__all__ = [
    "can_edit_model",
    "create_model",
    "create_version",
    "delete_alias",
    "move_to_stage",
    "register_version",
    "set_alias",
    "update_model",
    "update_version",
]

MODEL_PATH = "model/pipeline.skops"
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
# "v3" would read as a version number and "latest" as the newest version, as in MLflow.
RESERVED_ALIAS = re.compile(r"v\d+|latest")
SIGNATURE_PATH = "model/signature.json"


def denied(what: str) -> str:
    return f"Your role does not allow {what}. Ask an admin for the data-scientist role."


def _file_sha256(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@transaction.atomic
def clean_tags(tags) -> dict[str, str]:
    """Tags as models and versions keep them, or a ValidationError: for callers that must check before creating."""
    return schemas.validate(schemas.ModelEdit, {"tags": tags}, partial=True)["tags"]


def create_model(*, name: str, description: str = "", actor) -> RegisteredModel:
    require(actor, "registry.add_registeredmodel", denied("registering models"))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A registered model needs a name."})
    if not MODEL_NAME.fullmatch(name):
        raise ValidationError(
            {
                "name": "Use 1–100 letters, digits, “.”, “-” or “_”, starting with a letter or digit: "
                "the name is part of every URL and API path of the model."
            }
        )
    taken = ValidationError({"name": f"A model named “{name}” is already registered."})
    if RegisteredModel.objects.filter(name__iexact=name).exists():
        raise taken
    try:
        with transaction.atomic():
            model = RegisteredModel.objects.create(name=name[:100], description=description.strip(), owner=actor)
    except IntegrityError:
        raise taken from None
    audit.record(actor=actor, action="model.created", target=model, after={"name": model.name})
    return model


@transaction.atomic
def update_model(model: RegisteredModel, data=None, *, actor, **fields):
    """Edit a model's description, tags or gate configuration (`schemas.ModelEdit`); audited with before and after.

    Only the model's owner or an admin may change any of them: gates decide what reviewers see as passed,
    and the description and tags are what others read about the model.
    """
    require(actor, "registry.add_registeredmodel", denied("editing models"))
    clean = schemas.validate(schemas.ModelEdit, schemas.merged(data, fields), partial=True)
    gates = clean.get("gates")
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    if not can_edit_model(model, actor):
        what = "gates" if gates is not None else "description and tags"
        raise PermissionDenied(f"Only {model.name}'s owner or an admin can change its {what}.")
    before = {"description": model.description, "tags": model.tags, "gates": model.gates}
    if gates is not None:
        model.gates = gates
    if "description" in clean:
        model.description = clean["description"].strip()
    if "tags" in clean:
        model.tags = clean["tags"]
    model.save(update_fields=["description", "tags", "gates"])
    audit.record(
        actor=actor,
        action="model.updated",
        target=model,
        before=before,
        after={"description": model.description, "tags": model.tags, "gates": model.gates},
    )
    return model


def can_edit_model(model: RegisteredModel, user) -> bool:
    """The model's owner, or an admin (who holds `change_registeredmodel`); None is the platform."""
    return user is None or user.pk == model.owner_id or can(user, "registry.change_registeredmodel")


@transaction.atomic
def update_version(version: ModelVersion, data=None, *, actor, **fields) -> ModelVersion:
    """Edit a version (`schemas.VersionEdit`): description, tags and the model card's written sections, all or nothing.

    Its pinned file, metrics and lineage never change. The page and the API's PATCH both call this.
    """
    clean = dict(schemas.validate(schemas.VersionEdit, schemas.merged(data, fields), partial=True))
    sections = {key: clean.pop(key) for key in cards.SECTIONS if key in clean}
    if clean:
        require(actor, "registry.add_modelversion", denied("editing model versions"))
        version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
        before = {"description": version.description, "tags": version.tags}
        if "description" in clean:
            version.description = clean["description"].strip()[:5000]
        if "tags" in clean:
            version.tags = clean["tags"]
        version.save(update_fields=["description", "tags"])
        audit.record(
            actor=actor,
            action="model.version_updated",
            target=version,
            before=before,
            after={"description": version.description, "tags": version.tags},
        )
    if sections:
        from registry.services.cards import update_card

        version = update_card(version, actor=actor, **sections)
    return version


def _lineage(run: Run, signature: dict | None = None) -> dict:
    """The run, its experiment, each input dataset version with its ancestors and their recipes, and the
    serving transform: the row-wise cleaning steps that made the training data, which predict applies to
    every record before validating it (`experiments.services.serving_transform`)."""
    inputs = []
    for version in run.input_versions.select_related("dataset"):
        chain, node, seen = [], version, set()
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            chain.append({"id": node.pk, "number": node.number, "sha256": node.sha256, "recipe": node.recipe})
            node = node.parent
        inputs.append({"dataset": version.dataset.name, "version": version.pk, "chain": chain})
    names = [c["name"] for c in (signature or {}).get("inputs") or [] if isinstance(c, dict) and "name" in c]
    training_data = run.input_versions.order_by("pk").first()
    transform = []
    if training_data is not None and names:
        try:
            transform = experiment_services.serving_transform(training_data, names)
        except (ValueError, OSError) as exc:
            raise ValidationError(
                {"run": f"The cleaning steps that made {training_data} cannot be fixed for serving: {exc}"}
            ) from None
    return {
        "run": run.pk,
        "experiment": run.experiment.name,
        "training_request": run.training_request,
        "inputs": inputs,
        "serving_transform": transform,
    }


def _servable_signature(run: Run, artifact) -> dict:
    """The run's signature, once its model file has loaded with the trusted types and predicted on a probe row.

    A version registered from a file that can never serve (pickle bytes under the skops name, no
    signature) was accepted and crashed the gates later with BadZipFile; it is refused here instead.
    The probe row is what serving accepts when every value is unknown: NaN for numbers, null otherwise.
    """
    signature_file = run.artifacts.filter(path=SIGNATURE_PATH).first()
    if signature_file is None:
        raise ValidationError({"run": f"Run {run.pk} has no {SIGNATURE_PATH}: a version needs its input columns."})
    try:
        with default_storage.open(signature_file.file, "rb") as handle:
            signature = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError({"run": f"The {SIGNATURE_PATH} of run {run.pk} is not readable JSON: {exc}"}) from None
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    if (
        not isinstance(inputs, list)
        or not inputs
        or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in inputs)
        or len({c["name"] for c in inputs}) != len(inputs)
    ):
        raise ValidationError(
            {"run": f"The {SIGNATURE_PATH} of run {run.pk} needs “inputs”: a list of {{name, kind}}, one per column."}
        )
    try:
        pipeline = training_services.load_pipeline(artifact)
    except Exception as exc:  # any failure to load an uploaded file is the file's fault (BadZipFile, ...)
        raise ValidationError(
            {"run": f"The model file of run {run.pk} cannot be loaded as a skops pipeline of trusted types: {exc}"}
        ) from None
    probe = pd.DataFrame(
        {
            c["name"]: pd.Series([np.nan], dtype="float64")
            if c.get("kind") == "numeric"
            else pd.Series([None], dtype=object)
            for c in inputs
        }
    )
    try:
        pipeline.predict(probe)
    except Exception as exc:  # a model that cannot score the signature's columns can never serve
        raise ValidationError(
            {"run": f"The model of run {run.pk} cannot predict on a row of its signature's columns: {exc}"}
        ) from None
    return signature


def _format_of(artifact) -> str:
    """skops or onnx, from the file's first bytes (a script may log an ONNX export under the skops name)."""
    from experiments import model_files

    with default_storage.open(artifact.file, "rb") as handle:
        return model_files.detect(handle.read(16))


def register_version(model: RegisteredModel, run: Run, *, actor, description: str = "") -> ModelVersion:
    """Version n+1 of `model` from a finished trained run, pinning its model file by sha256.

    The file is hashed again here: a version is never created for a model file that no longer
    matches what training recorded. A run is registered once per model (a second try, e.g. a
    double click, is a Conflict naming the version it already is), checked under the model's lock.
    """
    require(actor, "registry.add_modelversion", denied("registering model versions"))
    if run.status != Run.Status.FINISHED:
        raise ValidationError({"run": f"Run {run.pk} is {run.status}; only finished runs can be registered."})
    artifact = run.artifacts.filter(path=MODEL_PATH).first()
    if artifact is None:
        raise ValidationError(
            {
                "run": f"Run {run.pk} has no {MODEL_PATH}. For a model file trained elsewhere, POST it as multipart "
                "(file, plus signature or sample, and run) or use “Register…” beside the file on the run's page."
            }
        )
    try:
        actual = _file_sha256(artifact.file)
    except OSError:
        raise ValidationError({"run": f"The model file of run {run.pk} is missing from storage."}) from None
    if actual != artifact.sha256:
        raise ValidationError({"run": f"The model file of run {run.pk} no longer matches its recorded sha256."})
    signature = _servable_signature(run, artifact)
    return create_version(
        model,
        run,
        artifact,
        signature=signature,
        fmt=_format_of(artifact),
        actor=actor,
        description=description,
        metrics_source="platform" if run.source == Run.Source.TRAINED else "uploader",
    )


def create_version(
    model: RegisteredModel,
    run: Run,
    artifact,
    *,
    signature: dict,
    fmt: str,
    actor,
    description: str = "",
    metrics_source: str = "platform",
    extra_lineage: dict | None = None,
) -> ModelVersion:
    """The version row for a checked model file of `run`: numbered under the model's lock, audited.

    Its card starts as the previous version's, marked as carried over for review (a card rewritten
    from nothing for each retrain is a card nobody keeps up).
    """
    # NaN and ±Infinity (a run logged through the MLflow surface) are no evidence a gate can weigh, and
    # PostgreSQL's jsonb refuses them: a version's metrics are the finite ones.
    metrics = {
        k: v
        for k, v in experiment_selectors.latest_metrics(run).items()
        if not k.startswith("cv_") and finite(v) is not None
    }
    params = dict(run.params.order_by("key").values_list("key", "value"))
    lineage = {**_lineage(run, signature), **(extra_lineage or {})}  # may read training data: before the lock
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)  # numbers are handed out in turn
        existing = model.versions.filter(run=run, sha256=artifact.sha256).order_by("number").first()
        if existing is not None:
            raise Conflict(f"Run {run.pk} is already registered as {model.name} v{existing.number}.")
        previous = model.versions.order_by("-number").first()
        number = (previous.number if previous else 0) + 1
        card = {}
        if previous is not None and any(previous.card.get(key) for key in cards.SECTIONS):
            card = {key: previous.card[key] for key in cards.SECTIONS if previous.card.get(key)}
            card["carried_over_from"] = previous.number
        version = ModelVersion.objects.create(
            model=model,
            number=number,
            run=run,
            artifact=artifact,
            sha256=artifact.sha256,
            format=fmt,
            signature=signature,
            metrics=metrics,
            metrics_source=metrics_source,
            params=params,
            lineage=lineage,
            card=card,
            description=description,
            created_by=actor,
        )
        audit.record(
            actor=actor,
            action="model.version_created",
            target=version,
            after={"model": model.name, "number": number, "run": run.pk, "sha256": version.sha256, "format": fmt},
        )
    return version


@transaction.atomic
def set_alias(model: RegisteredModel, name: str, version: ModelVersion, *, actor) -> ModelAlias:
    """Point `name` at `version`, moving it if it pointed elsewhere; audited with before and after."""
    require(actor, "registry.change_modelalias", denied("moving aliases"))
    name = (name or "").strip().lower()
    if not name or len(name) > 64 or not name.replace("-", "").replace("_", "").isalnum():
        raise ValidationError({"alias": "Aliases are 1–64 letters, digits, “-” or “_”, e.g. champion."})
    if RESERVED_ALIAS.fullmatch(name):
        raise ValidationError({"alias": f"“{name}” is reserved: it reads as a version number or the newest version."})
    if version.model_id != model.pk:
        raise ValidationError({"version": f"Version {version} belongs to another model."})
    alias = ModelAlias.objects.select_for_update().filter(model=model, name=name).first()
    before = {"version": alias.version.number} if alias else None
    if alias is None:
        alias = ModelAlias.objects.create(model=model, name=name, version=version)
    else:
        alias.version, alias.updated_at = version, timezone.now()
        alias.save(update_fields=["version", "updated_at"])
    audit.record(
        actor=actor,
        action="model.alias_set",
        target=model,
        before=before,
        after={"alias": name, "version": version.number},
    )
    return alias


@transaction.atomic
def delete_alias(model: RegisteredModel, name: str, *, actor) -> None:
    require(actor, "registry.delete_modelalias", denied("removing aliases"))
    alias = ModelAlias.objects.select_for_update().filter(model=model, name=name).first()
    if alias is None:
        raise ValidationError({"alias": f"{model.name} has no alias “{name}”."})
    audit.record(
        actor=actor, action="model.alias_deleted", target=model, before={"alias": name, "version": alias.version.number}
    )
    alias.delete()


@transaction.atomic
def move_to_stage(version: ModelVersion, stage: str, *, actor) -> ModelVersion:
    """Set a version's stage; a new production version archives the previous one in the same transaction.

    Callers check who may do this (promotion approval); the partial unique constraint on
    production makes two concurrent promotions end with exactly one production version.
    """
    if stage not in ModelVersion.Stage.values:
        raise ValidationError({"stage": f"Stages are {', '.join(ModelVersion.Stage.values)}."})
    RegisteredModel.objects.select_for_update().get(pk=version.model_id)  # one stage move per model at a time
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    before = version.stage
    if stage == ModelVersion.Stage.PRODUCTION:
        for previous in (
            ModelVersion.objects.select_for_update()
            .filter(model_id=version.model_id, stage=ModelVersion.Stage.PRODUCTION)
            .exclude(pk=version.pk)
        ):
            previous.stage, previous.production_until = ModelVersion.Stage.ARCHIVED, timezone.now()
            previous.save(update_fields=["stage", "production_until"])
            audit.record(
                actor=actor,
                action="model.stage_changed",
                target=previous,
                before={"stage": "production"},
                after=_stage_payload(previous, "archived", "production"),
            )
    if before == ModelVersion.Stage.PRODUCTION and stage != before:
        version.production_until = timezone.now()
    version.stage = stage
    version.save(update_fields=["stage", "production_until"])
    audit.record(
        actor=actor,
        action="model.stage_changed",
        target=version,
        before={"stage": before},
        after=_stage_payload(version, stage, before),
    )
    payload = {
        "model": version.model.name,
        "version": version.number,
        "version_id": version.pk,
        "stage": stage,
        "previous_stage": before,
    }
    transaction.on_commit(lambda: events.model_stage_changed.send(sender=ModelVersion, **payload))
    return version


def _stage_payload(version: ModelVersion, stage: str, previous: str) -> dict:
    """What a stage move's audit event (and so its webhook) says: which model, which version, from where to where."""
    return {"model": version.model.name, "version": version.number, "stage": stage, "previous_stage": previous}
