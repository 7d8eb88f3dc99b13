"""Answer a predict request: route, clean, validate, score, shadow-score, log, in that order.

Each record is prepared once, and what the model scores is what is logged: the version's serving transform
(the row-wise cleaning steps of its training data's recipes, recorded in its lineage at registration) runs
on the raw values, then `records` checks and normalises them against the signature ("yes" for a boolean
becomes true), and the prediction log stores those normalised values. Values of a categorical input that
training never had are counted per row in the log (`Prediction.unseen`) or, under the deployment's
`refuse` policy, answered with a 400 naming row, field and value.

Fitted models are loaded once per process into a small LRU cache keyed by (version id, sha256); a load
re-checks the file against the sha256 (experiments.services.load_pipeline, given the version's signature so
that an ONNX model knows its task and class labels). A version is served the same way wherever it was
trained: a platform pipeline, any skops scikit-learn model, or an ONNX graph run by onnxruntime. The numpy
fast path (`fastpath`) is compiled where it recognises every step and used only when it agrees with
scikit-learn on probe rows; everything else is scored by the model itself. Every served row, and every
shadow row, is written to `Prediction` in the request's transaction before the answer is returned, so a
process that dies after answering has already logged what it answered.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone

from deployments import fastpath, logbook, routing
from deployments import records as record_parser
from deployments.models import Deployment, RequestStat
from experiments import model_files
from experiments import services as experiment_services
from registry.models import ModelVersion, RegisteredModel

logger = logging.getLogger(__name__)


class ServingError(Exception):
    """A request that cannot be served: `status` is the HTTP status, `errors` the per-row/field problems."""

    def __init__(self, status: int, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []


class Scorer:
    """A fitted model and, when `fastpath` compiled and verified it, its numpy equivalent; the version's
    serving transform (`prepare`, None without one) and the categories each encoded input was fitted on.

    The model is whatever `experiments.services.load_pipeline` gives for the version: a platform pipeline,
    any scikit-learn estimator or pipeline uploaded as skops, or an ONNX graph behind `OnnxModel`'s
    pipeline face. Only what the fast path recognises exactly is compiled; anything else (an unknown
    estimator or transformer, an ONNX model, a pipeline whose probe rows fail) is scored by the model
    itself. Compiling and verifying never take a version down: any failure there means "no fast path".
    """

    def __init__(self, pipeline, transform: list[dict] | None = None):
        self.pipeline = pipeline
        self.fast = _fast_path(pipeline)
        self.prepare = experiment_services.row_transform(transform or [])
        try:
            self.categories = fastpath.categories(pipeline)
        except Exception:  # an estimator fastpath cannot read: unseen values are simply not counted
            logger.warning("Cannot read the fitted categories of %s", type(pipeline).__name__, exc_info=True)
            self.categories = {}

    def parse(self, records, signature) -> dict[str, np.ndarray]:
        """The records cleaned by the serving transform, then checked and normalised (RecordsError, ValueError)."""
        return record_parser.parse_columns(records, signature, max_rows=settings.SERVING_MAX_ROWS, prepare=self.prepare)

    def unseen(self, columns: dict[str, np.ndarray]) -> list[tuple[int, str, Any]]:
        return record_parser.unseen(columns, self.categories) if self.categories else []

    def score(self, columns: dict[str, np.ndarray]) -> tuple[list, list | None]:
        """Predictions and, for classifiers, class probabilities per row (rounded to 6 decimals)."""
        rows = len(next(iter(columns.values()))) if columns else 0
        result = None
        if self.fast is not None:
            try:
                result = self.fast.score(columns, rows)
                fitted = self.fast if isinstance(self.fast, _OnnxColumns) else self.fast.estimator
                classes = fitted.classes_ if result[1] is not None else None
            except fastpath.NotFast:
                result = None
        if result is None:
            result, classes = _score(self.pipeline, record_parser.frame(columns))
        predicted, probabilities = result
        labels = [str(_plain(c)) for c in classes] if probabilities is not None else None
        return (
            [_plain(v) for v in predicted],
            [{label: round(float(p), 6) for label, p in zip(labels, row, strict=True)} for row in probabilities]
            if probabilities is not None
            else None,
        )


class _OnnxColumns:
    """An ONNX model fed the parsed column arrays directly, both outputs from one `InferenceSession.run`.

    `OnnxModel.predict` and `predict_proba` each go through a DataFrame and run the graph once; for a
    single row that conversion costs more than the graph. Here the arrays `records.parse_columns` gives
    (float64 for numbers, object otherwise) become the model's per-column inputs as `OnnxModel` makes
    them (float32 or float64 numbers; text with "" for missing), and label and probabilities come from one
    run. Anything else (another input type, a single matrix input, an array of another dtype) raises
    `NotFast`, and the request goes through `OnnxModel` as it is. `InferenceSession.run` is thread-safe.
    """

    NUMBERS = {"tensor(float)": np.float32, "tensor(double)": np.float64}

    def __init__(self, model):
        if not getattr(model, "named_inputs", False):
            raise fastpath.NotFast("the ONNX model takes one matrix, not one input per column")
        self.model, self.session = model, model.session
        self.inputs = [(i.name, i.type) for i in model.inputs]
        if any(kind != "tensor(string)" and kind not in self.NUMBERS for _, kind in self.inputs):
            raise fastpath.NotFast("an ONNX input is neither a float nor a string tensor")
        self.label, self.proba = model.label_output, getattr(model, "predict_proba", None) and model.proba_output
        self.outputs = [self.label] + ([self.proba] if self.proba else [])

    @property
    def classes_(self):
        return self.model.classes_

    def score(self, columns: dict[str, np.ndarray], rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        feed = {}
        for name, kind in self.inputs:
            values = columns.get(name)
            if values is None:
                raise fastpath.NotFast(f"no column {name}")
            if kind == "tensor(string)":
                if values.dtype != object:
                    raise fastpath.NotFast(f"{name} is {values.dtype}, not object")
                text = np.array(["" if _absent(v) else (v if type(v) is str else str(v)) for v in values], dtype=object)
                feed[name] = text.reshape(-1, 1)
            else:
                if values.dtype == object:  # booleans (True/False/None) fed to a float input, as 1/0/NaN
                    if not all(_absent(v) or isinstance(v, bool | int | float) for v in values):
                        raise fastpath.NotFast(f"{name} holds values that are not numbers")
                    values = np.array([np.nan if _absent(v) else float(v) for v in values], dtype=np.float64)
                if values.dtype != np.float64:
                    raise fastpath.NotFast(f"{name} is {values.dtype}, not float64")
                feed[name] = values.astype(self.NUMBERS[kind]).reshape(-1, 1)
        found = self.session.run(self.outputs, feed)
        labels = np.asarray(found[0])
        labels = labels.ravel() if labels.ndim > 1 and labels.shape[-1] == 1 else labels
        if not self.proba:
            return labels, None
        proba = found[1]
        if isinstance(proba, list):  # ZipMap: one {class: p} per row, put in the signature's class order
            keys = list(proba[0].keys()) if proba else []
            if self.model.classes_ is None:
                raise fastpath.NotFast("the classes are not known yet")
            order = [_key_of(keys, label) for label in self.model.classes_]
            return labels, np.asarray([[row[key] for key in order] for row in proba], dtype=float)
        proba = np.asarray(proba, dtype=float)
        if self.model.classes_ is None or len(self.model.classes_) != proba.shape[1]:
            raise fastpath.NotFast("the probabilities do not match the classes")
        return labels, proba


def _absent(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _key_of(keys: list, label):
    for key in keys:
        if key == label or str(key) == str(label):
            return key
    raise fastpath.NotFast(f"no probability for class {label!r}")


def _fast_path(pipeline):
    """The verified numpy fast path of `pipeline`, or None (not compilable, disagreeing, or failing on probes)."""
    if isinstance(pipeline, model_files.OnnxModel):
        try:
            return _OnnxColumns(pipeline)
        except (fastpath.NotFast, AttributeError) as exc:
            logger.info("ONNX model fed through its DataFrame face: %s", exc)
            return None
    try:
        fast = fastpath.compile_pipeline(pipeline)
        if fast is None:
            return None
        difference = fastpath.verify(pipeline, fast)
    except Exception as exc:  # a pipeline of steps fastpath half-knows: scikit-learn (or onnxruntime) serves it
        logger.warning("No fast path for %s (%s); serving it as it is", type(pipeline).__name__, exc)
        return None
    if difference:
        logger.warning("The fast path disagrees with scikit-learn (%s); serving through scikit-learn", difference)
        return None
    return fast


class _Cache:
    """A few fitted models (as Scorers) per process, least recently used out first.

    The objects are kept as loaded, never copied or pickled: an ONNX model holds an onnxruntime
    `InferenceSession`, which cannot be, and whose `run` is safe to call from several threads at once.
    """

    def __init__(self):
        self._items: OrderedDict[tuple[int, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: ModelVersion):
        key = (version.pk, version.sha256)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        transform = (version.lineage or {}).get("serving_transform")
        # ValueError: bad hash, or a file skops/onnxruntime refuses. The signature tells an ONNX model its classes.
        pipeline = Scorer(experiment_services.load_pipeline(version.artifact, version.signature), transform)
        with self._lock:
            self._items[key] = pipeline
            while len(self._items) > settings.SERVING_CACHE_SIZE:
                self._items.popitem(last=False)
        return pipeline

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


cache = _Cache()


class _Deployments:
    """Deployments with their versions loaded, per process, reused while their routing has not changed.

    Each request still reads the deployment's row (one indexed query, no ORM compilation): the id, the
    three versions, the canary share and `updated_at`, which every change through `services` moves. The
    cached object is keyed by all of them, so a change is seen by the next request, and the same row after
    a rollback finds the object built for it. The versions' served fields (file, sha256, signature) never
    change once registered.
    """

    FIELDS = ("id", "primary_id", "canary_id", "canary_percent", "shadow_id", "updated_at")

    def __init__(self):
        self._items: dict[tuple, Deployment] = {}
        self._lock = threading.Lock()

    def find(self, environment: str, model: str) -> Deployment | None:
        with connection.cursor() as cursor:
            cursor.execute(_ROUTING_SQL, [environment, model])
            row = cursor.fetchone()
        if row is None:
            return None
        key = (environment, model, *row)
        with self._lock:
            found = self._items.get(key)
        if found is not None:
            return found
        deployment = (
            Deployment.objects.select_related("environment", "model", "primary", "canary", "shadow")
            .filter(pk=row[0])
            .first()
        )
        if deployment is None:
            return None
        # Keyed by what was loaded, which may be newer than the row read above.
        loaded = (environment, model, *(getattr(deployment, name) for name in self.FIELDS))
        with self._lock:
            if len(self._items) > 64:
                self._items.clear()
            self._items[_normalise(loaded)] = deployment
        return deployment

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _routing_sql() -> str:
    d, e, m = Deployment._meta, Deployment._meta.get_field("environment").related_model._meta, RegisteredModel._meta
    columns = ", ".join(f"d.{d.get_field(name.removesuffix('_id')).column}" for name in _Deployments.FIELDS)
    return (
        f"SELECT {columns} FROM {d.db_table} d "
        f"JOIN {e.db_table} e ON e.id = d.{d.get_field('environment').column} "
        f"JOIN {m.db_table} m ON m.id = d.{d.get_field('model').column} "
        "WHERE e.name = %s AND m.name = %s"
    )


_ROUTING_SQL = _routing_sql()


def _normalise(key: tuple) -> tuple:
    """The loaded object's key in the form the raw row has (SQLite stores and returns times as text)."""
    adapt = connection.ops.adapt_datetimefield_value
    return tuple(adapt(value) if isinstance(value, datetime) else value for value in key)


