"""Downsample long metric histories for charts, keeping each bucket's extremes. Pure."""

from __future__ import annotations

import itertools

import numpy as np


def min_max(steps: np.ndarray, values: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points: the first, the last, and per bucket its minimum and maximum, in step order.

    Keeping both extremes of every bucket means a spike or a dip never disappears from the chart,
    which plain striding or averaging would lose.
    """
    n = len(steps)
    if n <= max_points or max_points < 4:
        return steps, values
    buckets = (max_points - 2) // 2
    edges = np.linspace(1, n - 1, buckets + 1).astype(int)
    keep = [0]
    for start, stop in itertools.pairwise(edges):
        if stop <= start:
            continue
        window = values[start:stop]
        low, high = start + int(np.argmin(window)), start + int(np.argmax(window))
        keep.extend(sorted({low, high}))
    keep.append(n - 1)
    index = np.array(sorted(set(keep)))
    return steps[index], values[index]
