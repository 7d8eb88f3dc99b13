"""Train a scikit-learn pipeline on a table. Pure: a DataFrame, its schema and a request in, a result out.

Three entry points:

* `validate_request` runs in the web request, before anything is queued, once
  `experiments.schemas.TrainingSettings` has checked the request's types and ranges. It only sees the
  schema and the row count, so every mistake it can find is reported per field
  (`TrainingError.errors`), and hyperparameters are checked by scikit-learn's own `_validate_params()`.
* `train` runs on a worker with the data. It resolves what the schema alone cannot tell: when the
  task is left to the platform and the target is numeric, whether the target is a class label
  (at most 20 distinct integer values) is only known from the data, so the task is settled here.
* `refit` fits a copy (`sklearn.base.clone`) of a model made anywhere on new data, with `train`'s split,
  evaluation and result: the retraining of versions that have no recipe of this catalogue.

The fitted pipeline casts, imputes and encodes the raw input columns itself, with scikit-learn's own
transformers only, so a loaded model predicts straight from a frame read back from the dataset, and its
file loads anywhere scikit-learn and skops are installed. Models are exchanged as skops bytes and
`load_model` only loads types from an explicit allow-list, after checking the sha256.
"""

from __future__ import annotations

import hashlib
import math
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy
import sklearn
import skops
import skops.io as sio
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    log_loss,
    make_scorer,
    precision_recall_curve,
    roc_curve,
    root_mean_squared_error,
)
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from experiments import model_files, tabular
from experiments.metrics import score

__all__ = [
    "ALGORITHMS",
    "AlgorithmSpec",
    "TrainingError",
    "TrainingResult",
    "as_float",
    "as_text",
    "load_model",
    "refit",
    "train",
    "validate_request",
]

Progress = Callable[[float, str], None]
CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = (CLASSIFICATION, REGRESSION)
CLASS_KINDS = ("boolean", "categorical", "text")
DEFAULT_EXCLUDED_KINDS = ("datetime", "text")  # free text and dates need feature engineering first
MAX_CLASS_VALUES = 20  # a numeric target with at most this many distinct integers is a class label
MIN_ROWS = 10
MIN_TEST_ROWS = 2
MIN_TRAIN_ROWS = 5
MAX_CURVE_POINTS = 200
MAX_RESIDUAL_POINTS = 500
RESIDUAL_BINS = 30
TOP_IMPORTANCE = 20
IMPORTANCE_REPEATS = 5  # defaults; the site passes settings.TRAINING_IMPORTANCE_*
IMPORTANCE_MAX_ROWS = 10_000  # holdout rows scored per shuffle (a random sample above this)
# Parameters the platform sets (or that only make sense after preprocessing), never the user.
CONTROLLED_PARAMS = frozenset(
    {
        "n_jobs",
        "verbose",
        "warm_start",
        "random_state",
        "copy_X",
        "categorical_features",
        "monotonic_cst",
        "interaction_cst",
        "scoring",
    }
)


class TrainingError(ValueError):
    """A request or dataset that cannot be trained on, with messages keyed by request field."""

    def __init__(self, errors: Mapping[str, Sequence[str]] | str, field_name: str | None = None):
        if isinstance(errors, str):
            errors = {field_name or "non_field_errors": [errors]}
        self.errors: dict[str, list[str]] = {key: list(messages) for key, messages in errors.items()}
        super().__init__("; ".join(f"{key}: {' '.join(messages)}" for key, messages in self.errors.items()))


@dataclass(frozen=True)
class AlgorithmSpec:
    """What the platform knows about one algorithm: its estimators per task and how to prepare its input."""

    name: str
    label: str
    estimators: Mapping[str, type[BaseEstimator]]
    needs_scaling: bool
    iterative: bool  # fits in iterations; a learning curve is recorded where the estimator exposes one
    dense_input: bool = False  # cannot take the sparse one-hot output

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(task for task in TASKS if task in self.estimators)

    def allowed_params(self, task: str | None = None) -> tuple[str, ...]:
        """User-settable hyperparameters: the estimator's own get_params() keys minus platform-controlled ones."""
        classes = [self.estimators[task]] if task else list(self.estimators.values())
        keys = {key for cls in classes for key in cls().get_params(deep=False)}
        return tuple(sorted(keys - CONTROLLED_PARAMS))

    def estimator(self, task: str, params: Mapping[str, Any], seed: int) -> BaseEstimator:
        """A configured, unfitted estimator; random_state is the platform's seed wherever it exists."""
        estimator = self.estimators[task](**params)
        if "random_state" in estimator.get_params(deep=False):
            estimator.set_params(random_state=seed)
        return estimator


