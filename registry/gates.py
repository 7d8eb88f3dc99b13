"""Automatic promotion gates: checks a model version must clear before a reviewer sees its promotion request.

Pure: numbers, arrays and signature dicts in, a `GateResult` out. No Django and no ORM, so the same gates run in
a service, a task or a notebook, and tests need no database. Every result has a sentence with the numbers for the
approval page and JSON-safe `details` for storing next to the request. A gate that has nothing to compare with
says "skipped" rather than passing quietly; `overall` lets skipped gates through, since missing evidence is not
evidence against the candidate. A gate that needs rows nobody has named yet (a version trained elsewhere, with no
evaluation set configured) says "needs_configuration": `overall` is then "undecided", which is neither a pass
nor a failure, and blocks approval until the gates run again on an evaluation set.

Inputs that cannot be scored (unknown metric or operator, arrays of different lengths) raise `ValueError`: that is
a caller's bug, not a property of the model.
"""

from __future__ import annotations

import hashlib
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from experiments import metrics
from mlops_site import lazy

pd = lazy.module("pandas")

Status = Literal["pass", "fail", "skipped", "needs_configuration"]
PASS: Status = "pass"
FAIL: Status = "fail"
SKIPPED: Status = "skipped"
NEEDS_CONFIGURATION: Status = "needs_configuration"
UNDECIDED = "undecided"  # overall: no gate failed, but some could not be decided without an evaluation set