deployments = _Deployments()


@dataclass
class Answer:
    predictions: list[dict]
    version: int
    role: str


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _score(pipeline, frame) -> tuple[tuple, Any]:
    """scikit-learn's ((predictions, probabilities or None), classes); the preprocessing runs once for both."""
    steps = getattr(pipeline, "steps", None)
    if steps and len(steps) > 1:
        features, estimator = pipeline[:-1].transform(frame), steps[-1][1]
    else:
        features, estimator = frame, pipeline
    if hasattr(estimator, "predict_proba"):
        return (estimator.predict(features), estimator.predict_proba(features)), estimator.classes_
    return (estimator.predict(features), None), None


def _route(deployment: Deployment, entity_key: str | None) -> tuple[ModelVersion, str]:
    canary_on = deployment.canary_id and deployment.canary_percent
    if canary_on and routing.choose(entity_key, deployment.canary_percent) == "canary":
        return deployment.canary, "canary"
    return deployment.primary, "primary"


def predict(
    deployment: Deployment, body: Any, *, request_id: str = "", started: float | None = None, served_at=None
) -> Answer:
    """Serve one request body `{records: [...], entity_key?}`; raises ServingError with a 4xx/5xx status.

    `served_at` stamps the log rows with another time than now: only the demo's replay of a day of traffic.
    """
    started = started or time.perf_counter()
    served_at = served_at or timezone.now()
    if deployment.primary_id is None:
        raise ServingError(404, f"Nothing is deployed for {deployment.model.name} in {deployment.environment.name}.")
    if not isinstance(body, dict) or "records" not in body:
        raise ServingError(400, "The body is a JSON object with “records”: a list of rows, each an object of inputs.")
    if unknown := sorted(set(body) - {"records", "entity_key"}):
        raise ServingError(400, f"Unknown keys in the body: {', '.join(unknown)}. Send records and entity_key.")
    entity_key = body.get("entity_key")
    if entity_key is not None and not isinstance(entity_key, str | int):
        raise ServingError(400, "entity_key is a string (or a number) naming who the prediction is for.")
    entity_key = None if entity_key is None else str(entity_key)[:200]

    version, role = _route(deployment, entity_key)
    try:
        scorer = cache.get(version)
    except (ValueError, OSError):
        if role == "canary":  # a broken canary must not take the deployment down
            version, role = deployment.primary, "primary"
            scorer = _load_or_fail(version)
        else:
            scorer = _load_or_fail(version)
    try:
        columns = scorer.parse(body["records"], version.signature)
    except record_parser.RecordsError as exc:
        _stat(deployment, version, role, 0, 400, started, served_at)
        raise ServingError(400, str(exc) or "Invalid records.", exc.errors) from None
    except ValueError:  # the version's own signature is broken: the platform's fault, not the caller's
        logger.exception("%s cannot validate requests", version)
        _stat(deployment, version, role, 0, 503, started, served_at)
        raise ServingError(503, f"{version} cannot validate requests; the reason is in the server log.") from None
    unseen = scorer.unseen(columns)
    if unseen and deployment.unseen_values == "refuse":
        _stat(deployment, version, role, 0, 400, started, served_at)
        errors = _unseen_errors(unseen, scorer.categories)
        raise ServingError(400, str(record_parser.RecordsError(errors)), errors)
    try:
        predicted, probabilities = scorer.score(columns)
    except Exception:
        logger.exception("%s failed to score a request", version)
        _stat(deployment, version, role, 0, 500, started, served_at)
        raise ServingError(500, f"{version} failed to score these records; the error is in the server log.") from None
    latency_ms = (time.perf_counter() - started) * 1000
    rows = body["records"] if isinstance(body["records"], list) else [body["records"]]
    scored = record_parser.logged_rows(columns)
    flagged = _per_row(unseen, len(scored))
    ids = [uuid.uuid4() for _ in predicted]
    request_id, entity = request_id[:64], entity_key or ""
    logged = [
        (
            ids[i],
            deployment.pk,
            version.pk,
            role,
            request_id,
            entity,
            scored[i],
            predicted[i],
            probabilities[i] if probabilities else None,
            latency_ms,
            served_at,
            flagged[i],
        )
        for i in range(len(predicted))
    ]
    logged += _shadow(deployment, rows, entity, request_id, latency_ms, served_at)
    logbook.write(
        logged,
        {
            "deployment_id": deployment.pk,
            "version_id": version.pk,
            "role": role,
            "rows": len(predicted),
            "status_code": 200,
            "latency_ms": latency_ms,
            "created_at": served_at,
        },
    )
    answer = [
        {
            "prediction_id": str(ids[i]),
            "prediction": predicted[i],
            **({"probabilities": probabilities[i]} if probabilities else {}),
            "version": version.number,
        }
        for i in range(len(predicted))
    ]
    return Answer(predictions=answer, version=version.number, role=role)