ALGORITHMS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec(
            "logistic_regression",
            "Logistic regression",
            {CLASSIFICATION: LogisticRegression},
            needs_scaling=True,
            iterative=True,
        ),
        AlgorithmSpec(
            "linear_regression",
            "Linear regression",
            {REGRESSION: LinearRegression},
            needs_scaling=False,
            iterative=False,
        ),
        AlgorithmSpec("ridge", "Ridge regression", {REGRESSION: Ridge}, needs_scaling=True, iterative=False),
        AlgorithmSpec(
            "random_forest",
            "Random forest",
            {CLASSIFICATION: RandomForestClassifier, REGRESSION: RandomForestRegressor},
            needs_scaling=False,
            iterative=False,
        ),
        AlgorithmSpec(
            "hist_gradient_boosting",
            "Histogram gradient boosting",
            {CLASSIFICATION: HistGradientBoostingClassifier, REGRESSION: HistGradientBoostingRegressor},
            needs_scaling=False,
            iterative=True,
            dense_input=True,
        ),
        AlgorithmSpec(
            "knn",
            "k nearest neighbours",
            {CLASSIFICATION: KNeighborsClassifier, REGRESSION: KNeighborsRegressor},
            needs_scaling=True,
            iterative=False,
        ),
    )
}


@dataclass
class TrainingResult:
    """Everything a finished training produced; all fields except model_bytes are JSON-safe."""

    task: str
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, float]
    cv_scores: dict[str, list[float]]
    curves: dict[str, list[tuple[int, float]]]
    importance: list[dict[str, Any]]
    evaluation: dict[str, Any]
    signature: dict[str, Any]
    split: dict[str, Any]
    library_versions: dict[str, str]
    model_bytes: bytes = field(repr=False)
    model_sha256: str
    fit_seconds: float


# ---------------------------------------------------------------------------------------------------
# Validation, before anything is queued
# ---------------------------------------------------------------------------------------------------


