"""Reads of the experiments app that feed pages and the API."""

from __future__ import annotations

import numpy as np

from experiments import downsample
from experiments.models import Metric, Run


def metric_history(run: Run, key: str, *, max_points: int) -> dict:
    """One metric's history by step, downsampled on the server (extremes kept) to at most max_points."""
    rows = (
        Metric.objects.filter(run=run, key=key)
        .order_by("step", "timestamp", "id")
        .values_list("step", "value", "timestamp")
    )
    rows = list(rows)
    total = len(rows)
    if not rows:
        return {"key": key, "total_points": 0, "points": []}
    steps = np.fromiter((r[0] for r in rows), dtype=np.int64, count=total)
    values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=total)
    kept_steps, kept_values = downsample.min_max(steps, values, max_points)
    if len(kept_steps) == total:
        points = [{"step": s, "value": v, "timestamp": t} for s, v, t in rows]
    else:
        points = [{"step": int(s), "value": float(v)} for s, v in zip(kept_steps, kept_values, strict=True)]
    return {"key": key, "total_points": total, "downsampled": len(points) < total, "points": points}


def latest_metrics(run: Run) -> dict[str, float]:
    """The last value (highest step, then latest timestamp) of each metric of a run."""
    latest: dict[str, tuple] = {}
    for key, step, stamp, value in Metric.objects.filter(run=run).values_list("key", "step", "timestamp", "value"):
        if key not in latest or (step, stamp) >= latest[key][:2]:
            latest[key] = (step, stamp, value)
    return {key: entry[2] for key, entry in sorted(latest.items())}
