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


LOWER_IS_BETTER = {"rmse", "mae", "log_loss"}


def sweep_summary(parent: Run, metric: str | None = None) -> dict | None:
    """The children of a sweep with their params and final metrics, and the best child for `metric`."""
    children = list(parent.children.prefetch_related("params").order_by("id"))
    if not children:
        return None
    finals = _final_metrics([child.pk for child in children])
    rows = []
    for child in children:
        rows.append(
            {
                "run": child.pk,
                "status": child.status,
                "params": {p.key: p.value for p in child.params.all() if p.key not in ("features", "target")},
                "metrics": finals.get(child.pk, {}),
            }
        )
    if metric is None:
        known = {key for row in rows for key in row["metrics"]}
        metric = "f1" if "f1" in known else "rmse" if "rmse" in known else next(iter(sorted(known)), None)
    scored = [row for row in rows if metric in row["metrics"]]
    best = None
    if scored:
        pick = min if metric in LOWER_IS_BETTER else max
        winner = pick(scored, key=lambda row: row["metrics"][metric])
        best = {"run": winner["run"], "metric": metric, "value": winner["metrics"][metric]}
    return {"metric": metric, "best": best, "trials": rows}


def _final_metrics(run_ids: list[int]) -> dict[int, dict[str, float]]:
    """Step-0 holdout metrics of several runs in one query."""
    finals: dict[int, dict[str, float]] = {}
    for run_id, key, value in (
        Metric.objects.filter(run_id__in=run_ids, step=0)
        .exclude(key__startswith="cv_")
        .values_list("run_id", "key", "value")
    ):
        finals.setdefault(run_id, {})[key] = value
    return finals