CLASSIFICATION, REGRESSION = metrics.CLASSIFICATION, metrics.REGRESSION
CLASSIFICATION_METRICS = metrics.GATE_METRICS[CLASSIFICATION]
REGRESSION_METRICS = metrics.GATE_METRICS[REGRESSION]
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
MISSING_GROUP = "(missing)"
# Differences of floats carry rounding noise (0.8 - 0.75 > 0.05); a gap this small is treated as "at the limit".
EPSILON = 1e-12
HASH_PREFIX = 12
BOOTSTRAP_ROUNDS = 200  # enough for a 95 % interval to two decimals; about 0.5 s for f1 on 2,500 rows
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: a status, a sentence with the numbers, and JSON-safe details for the record."""

    name: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def overall(results: Iterable[GateResult]) -> str:
    """ "fail" when any gate failed, else "undecided" when one needs configuration, else "pass" (skipped gates
    do not block)."""
    statuses = {result.status for result in results}
    if FAIL in statuses:
        return FAIL
    return UNDECIDED if NEEDS_CONFIGURATION in statuses else PASS


# ---------------------------------------------------------------------------------------------------
# Metric thresholds
# ---------------------------------------------------------------------------------------------------


def metric_thresholds(
    metrics: Mapping[str, float | None],
    thresholds: Sequence[Mapping[str, Any]],
    *,
    source: str = "",
    source_details: Mapping[str, Any] | None = None,
) -> GateResult:
    """Each threshold `{"metric": "f1", "op": ">=", "value": 0.8}` must hold on the version's metrics.

    A metric the version does not have (absent, None or NaN) fails its check, so a typo in a threshold cannot
    pass silently. Values are compared as stored, without tolerance. `source` says where the numbers come from
    ("computed on the evaluation set …", "reported by the uploader") and ends the message; `source_details`
    go into the details under "source".
    """
    name = "metric_thresholds"
    if not thresholds:
        return GateResult(name, SKIPPED, "No metric thresholds are configured.", {"checks": []})
    result = _thresholds(metrics, thresholds)
    if not source:
        return result
    details = {**result.details, "source": dict(source_details or {}) | {"text": source}}
    return GateResult(name, result.status, f"{result.message[:-1]} ({source}).", details)


def _thresholds(metrics: Mapping[str, float | None], thresholds: Sequence[Mapping[str, Any]]) -> GateResult:
    name = "metric_thresholds"
    checks: list[dict[str, Any]] = []
    for threshold in thresholds:
        metric, op, limit = str(threshold["metric"]), str(threshold["op"]), float(threshold["value"])
        if op not in OPERATORS:
            raise ValueError(f"Unknown operator {op!r} for {metric}; use one of {', '.join(OPERATORS)}.")
        actual = _finite_or_none(metrics.get(metric))
        if actual is None:
            outcome = "missing"
        else:
            outcome = PASS if OPERATORS[op](actual, limit) else FAIL
        checks.append({"metric": metric, "op": op, "value": limit, "actual": actual, "outcome": outcome})

    failed = [c for c in checks if c["outcome"] == FAIL]
    missing = [c["metric"] for c in checks if c["outcome"] == "missing"]
    details = {"checks": checks, "failed": [c["metric"] for c in failed], "missing": missing}
    if not failed and not missing:
        listed = "; ".join(f"{c['metric']} {_num(c['actual'])} {c['op']} {_num(c['value'])}" for c in checks)
        return GateResult(
            name, PASS, f"All metric thresholds hold ({len(checks)} of {len(checks)}): {listed}.", details
        )
    problems = [f"{c['metric']} is {_num(c['actual'])}, needs {c['op']} {_num(c['value'])}" for c in failed]
    problems += [f"{metric} is missing from the version's metrics" for metric in missing]
    held = len(checks) - len(failed) - len(missing)
    return GateResult(name, FAIL, f"{held} of {len(checks)} metric thresholds hold; {'; '.join(problems)}.", details)


# ---------------------------------------------------------------------------------------------------
# Champion / challenger
# ---------------------------------------------------------------------------------------------------


def champion_challenger(
    y_true: npt.ArrayLike,
    candidate_scores: npt.ArrayLike,
    champion_scores: npt.ArrayLike | None,
    *,
    metric: str,
    tolerance: float,
    task: str,
) -> GateResult:
    """The candidate may be worse than the production champion by at most `tolerance`, on the same holdout rows.

    `tolerance` is absolute, in the metric's units, and being worse by exactly the tolerance passes. For rmse and
    mae lower is better; for the others higher is better. Classification metrics take predicted labels (f1,
    accuracy) or the positive class's probability (roc_auc). The positive class is the larger of the sorted
    distinct labels, as `classes_[1]` is in training: for f1 among the labels of `y_true` and both predictions,
    for roc_auc among those of `y_true`. With more than two labels f1 is macro-averaged over all of them. When
    `y_true` holds a single class, roc_auc is undefined and the gate is skipped.
    """
    name = "champion_challenger"
    _check_metric(metric, task)
    if tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"The tolerance must be zero or more, not {tolerance}.")
    if champion_scores is None:
        return GateResult(
            name, SKIPPED, "Skipped: no production version to compare with.", {"metric": metric, "task": task}
        )

    truth = np.asarray(y_true)
    candidate, champion = np.asarray(candidate_scores), np.asarray(champion_scores)
    if not (len(truth) == len(candidate) == len(champion)):
        raise ValueError(
            f"y_true, candidate and champion scores must cover the same rows "
            f"({len(truth)}, {len(candidate)} and {len(champion)} given)."
        )
    if len(truth) == 0:
        raise ValueError("Cannot compare models on an empty holdout.")

    extra: dict[str, Any] = {}
    labels: list[Any] = []  # classification: the sorted labels both models are scored against
    if metric == "roc_auc":
        labels = _sorted_labels(truth)
        if len(labels) < 2:
            return GateResult(
                name,
                SKIPPED,
                f"Skipped: roc_auc is undefined because the {len(truth)} holdout rows hold a single class.",
                {"metric": metric, "task": task, "rows": len(truth), "classes": [_plain(v) for v in labels]},
            )
        if len(labels) > 2:
            raise ValueError(f"The roc_auc gate needs a binary target; this one has {len(labels)} classes.")
        extra["positive_label"] = _plain(labels[-1])
    elif metric == "f1":
        labels = _sorted_labels(np.concatenate([truth, candidate, champion]))
        extra["averaging"] = "binary" if len(labels) <= 2 else "macro"
        if len(labels) <= 2:
            extra["positive_label"] = _plain(labels[-1])

    candidate_value = _score(metric, truth, candidate, labels)
    champion_value = _score(metric, truth, champion, labels)
    lower_better = metrics.lower_is_better(metric)
    difference = candidate_value - champion_value
    shortfall = difference if lower_better else -difference  # > 0 means the candidate is worse
    passed = shortfall <= tolerance + EPSILON
    low, high = _bootstrap_difference(metric, truth, candidate, champion, labels)
    details = {
        "metric": metric,
        "task": task,
        "rows": len(truth),
        "candidate": candidate_value,
        "champion": champion_value,
        "difference": difference,
        "difference_ci95": [low, high],
        "bootstrap_rounds": BOOTSTRAP_ROUNDS,
        "shortfall": shortfall,
        "direction": "lower_is_better" if lower_better else "higher_is_better",
        "tolerance": float(tolerance),
        **extra,
    }
    head = f"Candidate {metric} {_num(candidate_value)} vs champion {_num(champion_value)}"
    interval = f" (candidate − champion {_num(difference)}, 95% bootstrap interval [{_num(low)}, {_num(high)}])"
    if shortfall <= 0:
        verdict = f"{_num(-shortfall)} better" if shortfall < 0 else "equal"
        return GateResult(name, PASS, f"{head} on {len(truth)} rows: {verdict}{interval}.", details)
    if passed:
        return GateResult(
            name,
            PASS,
            f"{head}: {_num(shortfall)} worse, within the tolerance of {_num(tolerance)}{interval}.",
            details,
        )
    return GateResult(
        name,
        FAIL,
        f"{head}: {_num(shortfall)} worse, more than the tolerance of {_num(tolerance)}{interval}.",
        details,
    )


def _bootstrap_difference(
    metric: str, truth: np.ndarray, candidate: np.ndarray, champion: np.ndarray, labels: Sequence[Any]
) -> tuple[float | None, float | None]:
    """A paired bootstrap 95 % interval of candidate − champion: both models scored on the same resampled rows.

    It tells a reviewer whether a small gain is more than the luck of this holdout. Resamples where the metric
    is undefined (roc_auc on a single class) are dropped; with fewer than half left there is no interval.
    """
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    differences = []
    for _ in range(BOOTSTRAP_ROUNDS):
        rows = rng.integers(0, len(truth), len(truth))
        sample = truth[rows]
        if metric == "roc_auc" and len(np.unique(sample == labels[-1])) < 2:
            continue
        differences.append(
            _score(metric, sample, candidate[rows], labels) - _score(metric, sample, champion[rows], labels)
        )
    if len(differences) < BOOTSTRAP_ROUNDS // 2:
        return None, None
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def _check_metric(metric: str, task: str) -> None:
    metrics.check_gate_metric(task, metric)


def _score(metric: str, truth: np.ndarray, scores: np.ndarray, labels: Sequence[Any]) -> float:
    """The metric as training computes it (`experiments.metrics.score`). `labels` (sorted) are shared by both
    models, so both use one positive class; for roc_auc `scores` are the positive class's probabilities."""
    if metrics.task_of(metric) == REGRESSION:
        found = metrics.score(REGRESSION, truth, scores, only=(metric,))
        if metric == "r2" and metric not in found and len(truth) > 1:
            # A constant truth (a tiny resample): scikit-learn's finite r2 (1 if exact, else 0), as the gate always had.
            from sklearn.metrics import r2_score

            return float(r2_score(truth, scores))
        return found.get(metric, float("nan"))
    classes = list(labels) or _sorted_labels(np.concatenate([truth, scores]))
    if metric == "roc_auc":
        positive = scores.astype(float)
        predicted = np.where(positive >= 0.5, classes[-1], classes[0])
        proba = np.column_stack([1 - positive, positive])
        return metrics.score(CLASSIFICATION, truth, predicted, proba=proba, classes=classes, only=("roc_auc",))[
            "roc_auc"
        ]
    return metrics.score(CLASSIFICATION, truth, scores, classes=classes, only=(metric,))[metric]


