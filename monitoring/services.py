"""Domain actions of monitoring, called by pages, the API and tasks alike."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from experiments import services as experiment_services
from experiments.models import DatasetVersion
from monitoring import drift

KIND_OF_SCHEMA = {"numeric": drift.NUMERIC}  # every other platform kind (categorical, boolean, text...) is categorical


def check_settings(methods: Any, thresholds: Any, share: Any = drift.DATASET_SHARE) -> tuple[dict, dict, float]:
    """Methods per kind or column and thresholds per method, checked field by field (ValidationError)."""
    methods = {} if methods is None else methods
    thresholds = {} if thresholds is None else thresholds
    if not isinstance(methods, dict) or not all(isinstance(v, str) for v in methods.values()):
        raise ValidationError({"methods": 'An object such as {"numeric": "psi", "categorical": "chisquare"}.'})
    every = set(drift.NUMERIC_METHODS) | set(drift.CATEGORICAL_METHODS)
    for key, method in methods.items():
        allowed = drift.CATEGORICAL_METHODS if key == drift.CATEGORICAL else drift.NUMERIC_METHODS
        if key in (drift.NUMERIC, drift.CATEGORICAL) and method not in allowed:
            raise ValidationError({"methods": f"{method} is not a {key} method; use one of {', '.join(allowed)}."})
        if method not in every:
            raise ValidationError({"methods": f"Unknown method {method}; use one of {', '.join(sorted(every))}."})
    if not isinstance(thresholds, dict):
        raise ValidationError({"thresholds": 'An object such as {"psi": 0.2, "ks": 0.01}.'})
    clean = {}
    for method, value in thresholds.items():
        if method not in every:
            raise ValidationError({"thresholds": f"Unknown method {method}; use one of {', '.join(sorted(every))}."})
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
            raise ValidationError({"thresholds": f"{method}: a positive number."})
        if method in drift.TESTS and value >= 1:
            raise ValidationError({"thresholds": f"{method}: a p-value threshold between 0 and 1, e.g. 0.05."})
        clean[method] = float(value)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ValidationError({"share": "The share of drifted features that makes the dataset drifted: 0 < share ≤ 1."})
    return dict(methods), clean, float(share)


def kinds_of(version: DatasetVersion) -> dict[str, str]:
    return {c["name"]: KIND_OF_SCHEMA.get(c.get("kind"), drift.CATEGORICAL) for c in version.schema or []}


def compare_versions(
    reference: DatasetVersion,
    current: DatasetVersion,
    *,
    methods: Any = None,
    thresholds: Any = None,
    share: Any = drift.DATASET_SHARE,
) -> drift.DatasetDrift:
    """Ad-hoc drift between two dataset versions, every method computed for each column.

    Columns only one side has are reported ("missing in current", "new in current"), not compared; two
    versions with no column in common are a ValidationError. Column kinds come from the reference's schema.
    """
    methods, thresholds, share = check_settings(methods, thresholds, share)
    kinds = kinds_of(current) | kinds_of(reference)
    if not set(kinds_of(reference)) & set(kinds_of(current)):
        raise ValidationError({"current_version": f"{current} has no column in common with {reference}."})
    unknown = [key for key in methods if key not in (drift.NUMERIC, drift.CATEGORICAL) and key not in kinds]
    if unknown:
        raise ValidationError({"methods": f"No column named {', '.join(unknown)}."})
    for name, method in methods.items():
        kind = kinds.get(name, name)
        allowed = drift.NUMERIC_METHODS if kind == drift.NUMERIC else drift.CATEGORICAL_METHODS
        if method not in allowed:
            raise ValidationError({"methods": f"{name} is {kind}: use one of {', '.join(allowed)}."})
    return drift.compare(
        experiment_services.load_frame(reference),
        experiment_services.load_frame(current),
        kinds=kinds,
        methods=methods,
        thresholds=thresholds,
        share=share,
        all_methods=True,
    )
