"""One spelling per class label, shared by serving's ground-truth checks and monitoring's scoring."""

from __future__ import annotations

import math
from typing import Any


def class_key(value: Any) -> str:
    """One spelling per class: 1, 1.0, "1" and "1.0" are "1"; true, "True" and "true" are "True"."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return text.capitalize()
        try:
            value = float(text)
        except (ValueError, OverflowError):
            return text
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)