# ---------------------------------------------------------------------------------------------------
# Signature compatibility
# ---------------------------------------------------------------------------------------------------


def signature_compatible(candidate: Mapping[str, Any], production: Mapping[str, Any] | None) -> GateResult:
    """Existing callers send production's input columns; the candidate must accept exactly those, with the same kinds.

    A column production has and the candidate lacks, or one whose kind changed (numeric to categorical), breaks
    the candidate's preprocessing; a column the candidate needs and production lacks is one callers never send.
    Only input names and kinds are compared: dtypes (int64 vs float64) and the output block are not.
    """
    name = "signature_compatible"
    if production is None:
        return GateResult(name, SKIPPED, "Skipped: no production version to compare with.", {})

    candidate_kinds = _input_kinds(candidate)
    production_kinds = _input_kinds(production)
    missing = [column for column in production_kinds if column not in candidate_kinds]
    extra = [column for column in candidate_kinds if column not in production_kinds]
    kind_changes = [
        {"name": column, "production": kind, "candidate": candidate_kinds[column]}
        for column, kind in production_kinds.items()
        if column in candidate_kinds and candidate_kinds[column] != kind
    ]
    details = {
        "missing": missing,
        "extra": extra,
        "kind_changes": kind_changes,
        "production_inputs": len(production_kinds),
        "candidate_inputs": len(candidate_kinds),
    }
    if not (missing or extra or kind_changes):
        return GateResult(
            name,
            PASS,
            f"The candidate takes the same {len(production_kinds)} input columns as production, with the same kinds.",
            details,
        )
    problems = []
    if missing:
        problems.append(f"{_count(missing, 'production column')} missing from the candidate ({', '.join(missing)})")
    if extra:
        problems.append(f"{_count(extra, 'extra column')} production callers do not send ({', '.join(extra)})")
    if kind_changes:
        changed = ", ".join(f"{c['name']} {c['production']} → {c['candidate']}" for c in kind_changes)
        problems.append(f"{_count(kind_changes, 'kind change')} ({changed})")
    return GateResult(name, FAIL, f"Incompatible with production: {'; '.join(problems)}.", details)


