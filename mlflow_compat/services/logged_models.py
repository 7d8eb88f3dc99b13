"""MLflow 3's logged models: created by `log_model`, filled through the artifact proxy, then finalized.

A logged model's files may be written while it is pending and never after it is ready: a version
registered from it is served from those bytes, so they stay what the reviewer approved.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tempfile

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from experiments import services as experiments
from experiments.models import Experiment, Run
from mlflow_compat import protocol
from mlflow_compat.errors import MlflowError, invalid, not_found
from mlflow_compat.models import LoggedModel, LoggedModelArtifact
from mlops_site.api.parsers import text_problem
from mlops_site.permissions import require

MAX_PATH = 300
MAX_NAME_BYTES = 255
MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")


def get(model_id, *, lock: bool = False) -> LoggedModel:
    model_id = protocol.text(model_id, "model_id", max_length=100)
    queryset = LoggedModel.objects.select_related("experiment", "source_run", "creator")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    model = queryset.filter(model_id=model_id).first() if MODEL_ID.match(model_id) else None
    if model is None:
        raise not_found(f"Logged model with ID '{model_id[:60]}' not found.")
    return model


def _check_writer(model: LoggedModel, actor) -> None:
    """The person who logged the model (or an admin) may change it, as for runs."""
    if actor is not None and model.creator_id == actor.pk:
        return
    require(actor, "experiments.change_run", "Only the person who logged this model (or an admin) can change it.")


def create(
    experiment: Experiment,
    *,
    name: str,
    actor,
    source_run: Run | None = None,
    model_type: str = "",
    params: dict | None = None,
    tags: dict | None = None,
) -> LoggedModel:
    require(actor, "experiments.add_run", "Your role cannot log models.")
    if source_run is not None:
        experiments.check_can_log(source_run, actor)
        if source_run.experiment_id != experiment.pk:
            raise invalid(f"Run {source_run.pk} belongs to another experiment than {experiment.pk}.")
    return LoggedModel.objects.create(
        model_id=f"m-{secrets.token_hex(16)}",
        experiment=experiment,
        source_run=source_run,
        name=name,
        model_type=model_type,
        creator=actor,
        params=params or {},
        tags=tags or {},
    )


@transaction.atomic
def finalize(model: LoggedModel, status: str, *, actor) -> LoggedModel:
    model = get(model.model_id, lock=True)
    _check_writer(model, actor)
    if status not in (LoggedModel.Status.READY, LoggedModel.Status.FAILED):
        raise invalid("status must be LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.")
    if model.status != LoggedModel.Status.PENDING and model.status != status:
        raise invalid(f"Logged model {model.model_id} is already {model.status}; it cannot change any more.")
    model.status, model.updated_at = status, timezone.now()
    model.save(update_fields=["status", "updated_at"])
    return model


@transaction.atomic
def set_tags(model: LoggedModel, tags: dict[str, str], *, actor) -> LoggedModel:
    model = get(model.model_id, lock=True)
    _check_writer(model, actor)
    model.tags = {**model.tags, **tags}
    model.updated_at = timezone.now()
    model.save(update_fields=["tags", "updated_at"])
    return model


@transaction.atomic
def delete_tag(model: LoggedModel, key: str, *, actor) -> LoggedModel:
    model = get(model.model_id, lock=True)
    _check_writer(model, actor)
    if key not in model.tags:
        raise not_found(f"Logged model {model.model_id} has no tag '{key[:100]}'.")
    model.tags = {k: v for k, v in model.tags.items() if k != key}
    model.save(update_fields=["tags"])
    return model


@transaction.atomic
def log_params(model: LoggedModel, params: dict[str, str], *, actor) -> LoggedModel:
    """Params are set once, as on runs: the same value again is fine, a changed one is refused."""
    model = get(model.model_id, lock=True)
    _check_writer(model, actor)
    changed = [k for k, v in params.items() if k in model.params and model.params[k] != v]
    if changed:
        raise invalid(f"Changing param values is not allowed. Param with key='{changed[0][:100]}' was already logged.")
    model.params = {**model.params, **params}
    model.save(update_fields=["params"])
    return model


def clean_path(raw: str) -> str:
    """A relative path inside the model's directory that storage can hold."""
    path = (raw or "").strip().lstrip("/")
    parts = path.split("/")
    if not path or len(path) > MAX_PATH or any(part in ("", ".", "..") for part in parts):
        raise invalid(f"Give a relative artifact path of at most {MAX_PATH} characters without '..'.")
    if problem := text_problem(path):
        raise invalid(f"Artifact path: {problem}")
    if any(len(part.encode()) > MAX_NAME_BYTES for part in parts):
        raise invalid(f"Each name in an artifact path must be at most {MAX_NAME_BYTES} bytes.")
    return path


