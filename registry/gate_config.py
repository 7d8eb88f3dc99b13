"""A registered model's gate configuration: parsed, checked and filled with defaults. Pure, no Django.

Stored on `RegisteredModel.gates` in the normalised shape `normalise` returns, so the gates task and the
pages read one shape:

    {
      "thresholds": [{"metric": "f1", "op": ">=", "value": 0.8}],
      "champion": {"metric": null, "tolerance": 0.01},   # null: f1 for classifiers, rmse for regressors
      "fairness": {"column": "sex", "max_gap": 0.1},     # or null: no fairness gate
      "approvals": {"staging": 1, "production": 1},
    }
"""

from __future__ import annotations

import math
from typing import Any

from registry.gates import CLASSIFICATION_METRICS, OPERATORS, REGRESSION_METRICS

METRICS = (*CLASSIFICATION_METRICS, *REGRESSION_METRICS)  # what champion/challenger can score
# Thresholds read the version's recorded metrics, so every metric training records can be used.
THRESHOLD_METRICS = ("f1", "accuracy", "roc_auc", "precision", "recall", "log_loss", "rmse", "mae", "r2")
DEFAULT_TOLERANCE = 0.01
MAX_APPROVALS = 5
STAGES = ("staging", "production")


class ConfigError(ValueError):
    """Bad gate configuration; `errors` maps a field path to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{key}: {' '.join(messages)}" for key, messages in errors.items()))
        self.errors = errors


def default() -> dict[str, Any]:
    return {
        "thresholds": [],
        "champion": {"metric": None, "tolerance": DEFAULT_TOLERANCE},
        "fairness": None,
        "approvals": {stage: 1 for stage in STAGES},
    }


def normalise(raw: Any) -> dict[str, Any]:
    """The configuration with defaults filled in; raises ConfigError naming each bad field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError({"gates": ["The gate configuration is an object."]})
    errors: dict[str, list[str]] = {}
    config = default()
    if unknown := sorted(set(raw) - set(config)):
        errors["gates"] = [f"Unknown keys: {', '.join(unknown)}. Known: {', '.join(config)}."]

    thresholds = raw.get("thresholds") or []
    if not isinstance(thresholds, list):
        errors["thresholds"] = ["A list of {metric, op, value} objects."]
        thresholds = []
    for position, item in enumerate(thresholds):
        key = f"thresholds[{position}]"
        if not isinstance(item, dict):
            errors[key] = ["An object {metric, op, value}."]
            continue
        metric, op, value = item.get("metric"), item.get("op", ">="), item.get("value")
        problems = []
        if metric not in THRESHOLD_METRICS:
            problems.append(f"metric must be one of {', '.join(THRESHOLD_METRICS)}, not {metric!r}.")
        if op not in OPERATORS:
            problems.append(f"op must be one of {', '.join(OPERATORS)}, not {op!r}.")
        if not _finite(value):
            problems.append(f"value must be a finite number, not {value!r}.")
        if problems:
            errors[key] = problems
        else:
            config["thresholds"].append({"metric": metric, "op": op, "value": float(value)})

    champion = raw.get("champion", {}) or {}
    if not isinstance(champion, dict):
        errors["champion"] = ["An object {metric, tolerance}."]
    else:
        metric = champion.get("metric")
        if metric is not None and metric not in METRICS:
            errors["champion.metric"] = [f"One of {', '.join(METRICS)}, or null for the task's default."]
        tolerance = champion.get("tolerance", DEFAULT_TOLERANCE)
        if not _finite(tolerance) or float(tolerance) < 0:
            errors["champion.tolerance"] = ["A number of zero or more, in the metric's units."]
        else:
            config["champion"] = {"metric": metric, "tolerance": float(tolerance)}

    fairness = raw.get("fairness")
    if fairness is not None:
        if not isinstance(fairness, dict) or not str(fairness.get("column") or "").strip():
            errors["fairness"] = ["An object {column, max_gap} naming the sensitive column, or null."]
        elif not _finite(fairness.get("max_gap", 0.1)) or not 0 <= float(fairness.get("max_gap", 0.1)) <= 1:
            errors["fairness.max_gap"] = ["A share between 0 and 1, e.g. 0.1 for ten percentage points."]
        else:
            config["fairness"] = {
                "column": str(fairness["column"]).strip(),
                "max_gap": float(fairness.get("max_gap", 0.1)),
            }

    approvals = raw.get("approvals", {}) or {}
    if not isinstance(approvals, dict):
        errors["approvals"] = ["An object {staging: n, production: n}."]
    else:
        for stage, count in approvals.items():
            if stage not in STAGES:
                errors[f"approvals.{stage}"] = [f"Stages needing approval are {', '.join(STAGES)}."]
            elif isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_APPROVALS:
                errors[f"approvals.{stage}"] = [f"A whole number of approvals from 1 to {MAX_APPROVALS}."]
            else:
                config["approvals"][stage] = count
    if errors:
        raise ConfigError(errors)
    return config


def champion_metric(config: dict[str, Any], task: str) -> str:
    return config["champion"]["metric"] or ("f1" if task == "classification" else "rmse")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