def _load_or_fail(version: ModelVersion):
    try:
        return cache.get(version)
    except (ValueError, OSError):
        logger.exception("%s cannot be loaded", version)
        raise ServingError(503, f"{version} cannot be loaded; the reason is in the server log.") from None


def _shadow(deployment, rows, entity_key, request_id, latency_ms, served_at) -> list[tuple]:
    """The shadow scores the same rows; its output is logged, never returned, and its failures never surface."""
    if deployment.shadow_id is None:
        return []
    shadow = deployment.shadow
    try:
        scorer = cache.get(shadow)
        columns = scorer.parse(rows, shadow.signature)
        predicted, probabilities = scorer.score(columns)
        scored = record_parser.logged_rows(columns)
        flagged = _per_row(scorer.unseen(columns), len(scored))
    except Exception:
        return []
    return [
        (
            uuid.uuid4(),
            deployment.pk,
            shadow.pk,
            "shadow",
            request_id,
            entity_key,
            scored[i],
            predicted[i],
            probabilities[i] if probabilities else None,
            latency_ms,
            served_at,
            flagged[i],
        )
        for i in range(len(predicted))
    ]


def _per_row(unseen: list[tuple[int, str, Any]], rows: int) -> list[list[str] | None]:
    """Per row, the inputs whose value training never had (None when all were known), for the log."""
    flagged: list[list[str] | None] = [None] * rows
    for row, name, _ in unseen:
        if flagged[row] is None:
            flagged[row] = [name]
        elif name not in flagged[row]:
            flagged[row].append(name)
    return flagged


def _unseen_errors(unseen: list[tuple[int, str, Any]], categories: dict[str, frozenset[str]]) -> list[dict]:
    """The refuse policy's 400: one entry per unseen value (row, field, value), at most MAX_ERRORS."""
    errors = []
    for row, name, value in unseen[: record_parser.MAX_ERRORS]:
        known = sorted(categories[name])
        shown = ", ".join(f'"{k}"' for k in known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        errors.append(
            {
                "row": row,
                "field": name,
                "message": f"{_shown(value)} never appeared in this model's training data for {name} "
                f"(known: {shown}); this deployment refuses values training never had.",
            }
        )
    if len(unseen) > record_parser.MAX_ERRORS:
        errors.append({"row": None, "field": None, "message": f"{len(unseen) - record_parser.MAX_ERRORS} more."})
    return errors


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _stat(deployment, version, role, rows, status_code, started, served_at) -> None:
    RequestStat.objects.create(
        deployment=deployment,
        version=version,
        role=role,
        rows=rows,
        status_code=status_code,
        latency_ms=(time.perf_counter() - started) * 1000,
        created_at=served_at,
    )