def validate_request(
    schema: Sequence[Mapping[str, Any]],
    row_count: int,
    *,
    target: str,
    algorithm: str,
    params: Mapping[str, Any] | None = None,
    features: Sequence[str] | None = None,
    task: str | None = None,
    holdout: float = 0.2,
    cv_folds: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The normalised request, or a TrainingError listing every problem found from the schema alone.

    The arguments' types and ranges are `schemas.TrainingSettings`'; this checks them against the table.

    `task` may stay None when the target is numeric and the algorithm handles both tasks: whether such
    a target is a class label depends on its values, so `train` settles it from the data.
    """
    errors: dict[str, list[str]] = {}
    params = dict(params or {})
    columns = {str(spec["name"]): spec for spec in schema}
    spec = ALGORITHMS.get(algorithm)
    if spec is None:
        errors["algorithm"] = [f"Unknown algorithm {algorithm!r}; choose one of {', '.join(sorted(ALGORITHMS))}."]

    target_kind = _target_kind(columns, target, errors)
    task = _check_task(spec, task, target_kind, errors)
    resolved_features = _check_features(columns, target, features, errors)
    _check_split(row_count, holdout, cv_folds, errors)
    if spec is not None and "algorithm" not in errors:
        _check_params(spec, task, params, errors)
    if errors:
        raise TrainingError(errors)
    return {
        "target": target,
        "algorithm": algorithm,
        "params": params,
        "features": resolved_features,
        "task": task,
        "holdout": float(holdout),
        "cv_folds": cv_folds,
        "seed": seed,
    }


def _target_kind(columns: Mapping[str, Mapping[str, Any]], target: str, errors: dict[str, list[str]]) -> str | None:
    """The target column's kind, or None (with an error) when it cannot be a target."""
    if target not in columns:
        errors["target"] = [f"Column {target!r} is not in this dataset."]
        return None
    kind = columns[target].get("kind")
    if kind == "datetime":
        errors["target"] = ["A datetime column cannot be the target."]
        return None
    return kind


def _check_task(
    spec: AlgorithmSpec | None, task: str | None, target_kind: str | None, errors: dict[str, list[str]]
) -> str | None:
    """The task when the request or the schema settles it; None means `train` decides from the data."""
    if task is None and target_kind in CLASS_KINDS:
        task = CLASSIFICATION
    if task is None and spec is not None and len(spec.tasks) == 1:
        task = spec.tasks[0]  # a single-task algorithm says what the user wants
    if task == REGRESSION and target_kind is not None and target_kind != "numeric":
        errors["task"] = [f"Regression needs a numeric target; this one is {target_kind}."]
    if spec is not None and task is not None and task not in spec.tasks:
        errors.setdefault("algorithm", []).append(f"{spec.label} does not support {task}.")
    return task


def _check_features(
    columns: Mapping[str, Mapping[str, Any]],
    target: str,
    features: Sequence[str] | None,
    errors: dict[str, list[str]],
) -> list[str]:
    """The feature list: as given (checked) or every usable column except the target."""
    if features is None:
        resolved = [
            name for name, spec in columns.items() if name != target and spec.get("kind") not in DEFAULT_EXCLUDED_KINDS
        ]
        if not resolved:
            errors["features"] = ["No usable feature columns (numeric, categorical or boolean) besides the target."]
        return resolved
    resolved = [str(name) for name in features]
    problems = []
    if not resolved:
        problems.append("Choose at least one feature column.")
    if unknown := [name for name in resolved if name not in columns]:
        problems.append(f"Not in this dataset: {', '.join(unknown)}.")
    if target in resolved:
        problems.append("The target cannot also be a feature.")
    if len(set(resolved)) != len(resolved):
        problems.append("A column is listed more than once.")
    if dates := [name for name in resolved if name in columns and columns[name].get("kind") == "datetime"]:
        problems.append(f"Datetime columns are not supported as features: {', '.join(dates)}.")
    if problems:
        errors["features"] = problems
    return resolved


def _split_sizes(row_count: int, holdout: float) -> tuple[int, int]:
    """(train, test) row counts exactly as train_test_split computes them for a float test_size."""
    test = math.ceil(row_count * holdout)
    return row_count - test, test


def _check_split(row_count: int, holdout: float, cv_folds: int | None, errors: dict[str, list[str]]) -> None:
    """Whether the table has rows enough for the holdout and the folds (their ranges are `schemas.TrainingSettings`')."""
    if row_count < MIN_ROWS:
        errors["non_field_errors"] = [f"Training needs at least {MIN_ROWS} rows; this dataset has {row_count}."]
        return
    n_train, n_test = _split_sizes(row_count, holdout)
    if n_test < MIN_TEST_ROWS or n_train < MIN_TRAIN_ROWS:
        errors["holdout"] = [
            f"A holdout of {holdout} leaves {n_train} training and {n_test} test rows; "
            f"at least {MIN_TRAIN_ROWS} and {MIN_TEST_ROWS} are needed."
        ]
    elif cv_folds is not None and n_train < 2 * cv_folds:
        errors["cv_folds"] = [f"{n_train} training rows are too few for {cv_folds} folds."]


def _check_params(
    spec: AlgorithmSpec, task: str | None, params: Mapping[str, Any], errors: dict[str, list[str]]
) -> None:
    """Unknown names and invalid values, judged by scikit-learn itself for each task still possible."""
    tasks = [task] if task in spec.tasks else list(spec.tasks)
    allowed = set().union(*(spec.allowed_params(candidate) for candidate in tasks))
    for name, value in params.items():
        if name not in allowed:
            errors[f"params.{name}"] = [f"{spec.label} has no settable hyperparameter {name!r}."]
            continue
        messages = [_param_error(spec, candidate, {name: value}) for candidate in tasks]
        messages = [message for message in messages if message is not None]
        if len(messages) == len(tasks):  # invalid for every task the request could still mean
            errors[f"params.{name}"] = [messages[0]]
    if not any(key.startswith("params.") for key in errors):
        messages = [_param_error(spec, candidate, params) for candidate in tasks]
        if all(message is not None for message in messages):
            errors["params"] = [str(messages[0])]


def _param_error(spec: AlgorithmSpec, task: str, params: Mapping[str, Any]) -> str | None:
    """scikit-learn's own message for these parameters on this task's estimator, or None when valid."""
    cls = spec.estimators[task]
    if set(params) - set(cls().get_params(deep=False)):
        return f"{cls.__name__} does not take {', '.join(sorted(set(params) - set(cls().get_params())))}."
    try:
        cls(**params)._validate_params()
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------------------
# Training on the worker
# ---------------------------------------------------------------------------------------------------


def as_text(frame: Any) -> np.ndarray:
    """Kept so pipelines trained before issue 16 load (new ones use scikit-learn's own transformers).

    Category columns as strings (missing stays NaN), so mixed bool/str/number columns encode cleanly."""
    values = np.asarray(frame, dtype=object)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    missing = pd.isna(values)
    text = values.astype(str).astype(object)
    text[missing] = np.nan
    return text


def as_float(frame: Any) -> np.ndarray:
    """Kept so pipelines trained before issue 16 load (new ones use scikit-learn's own transformers).

    Numeric columns as float64 with NaN for missing, whatever pandas dtype (nullable, object) they came in."""
    data = pd.DataFrame(frame)
    data = data.apply(lambda column: pd.to_numeric(column, errors="coerce"))
    return data.to_numpy(dtype=float, na_value=np.nan)


def _report(progress: Progress | None, percent: float, message: str) -> None:
    if progress is not None:
        progress(percent, message)


def train(
    frame: pd.DataFrame,
    schema: Sequence[Mapping[str, Any]],
    request: Mapping[str, Any],
    *,
    progress: Progress | None = None,
    importance_repeats: int = IMPORTANCE_REPEATS,
    importance_max_rows: int = IMPORTANCE_MAX_ROWS,
) -> TrainingResult:
    """Fit the requested pipeline on a seeded split and evaluate it on the holdout.

    The same frame, schema and request always give the same split, model and metrics.
    """
    request = validate_request(schema, len(frame), **request)
    spec = ALGORITHMS[request["algorithm"]]
    kinds = {str(column["name"]): column for column in schema}
    target, features, seed = request["target"], request["features"], request["seed"]
    if missing := [name for name in [target, *features] if name not in frame.columns]:
        raise TrainingError({"features": [f"Columns missing from the data: {', '.join(missing)}."]})

    _report(progress, 5, "Preparing the data")
    labelled = frame[frame[target].notna()]
    task = request["task"] or _infer_task(labelled[target], kinds[target].get("kind"))
    if task not in spec.tasks:
        raise TrainingError({"task": [f"The target looks like {task}, which {spec.label} does not support."]})
    y = _target_values(labelled[target], task)
    _check_rows(y, task, request)
    X = labelled[features]

    stratify = y if task == CLASSIFICATION and _can_stratify(y, request["holdout"]) else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=request["holdout"], random_state=seed, stratify=stratify
    )
    try:
        estimator = spec.estimator(task, request["params"], seed)
    except (TypeError, ValueError) as exc:
        raise TrainingError({"params": [str(exc)]}) from None
    pipeline = Pipeline([("prepare", _preprocessor(features, kinds, spec, X_train)), ("model", estimator)])

    _report(progress, 15, f"Fitting {spec.label} on {len(X_train)} rows")
    started = time.perf_counter()
    pipeline.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started

    _report(progress, 50, "Scoring the holdout")
    classes = [_plain(value) for value in pipeline.classes_] if task == CLASSIFICATION else None
    metrics, evaluation = _evaluate(pipeline, X_test, y_test, task, seed)
    cv_scores: dict[str, list[float]] = {}
    if request["cv_folds"]:
        _report(progress, 60, f"Cross-validating over {request['cv_folds']} folds")
        cv_scores = _cross_validate(pipeline, X_train, y_train, task, request["cv_folds"], seed)

    _report(progress, 75, "Measuring permutation importance")
    importance = _importance(pipeline, X_test, y_test, task, seed, importance_repeats, importance_max_rows)
    curves = _curves(pipeline, X_test, y_test, task)

    _report(progress, 90, "Serialising the model")
    model_bytes = sio.dumps(pipeline)
    return TrainingResult(
        task=task,
        algorithm=spec.name,
        params=_json_safe(pipeline.named_steps["model"].get_params(deep=False)),
        metrics=metrics,
        cv_scores=cv_scores,
        curves=curves,
        importance=importance,
        evaluation=evaluation,
        signature={
            "inputs": [
                {"name": name, "kind": kinds[name].get("kind"), "dtype": kinds[name].get("dtype")} for name in features
            ],
            "output": {"task": task, "classes": classes},
        },
        split={
            "seed": seed,
            "holdout": request["holdout"],
            "train_rows": len(X_train),
            "test_rows": len(X_test),
            "stratified": stratify is not None,
            "test_index": [_plain(label) for label in X_test.index],
        },
        library_versions=library_versions(),
        model_bytes=model_bytes,
        model_sha256=hashlib.sha256(model_bytes).hexdigest(),
        fit_seconds=fit_seconds,
    )


