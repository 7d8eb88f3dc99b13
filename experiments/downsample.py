"""Downsample long metric histories for charts, keeping each bucket's extremes. Pure."""

from __future__ import annotations

import numpy as np


def min_max(steps: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: the first, the last, and per bucket its minimum and maximum, in step order.

    Keeping both extremes of every bucket means a spike or a dip never disappears from the chart,
    which plain striding or averaging would lose. Vectorised (no Python loop over buckets): each
    bucket's extreme comes from `reduceat`, and its first position from a mask of equal values.
    """
    n = len(steps)
    if n <= max_points or max_points < 4:
        return steps, values
    buckets = (max_points - 2) // 2
    edges = np.unique(np.linspace(1, n - 1, buckets + 1).astype(int))
    inner = np.arange(edges[0], edges[-1])
    window = values[inner]
    counts = np.diff(edges)
    bucket = np.repeat(np.arange(len(counts)), counts)
    lowest = inner[_first_where(window == np.repeat(np.minimum.reduceat(window, edges[:-1] - 1), counts), bucket)]
    highest = inner[_first_where(window == np.repeat(np.maximum.reduceat(window, edges[:-1] - 1), counts), bucket)]
    index = np.unique(np.concatenate(([0], lowest, highest, [n - 1])))
    return steps[index], values[index]


def _first_where(mask: np.ndarray, bucket: np.ndarray) -> np.ndarray:
    """Per bucket, the position of its first True (every bucket has one: its extreme)."""
    positions = np.flatnonzero(mask)
    _, first = np.unique(bucket[positions], return_index=True)
    return positions[first]
