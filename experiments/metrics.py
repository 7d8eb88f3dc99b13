"""The one vocabulary of tasks and metrics: names, direction, display, and how labelled rows are scored. Pure: no ORM.

Training, the registry's gates, model cards, run comparison and the monitor's performance reports all read
this module, so a metric is added in one place. Upper apps may import it (it is a pure module of a lower
app, which the layer rule allows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CLASSIFICATION, REGRESSION = "classification", "regression"
TASKS = (CLASSIFICATION, REGRESSION)


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    task: str
    lower_is_better: bool = False
    unit: str = "score"  # "score" (0–1, unitless) or "target units"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "Accuracy", CLASSIFICATION),
        Metric("precision", "Precision", CLASSIFICATION),
        Metric("recall", "Recall", CLASSIFICATION),
        Metric("f1", "F1", CLASSIFICATION),
        Metric("roc_auc", "ROC AUC", CLASSIFICATION),
        Metric("log_loss", "Log loss", CLASSIFICATION, lower_is_better=True, unit="nats"),
        Metric("rmse", "RMSE", REGRESSION, lower_is_better=True, unit="target units"),
        Metric("mae", "MAE", REGRESSION, lower_is_better=True, unit="target units"),
        Metric("r2", "R²", REGRESSION),
    )
}
# What a gate or an alert may compare on, per task (log loss is reported, not gated).
GATE_METRICS = {
    CLASSIFICATION: ("f1", "accuracy", "roc_auc"),
    REGRESSION: ("rmse", "mae", "r2"),
}


def _each_task(first: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every built-in metric, task by task: the task's `first` metrics, then its others in `METRICS` order."""
    return tuple(
        name
        for task in TASKS
        for name in (
            *first[task],
            *(m for m, metric in METRICS.items() if metric.task == task and m not in first[task]),
        )
    )


# What a threshold may name: every metric training records, each task's gate metrics first.
THRESHOLD_METRICS = _each_task(GATE_METRICS)
# The metrics a page leads with, per task, the first being the one a task is ranked by when nobody chose one.
HEADLINE = {
    CLASSIFICATION: ("f1", "roc_auc", "accuracy"),
    REGRESSION: ("rmse", "mae", "r2"),
}
PRIMARY = {task: names[0] for task, names in HEADLINE.items()}
HEADLINES = tuple(name for task in TASKS for name in HEADLINE[task])  # both tasks' headlines, in that order
# Every built-in metric in the order pages list them: per task, its headline metrics, then the rest.
PREFERENCE = _each_task(HEADLINE)


def preferred(names: Iterable[str]) -> str | None:
    """The metric to lead with among `names`: the first of `PREFERENCE` there, else the first by name."""
    present = set(names)
    return next((name for name in PREFERENCE if name in present), min(present, default=None))


def lower_is_better(name: str) -> bool:
    """Errors and losses, including curves logged per iteration (`holdout_log_loss`) and user metrics (`val_loss`)."""
    metric = METRICS.get(name)
    if metric is not None:
        return metric.lower_is_better
    plain = ("loss", "error", "rmse", "mae", "mse")  # what MLflow scripts log as `loss`, `val_loss`, `train_rmse`
    return name.startswith("holdout_") or name in plain or name.endswith(tuple(f"_{word}" for word in plain))


def finite(value: float | None) -> float | None:
    """The value when it is a finite number, else None: what JSON can carry and what an aggregate may use.

    Runs logged through the MLflow surface may hold NaN and ±Infinity (a diverged loss); a best value, a
    mean or an API answer built from them would itself turn NaN or into invalid JSON.
    """
    return value if value is not None and math.isfinite(value) else None


def best(name: str, values: Iterable[float | None]) -> float | None:
    """The best of the finite values by the metric's direction (None when there is none)."""
    present = [v for v in values if finite(v) is not None]
    if not present:
        return None
    return min(present) if lower_is_better(name) else max(present)


