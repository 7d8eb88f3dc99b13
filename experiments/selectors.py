"""Reads of the experiments app that feed pages and the API."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from django.db.models import Count, Max, QuerySet

from experiments import comparison, downsample, metric_store
from experiments.metrics import finite, lower_is_better, preferred
from experiments.models import Experiment, LatestMetric, Metric, Param, Run


def experiments_with_counts() -> QuerySet:
    """Experiments with `run_count` and `last_run`, the columns the experiment list shows and sorts by."""
    return Experiment.objects.select_related("owner").annotate(
        run_count=Count("runs"), last_run=Max("runs__started_at")
    )


def metric_history(run: Run, key: str, *, max_points: int) -> dict:
    """One metric's history by step, downsampled on the server (extremes kept) to at most max_points.

    A NaN or infinite point's value is None: the API's JSON has no such numbers and charts draw a gap.
    """
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
    values = metric_store.values_array((r[1] for r in rows), total)
    kept_steps, kept_values = downsample.min_max(steps, values, max_points)
    if len(kept_steps) == total:
        points = [{"step": s, "value": finite(v), "timestamp": t} for s, v, t in rows]
    else:
        points = [{"step": int(s), "value": finite(float(v))} for s, v in zip(kept_steps, kept_values, strict=True)]
    return {"key": key, "total_points": total, "downsampled": len(points) < total, "points": points}


def latest_metrics(run: Run) -> dict[str, float]:
    """The last value (highest step, then latest timestamp) of each metric of a run; NaN and ±inf as floats."""
    rows = LatestMetric.objects.filter(run=run).order_by("key").values_list("key", "value")
    return {key: metric_store.loaded(value) for key, value in rows}


def run_values(run_ids: Iterable[int], *, params: Iterable[str] | None = None, metrics: Iterable[str] | None = None):
    """Params and latest metrics of many runs in two queries: ({run: {key: text}}, {run: {key: value}}).

    `params`/`metrics` limit the keys read (None reads all), so a page of 50 runs from an
    experiment with hundreds of keys only reads the columns it shows.
    """
    run_ids = list(run_ids)
    param_rows = Param.objects.filter(run_id__in=run_ids)
    metric_rows = LatestMetric.objects.filter(run_id__in=run_ids)
    if params is not None:
        param_rows = param_rows.filter(key__in=list(params))
    if metrics is not None:
        metric_rows = metric_rows.filter(key__in=list(metrics))
    param_values: dict[int, dict[str, str]] = {pk: {} for pk in run_ids}
    metric_values: dict[int, dict[str, float]] = {pk: {} for pk in run_ids}
    for run_id, key, value in param_rows.order_by("key").values_list("run_id", "key", "value"):
        param_values[run_id][key] = value
    for run_id, key, value in metric_rows.order_by("key").values_list("run_id", "key", "value"):
        metric_values[run_id][key] = metric_store.loaded(value)
    return param_values, metric_values


def varying_params(run_ids: list[int], keys: list[str]) -> list[str]:
    """Of `keys`, those with more than one value among the runs that have them (a missing key is no value)."""
    seen: dict[str, set] = {}
    for key, value in Param.objects.filter(run_id__in=run_ids).values_list("key", "value"):
        seen.setdefault(key, set()).add(value)
    return [key for key in keys if len(seen.get(key, ())) > 1]


def column_keys(runs: QuerySet[Run], *, limit: int = 200) -> tuple[list[str], list[str]]:
    """The param and metric names present among `runs`, for the column chooser (most common first)."""
    ids = runs.order_by().values("pk")
    params = Param.objects.filter(run__in=ids).values("key").annotate(n=Count("id")).order_by("-n", "key")[:limit]
    metrics = (
        LatestMetric.objects.filter(run__in=ids).values("key").annotate(n=Count("id")).order_by("-n", "key")[:limit]
    )
    return [row["key"] for row in params], [row["key"] for row in metrics]


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
        metric = preferred(key for row in rows for key in row["metrics"])
    scored = [row for row in rows if finite(row["metrics"].get(metric)) is not None]
    best = None
    if scored:
        pick = min if lower_is_better(metric) else max
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
        finals.setdefault(run_id, {})[key] = metric_store.loaded(value)
    return finals


def metric_histories(run_ids: list[int], key: str, *, max_points: int) -> dict[int, dict]:
    """One metric's history for several runs in one query, each downsampled like `metric_history`.

    Steps and values stay numpy arrays, which charts take without a per-point conversion.
    """
    owners, all_steps, all_values = metric_store.read_points(run_ids, key)
    histories = {}
    for run_id in run_ids:
        mine = owners == run_id
        steps, values = all_steps[mine], all_values[mine]
        kept_steps, kept_values = downsample.min_max(steps, values, max_points)
        histories[run_id] = {
            "key": key,
            "total_points": len(steps),
            "downsampled": len(kept_steps) < len(steps),
            "steps": kept_steps,
            "values": kept_values,
        }
    return histories


def history_keys(run_ids: list[int]) -> list[str]:
    """Metrics that have a history (more than one point) in any of the runs, cross-validation folds aside."""
    keys = (
        LatestMetric.objects.filter(run_id__in=run_ids, step__gt=0)
        .exclude(key__startswith="cv_")
        .values_list("key", flat=True)
        .distinct()
    )
    return sorted(set(keys))


def run_comparison(
    ids: list[int],
    *,
    preferred: Sequence[str],
    max_axes: int,
    max_points: int,
    history: str | None = None,
    metric: str | None = None,
    x: str | None = None,
    y: str | None = None,
) -> dict:
    """Everything the compare page shows for these runs, in their order; `{"error": ...}` when one is missing.

    `history`, `metric`, `x` and `y` are the page's choices, kept when they exist among the runs' values.
    """
    runs = {run.pk: run for run in Run.objects.filter(pk__in=ids).select_related("experiment")}
    if missing := [pk for pk in ids if pk not in runs]:
        return {"error": f"No run with id {', '.join(map(str, missing))}."}
    params, metrics = run_values(ids)
    param_rows = comparison.param_rows(ids, params)
    metric_rows = comparison.metric_rows(ids, metrics)
    metric_keys = [row["key"] for row in metric_rows]
    labels = {pk: f"#{pk} {runs[pk]}"[:40] for pk in ids}
    varying = comparison.varying_axes(param_rows, max_axes)
    keys = history_keys(ids)
    history = history if history in keys else (keys[0] if keys else None)
    histories = metric_histories(ids, history, max_points=max_points) if history else {}
    return {
        "runs": [runs[pk] for pk in ids],
        "ids": ids,
        "labels": [labels[pk] for pk in ids],
        "rows": [{"run": pk, "label": labels[pk], "params": params[pk], "metrics": metrics[pk]} for pk in ids],
        "param_rows": param_rows,
        "metric_rows": metric_rows,
        "metric_keys": metric_keys,
        "varying": varying,
        "history_keys": keys,
        "history_key": history,
        "history_series": [
            {"label": labels[pk], **histories[pk]} for pk in ids if histories.get(pk, {}).get("total_points")
        ],
        **comparison.chart_choices(
            [row["key"] for row in param_rows], metric_keys, varying, preferred, metric=metric, x=x, y=y
        ),
    }