def refit(
    model: Any,
    frame: pd.DataFrame,
    *,
    target: str,
    features: Sequence[str],
    task: str | None = None,
    inputs: Sequence[Mapping[str, Any]] | None = None,
    holdout: float = 0.2,
    seed: int = 0,
    progress: Progress | None = None,
    importance_repeats: int = IMPORTANCE_REPEATS,
    importance_max_rows: int = IMPORTANCE_MAX_ROWS,
) -> TrainingResult:
    """Fit a copy of a fitted scikit-learn model on new data: `train` for a model made anywhere (issue 16).

    The recipe is the model's own: `sklearn.base.clone` keeps the estimator (or pipeline) and every
    parameter and drops what it learnt. Everything else is `train`'s: the labelled rows, the target as
    training sees it, the seeded (stratified) split, the holdout metrics and plots, permutation importance,
    the split's test index (so the gates find the holdout) and skops bytes. `inputs` are the signature's
    input columns (kinds kept as the version recorded them); `task` defaults to what the model says it is.
    """
    features = [str(name) for name in features]
    if missing := [name for name in [target, *features] if name not in frame.columns]:
        raise TrainingError({"features": [f"Columns missing from the data: {', '.join(missing)}."]})
    if target in features:
        raise TrainingError({"target": ["The target cannot also be a feature."]})
    _report(progress, 5, "Preparing the data")
    labelled = frame[frame[target].notna()]
    task = task if task in TASKS else model_files.task_of(model) or _infer_task(labelled[target], None)
    y = _target_values(labelled[target], task)
    request = {"holdout": holdout, "cv_folds": None}
    _check_rows(y, task, request)
    X = labelled[features]
    stratify = y if task == CLASSIFICATION and _can_stratify(y, holdout) else None
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=holdout, random_state=seed, stratify=stratify)
    try:
        estimator = clone(model)
    except (TypeError, RuntimeError, ValueError) as exc:
        raise TrainingError(f"{type(model).__name__} cannot be copied to refit: {exc}") from None
    final = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator

    _report(progress, 15, f"Refitting {type(final).__name__} on {len(X_train)} rows")
    started = time.perf_counter()
    try:
        estimator.fit(X_train, y_train)
    except Exception as exc:  # the model's own code refusing the data: say which, on the run
        raise TrainingError(f"{type(final).__name__} could not be refitted on the new data: {exc}") from None
    fit_seconds = time.perf_counter() - started

    _report(progress, 50, "Scoring the holdout")
    classes = [_plain(value) for value in estimator.classes_] if task == CLASSIFICATION else None
    metrics, evaluation = _evaluate(estimator, X_test, y_test, task, seed)
    _report(progress, 75, "Measuring permutation importance")
    importance = _importance(estimator, X_test, y_test, task, seed, importance_repeats, importance_max_rows)
    has_model_step = isinstance(estimator, Pipeline) and "model" in estimator.named_steps
    curves = _curves(estimator, X_test, y_test, task) if has_model_step else {}

    _report(progress, 90, "Serialising the model")
    model_bytes = sio.dumps(estimator)
    known = {str(column.get("name")): dict(column) for column in inputs or []}
    return TrainingResult(
        task=task,
        algorithm=type(final).__name__,
        params=_json_safe(final.get_params(deep=False)),
        metrics=metrics,
        cv_scores={},
        curves=curves,
        importance=importance,
        evaluation=evaluation,
        signature={
            "inputs": [
                known.get(name) or {"name": name, "kind": tabular.infer_kind(X[name]), "dtype": str(X[name].dtype)}
                for name in features
            ],
            "output": {"task": task, "classes": classes},
        },
        split={
            "seed": seed,
            "holdout": holdout,
            "train_rows": len(X_train),
            "test_rows": len(X_test),
            "stratified": stratify is not None,
            "test_index": [_plain(label) for label in X_test.index],
        },
        library_versions=library_versions(),
        model_bytes=model_bytes,
        model_sha256=hashlib.sha256(model_bytes).hexdigest(),
        fit_seconds=fit_seconds,
    )


