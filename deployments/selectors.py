"""Read-only questions about serving that pages and upper apps (monitoring) ask of the request log."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from django.db.models import Count, Q

from deployments import stats
from deployments.models import Deployment, Prediction, RequestStat


def service_series(deployment: Deployment, start: datetime, end: datetime) -> dict[str, dict[str, list]]:
    """Per "v<number> <role>": requests per minute, error rate and latency percentiles per time bucket.

    Empty when nothing was served in the span. The first bucket starts a minute before the first request
    rather than at `start`, so a young deployment's chart is not mostly empty.
    """
    rows = list(
        RequestStat.objects.filter(deployment=deployment, created_at__gte=start, created_at__lte=end)
        .values_list("version__number", "role", "created_at", "latency_ms", "status_code")
        .order_by("created_at")
    )
    if not rows:
        return {}
    start = max(start, rows[0][2] - timedelta(minutes=1))
    width = stats.bucket_size(end - start)
    groups: dict[str, list] = {}
    for number, role, created, latency_ms, code in rows:
        groups.setdefault(f"v{number} {role}", []).append((created, latency_ms, code >= 400))
    return {
        label: stats.series(
            [r[0] for r in items], [r[1] for r in items], [r[2] for r in items], start=start, end=end, width=width
        )
        for label, items in sorted(groups.items())
    }


def service_summary(deployment: Deployment, start: datetime, end: datetime) -> dict[str, float | int | None]:
    """Requests, requests per minute, error rate and latency (mean, p95) of the answers in [start, end].

    Shadow answers are left out: callers never waited for them. Without requests the rate is 0 (silence is
    a value an alert can watch) and the error rate and latency are None.
    """
    answered = RequestStat.objects.filter(deployment=deployment, created_at__gte=start, created_at__lte=end).exclude(
        role="shadow"
    )
    totals = answered.aggregate(requests=Count("id"), errors=Count("id", filter=Q(status_code__gte=400)))
    minutes = max((end - start).total_seconds() / 60, 1e-9)
    if not totals["requests"]:
        return {"requests": 0, "request_rate": 0.0, "error_rate": None, "latency_mean_ms": None, "latency_p95_ms": None}
    # The percentile needs the values; only the one float column is read, into numpy.
    latency = np.fromiter(answered.values_list("latency_ms", flat=True).iterator(chunk_size=20_000), dtype=float)
    return {
        "requests": totals["requests"],
        "request_rate": totals["requests"] / minutes,
        "error_rate": totals["errors"] / totals["requests"],
        "latency_mean_ms": float(latency.mean()),
        "latency_p95_ms": float(np.percentile(latency, 95)),
    }


def prediction_series(deployment: Deployment, version, start: datetime, end: datetime, *, classifier: bool) -> dict:
    """What `version` answered as the deployment's primary over [start, end], bucketed (see stats)."""
    rows = list(
        Prediction.objects.filter(
            deployment=deployment, version=version, role="primary", created_at__gte=start, created_at__lte=end
        )
        .order_by("created_at")
        .values_list("created_at", "prediction")
    )
    if not rows:
        return {}
    start = max(start, rows[0][0] - timedelta(minutes=1))
    width = stats.bucket_size(end - start, target_buckets=40)
    values = [p if not isinstance(p, list | dict) else None for _, p in rows]
    return stats.prediction_series(
        [r[0] for r in rows], values, classifier=classifier, start=start, end=end, width=width
    )


def unseen_summary(deployment: Deployment, start: datetime | None, end: datetime, *, version=None) -> dict:
    """How many answered rows in [start, end] held a value training never had, overall and per input.

    Shadow rows are left out (nobody was answered); with `version`, only its rows as the primary (what a
    monitor report compares). `share` is None without rows. Only the flagged rows' lists are read.
    """
    answered = Prediction.objects.filter(deployment=deployment, created_at__lte=end).exclude(role="shadow")
    if start is not None:
        answered = answered.filter(created_at__gte=start)
    if version is not None:
        answered = answered.filter(version=version, role="primary")
    rows = answered.count()
    per_feature: dict[str, int] = {}
    flagged = 0
    for names in answered.filter(unseen__isnull=False).values_list("unseen", flat=True).iterator(chunk_size=5_000):
        if not names:
            continue
        flagged += 1
        for name in names:
            per_feature[name] = per_feature.get(name, 0) + 1
    return {
        "rows": rows,
        "flagged": flagged,
        "share": flagged / rows if rows else None,
        "features": {name: count / rows for name, count in sorted(per_feature.items(), key=lambda kv: -kv[1])},
    }
