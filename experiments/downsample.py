"""Downsample long metric histories for charts, keeping each bucket's extremes. Pure."""

from __future__ import annotations

import numpy as np


def min_max(steps: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: the first, the last, and per bucket its minimum and maximum, in step order.

    Keeping both extremes of every bucket means a spike or a dip never disappears from the chart,
    which plain striding or averaging would lose. Vectorised (no Python loop over buckets): each
    bucket's extreme comes from `reduceat`, and its first position from a mask of equal values.

    Non-finite values (NaN, ±Infinity, which charts draw as gaps) never count as extremes; a bucket that
    holds any also keeps its first one, so the gap survives downsampling. Histories with such values get
    a third fewer buckets, to stay within `max_points`.
    """
    n = len(steps)
    if n <= max_points or max_points < 4:
        return steps, values
    finite = np.isfinite(values)
    gaps = not finite.all()
    buckets = (max_points - 2) // (3 if gaps else 2)
    edges = np.unique(np.linspace(1, n - 1, buckets + 1).astype(int))
    inner = np.arange(edges[0], edges[-1])
    window = values[inner]
    counts = np.diff(edges)
    bucket = np.repeat(np.arange(len(counts)), counts)
    starts = edges[:-1] - 1
    kept = [[0], [n - 1]]
    # A non-finite value stands in as +inf for the minimum and -inf for the maximum, so it is chosen only
    # when its bucket holds nothing else (it is then also the bucket's gap, which is kept anyway).
    low = np.where(finite[inner], window, np.inf) if gaps else window
    high = np.where(finite[inner], window, -np.inf) if gaps else window
    kept.append(inner[_first_where(low == np.repeat(np.minimum.reduceat(low, starts), counts), bucket)])
    kept.append(inner[_first_where(high == np.repeat(np.maximum.reduceat(high, starts), counts), bucket)])
    if gaps:
        kept.append(inner[_first_where(~finite[inner], bucket)])
    index = np.unique(np.concatenate(kept))
    return steps[index], values[index]


def _first_where(mask: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """Per bucket, the position of its first True (for buckets that have one)."""
    positions = np.flatnonzero(mask)
    _, first = np.unique(bucket[positions], return_index=True)
    return positions[first]