def _infer_task(target: pd.Series, kind: str | None) -> str:
    """Classification for label-like targets: non-numeric, or at most 20 distinct whole numbers."""
    if kind in CLASS_KINDS or not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return CLASSIFICATION
    distinct = pd.unique(target.to_numpy(dtype=float, na_value=np.nan))
    if len(distinct) <= MAX_CLASS_VALUES and np.all(np.mod(distinct, 1) == 0):
        return CLASSIFICATION
    return REGRESSION


def _target_values(target: pd.Series, task: str) -> pd.Series:
    """A target scikit-learn can sort and compare: floats for regression, one plain type of label otherwise."""
    if task == REGRESSION:
        values = pd.to_numeric(target, errors="coerce")
        if values.isna().any():
            raise TrainingError({"target": ["Regression needs a numeric target; some values are not numbers."]})
        return values.astype(float)
    values = target.to_numpy(dtype=object)
    if all(isinstance(value, bool | np.bool_) for value in values):
        return pd.Series(values.astype(bool), index=target.index, name=target.name)
    numeric = all(isinstance(value, int | float | np.number) and not isinstance(value, bool) for value in values)
    if numeric:
        floats = values.astype(float)
        whole = np.all(np.mod(floats, 1) == 0)
        return pd.Series(floats.astype(np.int64) if whole else floats, index=target.index, name=target.name)
    return pd.Series(values.astype(str).astype(object), index=target.index, name=target.name)


