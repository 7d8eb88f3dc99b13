"""Request statistics over time, per version: rate, error rate, latency percentiles. Pure: numpy in, dicts out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np

MAX_CLASSES = 12  # classes charted one by one; the rest are "other"


def bucket_size(span: timedelta, target_buckets: int = 60) -> timedelta:
    """A round bucket width giving about `target_buckets` points over `span` (1 minute at the least)."""
    for minutes in (1, 5, 10, 15, 30, 60, 120, 360, 720, 1440):
        if span / timedelta(minutes=minutes) <= target_buckets:
            return timedelta(minutes=minutes)
    return timedelta(days=1)


def series(
    times: Sequence[datetime],
    latencies_ms: Sequence[float],
    failed: Sequence[bool],
    *,
    start: datetime,
    end: datetime,
    width: timedelta,
) -> dict[str, list]:
    """Per bucket of `width` from `start` to `end`: requests per minute, error rate and latency p50/p95/p99.

    Buckets without requests have a rate of 0 and no error rate or latency (None), so charts show gaps
    rather than invented values.
    """
    count = max(1, int(np.ceil((end - start) / width)))
    edges = [start + width * i for i in range(count)]
    seconds = np.array([(t - start).total_seconds() for t in times], dtype=float)
    index = np.floor(seconds / width.total_seconds()).astype(int) if len(seconds) else np.array([], dtype=int)
    latency = np.asarray(latencies_ms, dtype=float)
    errors = np.asarray(failed, dtype=bool)
    out: dict[str, list] = {"time": edges, "rate_per_min": [], "error_rate": [], "p50": [], "p95": [], "p99": []}
    per_minute = width.total_seconds() / 60
    for bucket in range(count):
        mask = index == bucket
        n = int(mask.sum())
        out["rate_per_min"].append(n / per_minute)
        if n == 0:
            for key in ("error_rate", "p50", "p95", "p99"):
                out[key].append(None)
            continue
        out["error_rate"].append(float(errors[mask].mean()))
        ok = latency[mask & ~errors]
        if len(ok):
            p50, p95, p99 = np.percentile(ok, [50, 95, 99])
            out["p50"].append(float(p50))
            out["p95"].append(float(p95))
            out["p99"].append(float(p99))
        else:
            for key in ("p50", "p95", "p99"):
                out[key].append(None)
    return out


def prediction_series(
    times: Sequence[datetime],
    values: Sequence,
    *,
    classifier: bool,
    start: datetime,
    end: datetime,
    width: timedelta,
) -> dict:
    """Predictions per bucket of `width`: for classifiers each class's share of the bucket, for regressors
    the median and 10th/90th percentiles. Empty buckets hold None (a gap, not a zero)."""
    count = max(1, int(np.ceil((end - start) / width)))
    out: dict = {"time": [start + width * i for i in range(count)], "count": [0] * count}
    out["width_minutes"] = int(width.total_seconds() // 60)
    buckets: list[list] = [[] for _ in range(count)]
    for t, value in zip(times, values, strict=True):
        i = int((t - start) / width)
        if 0 <= i < count and value is not None:
            buckets[i].append(value)
    out["count"] = [len(b) for b in buckets]
    if classifier:
        counts = Counter(str(v) for b in buckets for v in b)
        top = sorted(label for label, _ in counts.most_common(MAX_CLASSES))
        per_bucket = [Counter(str(v) for v in b) for b in buckets]
        out["shares"] = {
            label: [(c[label] / len(b)) if b else None for c, b in zip(per_bucket, buckets, strict=True)]
            for label in top
        }
        if len(counts) > MAX_CLASSES:  # a regressor mistaken for a classifier, or many classes: one "other"
            out["shares"]["other"] = [
                (1 - sum(c[label] for label in top) / len(b)) if b else None
                for c, b in zip(per_bucket, buckets, strict=True)
            ]
        return out
    for key, q in (("p10", 10), ("median", 50), ("p90", 90)):
        out[key] = [float(np.percentile(np.asarray(b, dtype=float), q)) if b else None for b in buckets]
    return out
