"""Ground-truth labels checked against the version that answered. Pure: no Django, no ORM.

Callers send labels as JSON, so one class arrives spelled several ways: 1, 1.0, "1" and "1.0" are one
class, and so are true, "True" and "true". `key` gives each spelling one key (the same normalisation the
monitor's performance metrics use), and `check` answers the version's own class value for it, so the log
holds each class one way. A regressor's label is a finite number.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlops_site.labels import class_key

__all__ = ["LabelError", "check", "key"]


class LabelError(ValueError):
    """A label that cannot be the true outcome of this prediction; the message is shown to the caller."""


key = class_key


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def check(value: Any, output: Mapping[str, Any] | None) -> Any:
    """The label as it is stored (the version's class, or a float for a regressor), or LabelError."""
    output = output or {}
    task, classes = output.get("task"), output.get("classes")
    if value is None:
        raise LabelError("A label is required: the true outcome of this prediction.")
    if isinstance(value, Mapping | list | tuple):
        raise LabelError("A label is one value (a class or a number), not an object or an array.")
    if task == "regression":
        number = _finite(value)
        if number is None:
            raise LabelError(f"This model is a regressor: the label must be a finite number, not {_shown(value)}.")
        return number
    if isinstance(value, float) and not math.isfinite(value):
        raise LabelError(f"{_shown(value)} is not a class.")
    if isinstance(value, int) and not isinstance(value, bool) and _finite(value) is None:
        raise LabelError("The number is too large to be a class.")
    if isinstance(classes, Sequence) and not isinstance(classes, str) and classes:
        by_key = {key(c): c for c in classes}
        found = key(value)
        if found not in by_key:
            listed = ", ".join(_shown(c) for c in classes[:20]) + (" …" if len(classes) > 20 else "")
            raise LabelError(f"{_shown(value)} is not one of this model's classes ({listed}).")
        return by_key[found]
    return value  # no classes on record (a version without a signature): kept as sent
