"""Metrics of served predictions that got their ground truth, named as training names them. Pure: no ORM.

Labels are compared as text after one normalisation, because callers send ground truth as JSON: 1, 1.0,
"1" and "1.0" are the same class; true, "True" and "true" too. A true label that is none of the model's
classes (a typo) is left out rather than failing the report. For a binary classifier the positive class is the
second of the model's classes (as in training), and ROC AUC uses its logged probability; it is left out
when the labelled rows hold a single class, where it is undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from experiments import metrics as vocabulary
from mlops_site.labels import class_key

label = class_key  # the spelling ground truth is stored under
# What a performance report holds: every metric training records but log loss (the log keeps one probability).
REPORTED = tuple(name for name in vocabulary.METRICS if name != "log_loss")


def task_of_version(version) -> str:
    """The served version's task: what its signature records, else what its metrics belong to; a version that
    says neither is taken for a classifier (as the platform always did)."""
    task = version.task or next(filter(None, map(vocabulary.task_of, version.metrics or {})), None)
    return task or vocabulary.CLASSIFICATION


def is_classifier(version) -> bool:
    return task_of_version(version) != vocabulary.REGRESSION


def classification(
    truth: Sequence[Any], predicted: Sequence[Any], probabilities: Sequence[dict[str, float] | None]
) -> dict[str, float]:
    """Metrics over the rows whose true label is one of the model's classes (others are left out)."""
    classes = [label(c) for c in (probabilities[0] or {})] if probabilities and probabilities[0] else []
    rows = [
        (label(t), label(p), {label(k): v for k, v in (pr or {}).items()})
        for t, p, pr in zip(truth, predicted, probabilities or [None] * len(truth), strict=True)
    ]
    if classes:
        rows = [row for row in rows if row[0] in classes]
    if not rows:
        return {}
    y_true, y_pred = [r[0] for r in rows], [r[1] for r in rows]
    classes = classes or sorted(set(y_true) | set(y_pred))
    proba = None
    if len(classes) == 2 and all(classes[1] in r[2] for r in rows):
        # ROC AUC reads only the positive class's logged probability; log loss is left out, as it always was.
        positive = np.array([r[2][classes[1]] for r in rows], dtype=float)
        proba = np.column_stack([1 - positive, positive])
    return vocabulary.score(vocabulary.CLASSIFICATION, y_true, y_pred, proba, classes, only=REPORTED)


def regression(truth: Sequence[Any], predicted: Sequence[Any]) -> dict[str, float]:
    pairs = [(float(t), float(p)) for t, p in zip(truth, predicted, strict=True) if _number(t) and _number(p)]
    if not pairs:
        return {}
    return vocabulary.score(vocabulary.REGRESSION, [t for t, _ in pairs], [p for _, p in pairs])


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
