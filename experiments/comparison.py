"""Side-by-side comparison of two dataset versions from their schemas and profiles. Pure: dicts in, dict out."""

from __future__ import annotations

from typing import Any

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
