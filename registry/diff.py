"""Two model versions side by side: params, metrics, signature, output and data lineage. Pure: dicts in, dicts out.

The version diff page reads the rows; `snapshot` takes what a diff needs from a version, so the rows are
computed without queries and tested without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.metrics import lower_is_better
from registry.cards import describe_step


def snapshot(version) -> dict[str, Any]:
    """What a diff reads of a version: its pinned params, metrics, signature and lineage (plain dicts)."""
    return {
        "params": version.params or {},
        "metrics": version.metrics or {},
        "signature": version.signature or {},
        "lineage": version.lineage or {},
    }


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Rows for each side-by-side table, from two `snapshot`s."""
    params = param_rows(a.get("params") or {}, b.get("params") or {})
    return {
        "params": params,
        "params_changed": [row for row in params if row["differs"]],
        "params_same": [row for row in params if not row["differs"]],
        "metrics": metric_rows(a.get("metrics") or {}, b.get("metrics") or {}),
        "signature": signature_rows(a.get("signature") or {}, b.get("signature") or {}),
        "output": output_rows(a.get("signature") or {}, b.get("signature") or {}),
        "lineage": lineage_rows(a.get("lineage") or {}, b.get("lineage") or {}),
    }


def param_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    return [
        {"name": key, "a": a.get(key), "b": b.get(key), "differs": a.get(key) != b.get(key)} for key in sorted({*a, *b})
    ]


def metric_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    """b − a for each metric both have, and which side is better (lower for losses and errors)."""
    rows = []
    for key in sorted({*a, *b}):
        left, right = a.get(key), b.get(key)
        lower = lower_is_better(key)
        row = {"name": key, "a": left, "b": right, "delta": None, "better": None, "lower": lower}
        if _is_number(left) and _is_number(right):
            row["delta"] = right - left
            if right == left:
                row["better"] = "same"
            else:
                row["better"] = "b" if (right < left) == lower else "a"
        rows.append(row)
    return rows


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def signature_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    """One row per input column: added, removed, kind or dtype changed, or unchanged."""
    left = {column.get("name"): column for column in a.get("inputs") or []}
    right = {column.get("name"): column for column in b.get("inputs") or []}
    names = list(left) + [name for name in right if name not in left]
    rows = []
    for name in names:
        old, new = left.get(name), right.get(name)
        if old is None:
            change = "added"
        elif new is None:
            change = "removed"
        elif old.get("kind") != new.get("kind"):
            change = "kind changed"
        elif old.get("dtype") != new.get("dtype"):
            change = "dtype changed"
        else:
            change = ""
        rows.append({"name": name, "a": old, "b": new, "change": change})
    return rows


def output_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    left, right = a.get("output") or {}, b.get("output") or {}
    rows = []
    for key, label in (("task", "Task"), ("classes", "Classes")):
        old, new = left.get(key), right.get(key)
        rows.append({"name": label, "a": _listed(old), "b": _listed(new), "differs": old != new})
    return rows


def _listed(value: Any) -> Any:
    return ", ".join(map(str, value)) if isinstance(value, list) else value


def lineage_rows(a: dict, b: dict) -> list[dict[str, Any]]:
    """Per input dataset: the version each side trained on and whether its bytes (sha256) are the same."""
    left = {item.get("dataset"): _input(item) for item in a.get("inputs") or []}
    right = {item.get("dataset"): _input(item) for item in b.get("inputs") or []}
    rows = []
    for dataset in list(left) + [name for name in right if name not in left]:
        old, new = left.get(dataset), right.get(dataset)
        same = bool(old and new and old["sha256"] == new["sha256"])
        rows.append({"dataset": dataset, "a": old, "b": new, "same": same})
    return rows


def _input(item: dict) -> dict[str, Any]:
    chain = item.get("chain") or []
    head = chain[0] if chain else {}
    steps = [describe_step(step) for node in chain for step in (node.get("recipe") or [])]
    return {"id": item.get("version"), "number": head.get("number"), "sha256": head.get("sha256") or "", "steps": steps}