def _input_kinds(signature: Mapping[str, Any]) -> dict[str, str | None]:
    return {str(column["name"]): column.get("kind") for column in signature.get("inputs") or []}


# ---------------------------------------------------------------------------------------------------
# Fairness
# ---------------------------------------------------------------------------------------------------


def fairness(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    max_gap: float,
    positive: Any = None,
) -> GateResult:
    """Across the values of a sensitive column, positive-prediction rates and recalls may differ by at most `max_gap`.

    Per group: the share of rows predicted `positive` (demographic parity) and the share of actual positives
    predicted positive (recall, equal opportunity). A gap is max − min across groups; a gap exactly at `max_gap`
    passes. A group with no actual positives has no recall and is left out of the recall gap. Missing group
    values (None/NaN) form their own group, "(missing)". `positive` defaults to the larger of the sorted distinct
    labels of `y_true` and `y_pred`, as training's `classes_[1]`. Fewer than two groups: skipped.
    """
    name = "fairness"
    truth, predicted = pd.Series(np.asarray(y_true, dtype=object)), pd.Series(np.asarray(y_pred, dtype=object))
    group_values = pd.Series(np.asarray(groups, dtype=object))
    if not (len(truth) == len(predicted) == len(group_values)):
        raise ValueError(
            f"y_true, y_pred and groups must have the same length "
            f"({len(truth)}, {len(predicted)} and {len(group_values)} given)."
        )
    if truth.isna().any() or predicted.isna().any():
        raise ValueError("y_true and y_pred must not contain missing labels.")
    if max_gap < 0 or math.isnan(max_gap):
        raise ValueError(f"max_gap must be zero or more, not {max_gap}.")
    if positive is None and len(truth):
        positive = _sorted_labels(np.concatenate([truth.to_numpy(), predicted.to_numpy()]))[-1]

    keys = group_values.map(lambda value: MISSING_GROUP if _is_missing(value) else str(value))
    rows = []
    for key in sorted(keys.unique(), key=lambda k: (k == MISSING_GROUP, k)):
        in_group = (keys == key).to_numpy()
        actual = (truth[in_group] == positive).to_numpy()
        hit = (predicted[in_group] == positive).to_numpy()
        positives = int(actual.sum())
        rows.append(
            {
                "group": key,
                "n": int(in_group.sum()),
                "positives": positives,
                "positive_rate": float(hit.mean()),
                "recall": float((hit & actual).sum() / positives) if positives else None,
            }
        )
    base = {"groups": rows, "positive": _plain(positive), "max_gap": float(max_gap)}
    if len(rows) < 2:
        return GateResult(
            name,
            SKIPPED,
            f"Skipped: fairness needs at least two groups, found {len(rows)}.",
            base | {"positive_rate_gap": None, "recall_gap": None, "excluded_from_recall": []},
        )

    rates = [row["positive_rate"] for row in rows]
    recalls = [row["recall"] for row in rows if row["recall"] is not None]
    excluded = [row["group"] for row in rows if row["recall"] is None]
    rate_gap = max(rates) - min(rates)
    recall_gap = max(recalls) - min(recalls) if recalls else None
    details = base | {
        "positive_rate_gap": rate_gap,
        "recall_gap": recall_gap,
        "excluded_from_recall": excluded,
        "recall_note": (
            f"Left out of the recall gap, having no actual positives: {', '.join(excluded)}." if excluded else None
        ),
    }
    rate_fails = rate_gap > max_gap + EPSILON
    recall_fails = recall_gap is not None and recall_gap > max_gap + EPSILON
    parts = [
        f"positive-rate gap {_num(rate_gap)} ({_extremes(rows, 'positive_rate')})",
        (
            f"recall gap {_num(recall_gap)} ({_extremes(rows, 'recall')})"
            if recall_gap is not None
            else "recall gap not measurable (no group has actual positives)"
        ),
    ]
    summary = f"Across {len(rows)} groups: {'; '.join(parts)}"
    if excluded:
        summary += f"; {_count(excluded, 'group')} without positives left out of recall ({', '.join(excluded)})"
    if rate_fails or recall_fails:
        over = " and ".join(gap for gap, fails in (("positive-rate", rate_fails), ("recall", recall_fails)) if fails)
        return GateResult(
            name,
            FAIL,
            f"{summary}. The {over} {'gaps are' if rate_fails and recall_fails else 'gap is'} above the allowed {_num(max_gap)}.",
            details,
        )
    return GateResult(name, PASS, f"{summary}. Within the allowed gap of {_num(max_gap)}.", details)