def improvement(name: str, candidate: float, reference: float) -> float:
    """How much better `candidate` is than `reference`, positive when better, in the metric's own units."""
    return reference - candidate if lower_is_better(name) else candidate - reference


def display_name(name: str) -> str:
    metric = METRICS.get(name)
    return metric.label if metric else name


def unit(name: str) -> str:
    metric = METRICS.get(name)
    return metric.unit if metric else "score"


def task_of(name: str) -> str | None:
    """The task a built-in metric belongs to (None for a user's own metric)."""
    metric = METRICS.get(name)
    return metric.task if metric else None


def task_from_signature(signature: dict | None) -> str | None:
    """The task recorded in a model signature's output block (`{"output": {"task": ...}}`)."""
    task = ((signature or {}).get("output") or {}).get("task")
    return task if task in TASKS else None


def check_gate_metric(task: str, name: str) -> None:
    """ValueError naming the choices when `name` cannot be gated for `task`."""
    allowed = GATE_METRICS.get(task)
    if allowed is None:
        raise ValueError(f"Unknown task {task!r}; use {CLASSIFICATION!r} or {REGRESSION!r}.")
    if name not in allowed:
        raise ValueError(f"{name!r} is not a {task} metric; use one of {', '.join(allowed)}.")


def score(
    task: str,
    truth: Sequence[Any],
    predicted: Sequence[Any],
    proba: np.ndarray | None = None,
    classes: Sequence[Any] | None = None,
    *,
    only: Collection[str] | None = None,
) -> dict[str, float]:
    """Every metric the rows allow, as training reports them (or just those named in `only`).

    Classification: `classes` in the model's order (sorted, as scikit-learn keeps them); the positive class
    of a binary task is the second. `proba` (rows × classes) adds log loss and ROC AUC; AUC is left out when
    the rows miss a class, where it is undefined. Regression: r2 needs two rows with some spread. `only`
    is for hot loops such as the gates' bootstrap, which needs one metric 200 times.
    """
    from sklearn import metrics as sk

    if task == REGRESSION:
        y_true, y_pred = np.asarray(truth, dtype=float), np.asarray(predicted, dtype=float)
        if not len(y_true):
            return {}
        scorers = {
            "rmse": lambda: sk.root_mean_squared_error(y_true, y_pred),
            "mae": lambda: sk.mean_absolute_error(y_true, y_pred),
        }
        if len(y_true) > 1 and np.std(y_true) > 0:
            scorers["r2"] = lambda: sk.r2_score(y_true, y_pred)
        return _computed(scorers, only)
    if task != CLASSIFICATION:
        raise ValueError(f"Unknown task {task!r}; use {CLASSIFICATION!r} or {REGRESSION!r}.")
    if not len(truth):
        return {}
    classes = list(classes) if classes is not None else sorted(set(truth) | set(predicted))
    binary = len(classes) == 2
    averaging = {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro"}
    scorers = {
        "accuracy": lambda: sk.accuracy_score(truth, predicted),
        "precision": lambda: sk.precision_score(truth, predicted, labels=classes, zero_division=0, **averaging),
        "recall": lambda: sk.recall_score(truth, predicted, labels=classes, zero_division=0, **averaging),
        "f1": lambda: sk.f1_score(truth, predicted, labels=classes, zero_division=0, **averaging),
    }
    if proba is not None:
        proba = np.asarray(proba, dtype=float)
        scorers["log_loss"] = lambda: sk.log_loss(truth, proba, labels=classes)
        if len(set(truth)) == len(classes):
            if binary:
                scorers["roc_auc"] = lambda: sk.roc_auc_score([t == classes[1] for t in truth], proba[:, 1])
            else:
                scorers["roc_auc"] = lambda: sk.roc_auc_score(
                    truth, proba, multi_class="ovr", average="macro", labels=classes
                )
    return _computed(scorers, only)


def _computed(scorers: dict[str, Callable[[], Any]], only: Collection[str] | None) -> dict[str, float]:
    return {name: float(compute()) for name, compute in scorers.items() if only is None or name in only}
