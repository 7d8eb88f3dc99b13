"""Side-by-side comparisons, pure (dicts in, dicts out): two dataset versions, and several runs.

`compare` diffs two versions' schemas and profiles; the run helpers below lay out a run comparison
(which params differ, the best value of each metric, the charts' default axes) for
`selectors.run_comparison`, which reads the runs' values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from experiments.metrics import best, finite

STATS = ("nulls", "null_fraction", "distinct", "min", "max", "mean", "std", "p50")


def _column_stats(profile: dict | None) -> dict[str, dict[str, Any]]:
    if not profile:
        return {}
    stats = {}
    for column in profile.get("columns", []):
        row = {key: column.get(key) for key in STATS if key != "p50"}
        row["p50"] = (column.get("quantiles") or {}).get("p50")
        stats[column["name"]] = row
    return stats


def compare(a: dict, b: dict) -> dict:
    """`a` and `b` are {"schema": [...], "profile": {...} | None, "row_count": int}; b is the newer one."""
    kinds_a = {c["name"]: c for c in a["schema"]}
    kinds_b = {c["name"]: c for c in b["schema"]}
    added = [c for c in kinds_b if c not in kinds_a]
    removed = [c for c in kinds_a if c not in kinds_b]
    retyped = [
        {
            "column": name,
            "from": f"{kinds_a[name]['kind']} ({kinds_a[name]['dtype']})",
            "to": f"{kinds_b[name]['kind']} ({kinds_b[name]['dtype']})",
        }
        for name in kinds_a
        if name in kinds_b
        and (kinds_a[name]["kind"], kinds_a[name]["dtype"]) != (kinds_b[name]["kind"], kinds_b[name]["dtype"])
    ]
    stats_a, stats_b = _column_stats(a.get("profile")), _column_stats(b.get("profile"))
    columns = []
    for name in [c for c in kinds_a if c in kinds_b]:
        sa, sb = stats_a.get(name, {}), stats_b.get(name, {})
        rows = []
        for key in STATS:
            va, vb = sa.get(key), sb.get(key)
            if va is None and vb is None:
                continue
            delta = vb - va if isinstance(va, int | float) and isinstance(vb, int | float) else None
            rows.append({"stat": key, "a": va, "b": vb, "delta": delta, "changed": va != vb})
        columns.append(
            {"column": name, "kind": kinds_b[name]["kind"], "stats": rows, "changed": any(r["changed"] for r in rows)}
        )
    return {
        "rows": {"a": a["row_count"], "b": b["row_count"], "delta": b["row_count"] - a["row_count"]},
        "added": added,
        "removed": removed,
        "retyped": retyped,
        "columns": columns,
        "profiles_ready": bool(stats_a) and bool(stats_b),
    }


# ---------------------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------------------

NOT_AXES = ("features", "space", "target")  # params that tell runs apart but mean nothing on an axis


def run_ids(values: Sequence[str], max_runs: int) -> tuple[list[int], str | None]:
    """The run ids of `?run=1,2&run=3` in order without repeats, and why they cannot be compared (or None)."""
    raw = [part for value in values for part in value.split(",") if part.strip()]
    try:
        ids = list(dict.fromkeys(int(part) for part in raw))
    except ValueError:
        return [], "Run ids are whole numbers."
    if any(not 0 < pk < 2**63 for pk in ids):
        return [], "Run ids are positive whole numbers."
    if not 2 <= len(ids) <= max_runs:
        return ids, f"Select 2 to {max_runs} runs to compare; {len(ids)} selected."
    return ids, None


def param_rows(ids: Sequence[int], params: Mapping[int, Mapping[str, str]]) -> list[dict]:
    """One row per param of any run: each run's value and whether they differ."""
    keys = sorted({key for values in params.values() for key in values})
    rows = []
    for key in keys:
        values = [params[pk].get(key) for pk in ids]
        rows.append({"key": key, "values": values, "differs": len(set(values)) > 1})
    return rows


def metric_rows(ids: Sequence[int], metrics: Mapping[int, Mapping[str, float]]) -> list[dict]:
    """One row per final metric (folds aside): each run's value and the best one when the runs differ.

    Only finite values compete: a NaN or an infinite loss is shown but never marked best.
    """
    keys = sorted({key for values in metrics.values() for key in values if not key.startswith("cv_")})
    rows = []
    for key in keys:
        values = [metrics[pk].get(key) for pk in ids]
        present = [v for v in values if finite(v) is not None]
        winner = best(key, present) if len(present) > 1 and len(set(present)) > 1 else None
        rows.append({"key": key, "values": values, "best": winner})
    return rows


def varying_axes(params: Sequence[dict], limit: int) -> list[str]:
    """Params every run has and that differ: one algorithm's knobs mean nothing to another's."""
    return [
        row["key"] for row in params if row["differs"] and None not in row["values"] and row["key"] not in NOT_AXES
    ][:limit]


def chart_choices(
    param_keys: Sequence[str],
    metric_keys: Sequence[str],
    varying: Sequence[str],
    preferred: Sequence[str],
    *,
    metric: str | None = None,
    x: str | None = None,
    y: str | None = None,
) -> dict[str, Any]:
    """The colour metric and scatter axes: the requested ones when they exist, else sensible defaults."""
    default_metric = next((key for key in preferred if key in metric_keys), metric_keys[0] if metric_keys else "")
    colour = metric if metric in metric_keys else default_metric
    fields = [f"params.{key}" for key in param_keys] + [f"metrics.{key}" for key in metric_keys]
    x_field = x if x in fields else None
    x_field = x_field or (f"params.{varying[0]}" if varying else (fields[0] if fields else ""))
    y_field = y if y in fields else f"metrics.{colour}"
    return {"colour_metric": colour, "fields": fields, "x_field": x_field, "y_field": y_field}