def _check_rows(y: pd.Series, task: str, request: Mapping[str, Any]) -> None:
    """Enough labelled rows, and more than one class, once missing targets are dropped."""
    if task == CLASSIFICATION and y.nunique() < 2:
        raise TrainingError({"target": ["The target has a single class; classification needs at least two."]})
    n_train, n_test = _split_sizes(len(y), request["holdout"])
    if len(y) < MIN_ROWS or n_test < MIN_TEST_ROWS or n_train < MIN_TRAIN_ROWS:
        raise TrainingError({"target": [f"Only {len(y)} rows have a target value; too few to train and evaluate."]})
    if request["cv_folds"] and n_train < 2 * request["cv_folds"]:
        raise TrainingError({"cv_folds": [f"{n_train} labelled training rows are too few for the folds."]})


def _can_stratify(y: pd.Series, holdout: float) -> bool:
    """Stratify only when every class has two rows and both sides of the split can hold every class."""
    counts = y.value_counts()
    n_train, n_test = _split_sizes(len(y), holdout)
    return bool(counts.min() >= 2 and min(n_train, n_test) >= len(counts))


def _preprocessor(
    features: Sequence[str], columns: Mapping[str, Mapping[str, Any]], spec: AlgorithmSpec, X: pd.DataFrame
) -> ColumnTransformer:
    """Impute (and scale) numbers, impute and one-hot encode the rest, by input column name.

    Only scikit-learn's own transformers, so a downloaded model file loads wherever scikit-learn and skops
    are installed (pipelines trained before issue 16 start each block with `as_float`/`as_text`, which
    need this module). Each block takes the values serving hands on (`deployments.records`) and the ones
    a dataset reads back as:

    * numeric: `SimpleImputer` converts float, int, nullable Int64/Float64 and object numbers to float
      itself (NaN, None and pd.NA of a nullable column are missing), imputes the median, then scales.
    * boolean (a column holding real booleans, with or without missing values): an identity
      `StandardScaler` turns True/False/None, bool and nullable "boolean" columns into 1.0/0.0/NaN; the
      most frequent value fills the gaps before the one-hot encoder.
    * categorical (text, categories, boolean words): NaN, then None, are imputed with the most frequent
      value, then one-hot encoded; an unseen value encodes as no category (`handle_unknown="ignore"`).
    """
    numeric = [name for name in features if columns[name].get("kind") == "numeric"]
    booleans = [name for name in features if name not in numeric and _holds_booleans(X[name])]
    categorical = [name for name in features if name not in numeric and name not in booleans]
    if mixed := [name for name in categorical if _mixed_types(X[name])]:
        raise TrainingError(
            {
                "features": [
                    f"{', '.join(mixed)} mix text with booleans or numbers; make each column one type first "
                    "(the standardize_booleans cleaning step does it for yes/no columns)."
                ]
            }
        )
    transformers = []
    if numeric:
        steps = [("impute", SimpleImputer(strategy="median"))]
        if spec.needs_scaling:
            steps.append(("scale", StandardScaler()))
        transformers.append(("numeric", Pipeline(steps), numeric))
    sparse_output = not spec.dense_input
    if booleans:
        steps = [
            ("to_float", StandardScaler(with_mean=False, with_std=False)),
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=sparse_output)),
        ]
        transformers.append(("boolean", Pipeline(steps), booleans))
    if categorical:
        steps = [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("impute_none", SimpleImputer(missing_values=None, strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=sparse_output)),
        ]
        transformers.append(("categorical", Pipeline(steps), categorical))
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0 if spec.dense_input else 0.3)