def put_file(model: LoggedModel, path: str, chunks, *, actor) -> LoggedModelArtifact:
    """Store (or, while the model is pending, replace) one file of the model's directory, with its sha256."""
    _check_writer(model, actor)
    path = clean_path(path)
    if model.status != LoggedModel.Status.PENDING:
        raise invalid(f"Logged model {model.model_id} is {model.get_status_display()}; its files cannot change.")
    sha, size = hashlib.sha256(), 0
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            size += len(chunk)
            if size > settings.ARTIFACT_MAX_UPLOAD_BYTES:
                raise MlflowError(f"Artifacts are limited to {settings.ARTIFACT_MAX_UPLOAD_BYTES / 1e6:.0f} MB.")
            sha.update(chunk)
            spool.write(chunk)
        spool.seek(0)
        try:
            stored = default_storage.save(f"logged_models/{model.model_id}/{path}", File(spool))
        except OSError as exc:
            raise invalid(f"'{path}' cannot be stored: {exc.strerror or exc}.") from None
    try:
        with transaction.atomic():
            model = get(model.model_id, lock=True)
            if model.status != LoggedModel.Status.PENDING:
                raise invalid(
                    f"Logged model {model.model_id} is {model.get_status_display()}; its files cannot change."
                )
            ancestors = ["/".join(path.split("/")[:i]) for i in range(1, path.count("/") + 1)]
            clash = (
                model.artifacts.filter(Q(path__in=ancestors) | Q(path__startswith=f"{path}/"))
                .values_list("path", flat=True)
                .first()
            )
            if clash is not None:
                raise invalid(f"'{path}' clashes with the file '{clash}': a name is a file or a folder.")
            previous = model.artifacts.filter(path=path).first()
            if previous is not None:
                previous.delete()
                transaction.on_commit(lambda name=previous.file: default_storage.delete(name))
            artifact = LoggedModelArtifact.objects.create(
                logged_model=model, path=path, file=stored, size_bytes=size, sha256=sha.hexdigest()
            )
    except BaseException:
        default_storage.delete(stored)
        raise
    return artifact


def read_file(model: LoggedModel, path: str) -> bytes:
    """The bytes of one file, checked against the sha256 recorded when it was stored."""
    artifact = model.artifacts.filter(path=path).first()
    if artifact is None:
        raise invalid(f"Logged model {model.model_id} has no file '{path}'.")
    try:
        with default_storage.open(artifact.file, "rb") as handle:
            data = handle.read(settings.ARTIFACT_MAX_UPLOAD_BYTES + 1)
    except OSError:
        raise invalid(f"The file '{path}' of logged model {model.model_id} is missing from storage.") from None
    if hashlib.sha256(data).hexdigest() != artifact.sha256:
        raise invalid(f"The file '{path}' of logged model {model.model_id} no longer matches its sha256.")
    return data


SEARCH_CLAUSE = re.compile(
    r"""\s*(?:attributes\.)?(name|source_run_id|status|model_id)\s*(=|!=)\s*(?:'([^']*)'|"([^"]*)")\s*""", re.I
)


def search_filter(text: str) -> Q:
    """MLflow's logged-model filter, for the clauses the client sends: `name = '…'` and friends, joined by AND."""
    condition = Q()
    if not text.strip():
        return condition
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        match = SEARCH_CLAUSE.fullmatch(clause)
        if match is None:
            raise invalid(
                f"Unsupported logged-model filter {clause[:200]!r}: use name, source_run_id, status or model_id "
                "with = or !=, joined by AND."
            )
        field, op = match.group(1).lower(), match.group(2)
        value = match.group(3) if match.group(3) is not None else match.group(4)
        if field == "source_run_id":
            term = (
                Q(source_run_id=int(value)) if value.isascii() and value.isdigit() and len(value) < 18 else Q(pk__in=[])
            )
        else:
            term = Q(**{field: value})
        condition &= term if op == "=" else ~term
    return condition
