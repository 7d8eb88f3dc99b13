"""Alert rule arithmetic, without the ORM: which family a metric belongs to, and whether a value breaches.

A rule's window means the same thing for every family: the span of time its value is taken over. Drift
and performance metrics are the mean over the monitor's reports that ended in the window (reports with
"not enough data" carry no value and are skipped); service metrics are computed from the requests
answered in the window, and so is the inputs metric `unseen_share` (the share of answered rows holding a
categorical value training never had, from the prediction log). No value (no report, no labelled row; no request for error rate and latency) never
opens or resolves an alert. The request rate of a window without requests is 0: silence can alert.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable

DRIFT = ("drift_share", "drifted_features", "prediction_drift")
PERFORMANCE = ("accuracy", "f1", "roc_auc", "rmse", "mae")
SERVICE = ("request_rate", "error_rate", "latency_p95_ms")
INPUTS = ("unseen_share",)
COMPARISONS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
SYMBOLS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def family(metric: str) -> str:
    if metric in DRIFT:
        return "drift"
    if metric in PERFORMANCE:
        return "performance"
    if metric in SERVICE:
        return "service"
    if metric in INPUTS:
        return "inputs"
    raise ValueError(f"unknown metric {metric!r}")


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that exist, or None when there are none."""
    present = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(present) / len(present) if present else None


def breached(value: float | None, comparison: str, threshold: float) -> bool | None:
    """True or False, or None when there is no value to judge."""
    if value is None:
        return None
    return bool(COMPARISONS[comparison](value, threshold))


def describe(metric_label: str, value: float, comparison: str, threshold: float, window_minutes: int) -> str:
    return (
        f"{metric_label} was {value:.4g} over the last {window_minutes} min "
        f"({SYMBOLS[comparison]} {threshold:g} fires the rule)"
    )