def _distinct(series: pd.Series) -> list[Any]:
    values = series.dropna()
    return list(pd.unique(values.to_numpy(dtype=object))) if len(values) else []


def _holds_booleans(series: pd.Series) -> bool:
    """A bool or nullable boolean column, or an object column whose values are all True/False."""
    if pd.api.types.is_bool_dtype(series):
        return True
    if series.dtype != object:
        return False
    distinct = _distinct(series)
    return bool(distinct) and all(isinstance(value, bool | np.bool_) for value in distinct)


def _mixed_types(series: pd.Series) -> bool:
    """Whether a column holds both text and non-text values, which the encoder cannot sort together."""
    if series.dtype != object:
        return False
    kinds = {isinstance(value, str) for value in _distinct(series)}
    return len(kinds) > 1


def _evaluate(
    pipeline: Pipeline, X_test: pd.DataFrame, y_test: pd.Series, task: str, seed: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Holdout metrics (plain floats) and the plots' data."""
    predicted = pipeline.predict(X_test)
    if task == REGRESSION:
        metrics = score(task, y_test, predicted)
        return metrics, _regression_plots(np.asarray(y_test, dtype=float), np.asarray(predicted, dtype=float), seed)

    classes = list(pipeline.classes_)
    proba = pipeline.predict_proba(X_test)
    binary = len(classes) == 2
    metrics = score(task, y_test, predicted, proba, classes)  # AUC is left out when the holdout misses a class
    matrix = confusion_matrix(y_test, predicted, labels=classes)
    evaluation: dict[str, Any] = {
        "confusion_matrix": {"labels": [_plain(label) for label in classes], "matrix": matrix.tolist()}
    }
    if binary and "roc_auc" in metrics:
        evaluation |= _binary_curves(y_test, proba[:, 1], classes[1])
    return metrics, evaluation


def _binary_curves(y_test: pd.Series, scores: np.ndarray, positive: Any) -> dict[str, Any]:
    """ROC and precision-recall points for the positive class, thinned for plotting."""
    fpr, tpr, roc_thresholds = roc_curve(y_test, scores, pos_label=positive)
    precision, recall, pr_thresholds = precision_recall_curve(y_test, scores, pos_label=positive)
    roc_keep = _thin(len(fpr))
    pr_keep = _thin(len(precision))
    pr_thresholds = np.append(pr_thresholds, np.nan)  # the last (recall 0) point has no threshold
    return {
        "roc_curve": {
            "fpr": _floats(fpr[roc_keep]),
            "tpr": _floats(tpr[roc_keep]),
            "thresholds": _floats(roc_thresholds[roc_keep]),
        },
        "pr_curve": {
            "precision": _floats(precision[pr_keep]),
            "recall": _floats(recall[pr_keep]),
            "thresholds": _floats(pr_thresholds[pr_keep]),
        },
    }


def _regression_plots(actual: np.ndarray, predicted: np.ndarray, seed: int) -> dict[str, Any]:
    """A seeded sample of (predicted, actual) points and the histogram of all residuals."""
    sample = np.arange(len(actual))
    if len(sample) > MAX_RESIDUAL_POINTS:
        sample = np.sort(np.random.default_rng(seed).choice(sample, MAX_RESIDUAL_POINTS, replace=False))
    counts, edges = np.histogram(actual - predicted, bins=RESIDUAL_BINS)
    return {
        "residuals": {"predicted": _floats(predicted[sample]), "actual": _floats(actual[sample])},
        "residual_histogram": {"edges": _floats(edges), "counts": counts.tolist()},
    }


def _main_scorer(task: str, classes: Sequence[Any]) -> tuple[str, Any]:
    """The metric name and scorer used for cross-validation and importance: f1 or rmse (negated by sklearn)."""
    if task == REGRESSION:
        return "rmse", "neg_root_mean_squared_error"
    if len(classes) == 2:
        return "f1", make_scorer(f1_score, pos_label=classes[1], zero_division=0)
    return "f1_macro", make_scorer(f1_score, average="macro", zero_division=0)


def _cross_validate(
    pipeline: Pipeline, X: pd.DataFrame, y: pd.Series, task: str, folds: int, seed: int
) -> dict[str, list[float]]:
    """Fold scores of the main metric on the training part; the holdout stays unseen."""
    classes = sorted(y.unique()) if task == CLASSIFICATION else []
    name, scorer = _main_scorer(task, classes)
    splitter = (StratifiedKFold if task == CLASSIFICATION else KFold)(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(pipeline, X, y, scoring=scorer, cv=splitter, error_score="raise")
    return {name: [float(-score if task == REGRESSION else score) for score in scores]}


def _importance(
    pipeline: Pipeline,
    X_test: pd.DataFrame,
    y_test: pd.Series,
    task: str,
    seed: int,
    repeats: int = IMPORTANCE_REPEATS,
    max_rows: int = IMPORTANCE_MAX_ROWS,
) -> list[dict[str, Any]]:
    """Drop in the main metric when each raw input column is shuffled, top 20 first.

    Its cost is columns × repeats predictions of the holdout, so both repeats and rows are bounded.
    """
    classes = list(pipeline.classes_) if task == CLASSIFICATION else []
    name, scorer = _main_scorer(task, classes)
    found = permutation_importance(
        pipeline,
        X_test,
        y_test,
        scoring=scorer,
        n_repeats=max(1, repeats),
        random_state=seed,
        max_samples=min(max(1, max_rows), len(X_test)),
    )
    rows = [
        {"feature": str(column), "importance_mean": float(mean), "importance_std": float(std), "metric": name}
        for column, mean, std in zip(X_test.columns, found.importances_mean, found.importances_std, strict=True)
    ]
    rows.sort(key=lambda row: (-row["importance_mean"], row["feature"]))
    return rows[:TOP_IMPORTANCE]


def _curves(pipeline: Pipeline, X_test: pd.DataFrame, y_test: pd.Series, task: str) -> dict[str, list]:
    """Per-iteration losses for gradient boosting; other estimators expose nothing honest to plot."""
    model = pipeline.named_steps["model"]
    if not isinstance(model, HistGradientBoostingClassifier | HistGradientBoostingRegressor):
        return {}
    curves: dict[str, list[tuple[int, float]]] = {}
    # With scoring="loss" sklearn stores minus the loss, one entry per iteration (entry 0 = before any tree).
    for key, scores in (("train_loss", model.train_score_), ("validation_loss", model.validation_score_)):
        if len(scores):
            curves[key] = _thin_curve([-float(score) for score in scores])
    features = pipeline[:-1].transform(X_test)
    if task == CLASSIFICATION:
        losses = [log_loss(y_test, proba, labels=model.classes_) for proba in model.staged_predict_proba(features)]
        curves["holdout_log_loss"] = _thin_curve(losses, start=1)
    else:
        losses = [root_mean_squared_error(y_test, predicted) for predicted in model.staged_predict(features)]
        curves["holdout_rmse"] = _thin_curve(losses, start=1)
    return curves


def _thin(count: int, limit: int = MAX_CURVE_POINTS) -> np.ndarray:
    """At most `limit` evenly spread indices, always keeping the first and last."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))


def _thin_curve(values: Sequence[float], start: int = 0) -> list[tuple[int, float]]:
    return [(int(index) + start, float(values[index])) for index in _thin(len(values))]


def _floats(values: Iterable[Any]) -> list[float | None]:
    """Plain floats for JSON; infinities and NaN (e.g. ROC's first threshold) become None."""
    return [float(value) if math.isfinite(value) else None for value in values]


def _plain(value: Any) -> Any:
    """numpy scalars as Python scalars, so labels and indexes serialise to JSON."""
    return value.item() if isinstance(value, np.generic) else value


def _json_safe(value: Any) -> Any:
    """Hyperparameters as JSON values; anything exotic is kept as its repr."""
    value = _plain(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return repr(value)


def library_versions() -> dict[str, str]:
    """The versions a model was built with; a skops file should be loaded with the same ones."""
    return {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
        "python": platform.python_version(),
    }


# ---------------------------------------------------------------------------------------------------
# Loading a stored model
# ---------------------------------------------------------------------------------------------------

# Every type a pipeline built by `train` can contain besides scikit-learn's estimators, which skops trusts.
TRUSTED_TYPES = model_files.PLATFORM_TRUSTED_TYPES


def load_model(model_bytes: bytes, expected_sha256: str, **options):
    """A stored model (a pipeline, or an ONNX model with a pipeline's face), after checking its hash and types.

    `options` are `experiments.model_files.load`'s: `extra_trusted` (the MODEL_TRUSTED_TYPES setting),
    and the signature's `classes` and `task` for an ONNX model.
    """
    return model_files.load(model_bytes, expected_sha256=expected_sha256, **options)