def _extremes(rows: list[dict[str, Any]], key: str) -> str:
    measured = [row for row in rows if row[key] is not None]
    low = min(measured, key=lambda row: row[key])
    high = max(measured, key=lambda row: row[key])
    return f"{high['group']} {_num(high[key])} vs {low['group']} {_num(low[key])}"


# ---------------------------------------------------------------------------------------------------
# Artifact hash
# ---------------------------------------------------------------------------------------------------


def artifact_hash(data: bytes, expected_sha256: str) -> GateResult:
    """The stored model bytes must hash to the sha256 recorded at training, so what is promoted is what was scored."""
    name = "artifact_hash"
    actual = hashlib.sha256(data).hexdigest()
    expected = expected_sha256.strip().lower()
    details = {"actual": actual, "expected": expected, "size_bytes": len(data)}
    if actual == expected:
        return GateResult(
            name, PASS, f"The artifact's sha256 {actual[:HASH_PREFIX]}… matches ({len(data)} bytes).", details
        )
    return GateResult(
        name,
        FAIL,
        f"The artifact's sha256 is {actual[:HASH_PREFIX]}…, expected {expected[:HASH_PREFIX]}…: "
        f"the stored model is not the one that was trained.",
        details,
    )


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def _sorted_labels(values: np.ndarray) -> list[Any]:
    return sorted(pd.unique(pd.Series(values, dtype=object)).tolist())


def _is_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values are not missing
        return False


def _plain(value: Any) -> Any:
    """A JSON-safe Python scalar for a numpy one."""
    return value.item() if isinstance(value, np.generic) else value


def _finite_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _count(items: Sequence[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"
