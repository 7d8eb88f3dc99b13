"""Per-column statistics for an uploaded table. Pure: a DataFrame and its schema in, a JSON-ready dict out.

Built for large tables: each column is converted and sorted at most once and everything (min, max,
quantiles, distinct count, histogram) is read from that sorted array, so a million-row table profiles
in seconds without copying the whole frame. Every number in the result is a plain Python int/float,
and undefined statistics (mean of an empty column, std of one value) are None, never NaN or inf.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Progress = Callable[[float, str], None]
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.50, "p75": 0.75, "p95": 0.95, "p99": 0.99}
PROGRESS_EVERY = 5  # columns between progress reports; a report is also sent after the last column
CATEGORY_KINDS = ("categorical", "boolean", "text")


def profile_frame(
    df: pd.DataFrame,
    schema: Sequence[dict[str, str]],
    *,
    progress: Progress | None = None,
    histogram_bins: int = 20,
    top_k: int = 10,
) -> dict[str, Any]:
    """Profile every column named in `schema`, in schema order, reporting progress as a percentage."""
    if histogram_bins < 1:
        raise ValueError("histogram_bins must be at least 1.")
    columns = []
    total = len(schema)
    for i, spec in enumerate(schema):
        columns.append(profile_column(df[spec["name"]], spec, histogram_bins=histogram_bins, top_k=top_k))
        done = i + 1
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(100.0 * done / total, f"Profiled {done} of {total} columns")
    return {"row_count": len(df), "column_count": total, "columns": columns}


def profile_column(
    series: pd.Series, spec: dict[str, str], *, histogram_bins: int = 20, top_k: int = 10
) -> dict[str, Any]:
    """The common fields (name, kind, nulls, distinct) plus the statistics that suit the column's kind."""
    kind = spec.get("kind", "categorical")
    mask = series.isna().to_numpy()
    nulls = int(mask.sum())
    rows = len(series)
    result: dict[str, Any] = {
        "name": spec["name"],
        "kind": kind,
        "dtype": spec.get("dtype", str(series.dtype)),
        "nulls": nulls,
        "null_fraction": nulls / rows if rows else 0.0,
    }
    if kind == "numeric":
        result.update(_numeric(series, histogram_bins))
    elif kind == "datetime":
        result.update(_datetime(series, nulls, histogram_bins))
    else:  # categorical, boolean, text and anything unknown are summarised by their values
        result.update(_categorical(series, top_k, lengths=kind == "text"))
    return result


def _numeric(series: pd.Series, bins: int) -> dict[str, Any]:
    """Statistics over the finite values; infinities are counted apart so they cannot poison the mean."""
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        series = pd.to_numeric(series, errors="coerce")  # a messy column the schema calls numeric
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    infinite = int(np.isinf(values).sum())
    finite.sort()
    n = len(finite)
    empty_quantiles = dict.fromkeys(QUANTILES)
    if n == 0:
        return {
            "distinct": 0 + _distinct_infinities(values),
            "infinite": infinite,
            "min": None,
            "max": None,
            "mean": None,
            "std": None,
            "quantiles": empty_quantiles,
            "zeros": 0,
            "histogram": {"edges": [], "counts": []},
        }
    low, high = float(finite[0]), float(finite[-1])
    return {
        "distinct": _distinct_sorted(finite) + _distinct_infinities(values),
        "infinite": infinite,
        "min": low,
        "max": high,
        "mean": _finite(float(finite.mean())),
        "std": _finite(float(finite.std(ddof=1))) if n > 1 else None,
        "quantiles": {key: _sorted_quantile(finite, q) for key, q in QUANTILES.items()},
        "zeros": int(np.searchsorted(finite, 0.0, side="right") - np.searchsorted(finite, 0.0, side="left")),
        "histogram": _histogram(finite, low, high, bins),
    }


def _sorted_quantile(values: np.ndarray, q: float) -> float:
    """Linear interpolation between the closest ranks: numpy's and pandas' default method."""
    position = q * (len(values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(values) - 1)
    low, high = float(values[below]), float(values[above])
    return low + (high - low) * (position - below) if high != low else low


def _distinct_sorted(values: np.ndarray) -> int:
    """Distinct values of a sorted array: one plus the number of places where the value changes."""
    if len(values) == 0:
        return 0
    return 1 + int(np.count_nonzero(values[1:] != values[:-1]))


def _distinct_infinities(values: np.ndarray) -> int:
    return int(np.isposinf(values).any()) + int(np.isneginf(values).any())


def _histogram(values: np.ndarray, low: float, high: float, bins: int) -> dict[str, list]:
    """Equal-width bins as numpy.histogram draws them (last bin closed), counted by binary search on sorted data."""
    if low == high:
        return {"edges": [low, high], "counts": [len(values)]}
    edges = np.linspace(low, high, bins + 1)
    return {"edges": [float(e) for e in edges], "counts": _sorted_counts(values, edges)}


def _sorted_counts(values: np.ndarray, edges: np.ndarray) -> list[int]:
    """Counts per [edge_i, edge_i+1) for sorted values, the last bin including its right edge."""
    starts = np.searchsorted(values, edges[:-1], side="left")
    ends = np.append(starts[1:], len(values))
    return [int(c) for c in ends - starts]


def _datetime(series: pd.Series, nulls: int, bins: int) -> dict[str, Any]:
    """Range and a time histogram; strings are parsed as ISO 8601 and the ones that fail are counted."""
    parsed = series
    if not pd.api.types.is_datetime64_any_dtype(series):
        parsed = pd.to_datetime(series, errors="coerce", format="ISO8601")
    present = pd.DatetimeIndex(parsed.dropna())
    unparsed = len(series) - nulls - len(present)
    ticks = np.sort(present.asi8)  # integers in the index's own unit, UTC for time-zone aware columns
    result: dict[str, Any] = {"distinct": _distinct_sorted(ticks), "unparsed": unparsed}
    if len(ticks) == 0:
        return {**result, "min": None, "max": None, "histogram": {"edges": [], "counts": []}}
    low, high = int(ticks[0]), int(ticks[-1])
    if low == high:
        edge_ticks = [low, high]
        counts = [len(ticks)]
    else:  # exact integer edges: float linspace would lose nanoseconds on modern dates
        edge_ticks = [low + (high - low) * i // bins for i in range(bins + 1)]
        counts = _sorted_counts(ticks, np.array(edge_ticks, dtype="int64"))
    iso = _iso_converter(present)
    return {
        **result,
        "min": iso(low),
        "max": iso(high),
        "histogram": {"edges": [iso(t) for t in edge_ticks], "counts": counts},
    }


def _iso_converter(index: pd.DatetimeIndex) -> Callable[[int], str]:
    """Turn an integer tick of this index's unit back into an ISO string in the column's own time zone."""
    unit, tz = index.unit, index.tz

    def iso(tick: int) -> str:
        stamp = pd.Timestamp(np.datetime64(tick, unit))
        if tz is not None:
            stamp = stamp.tz_localize("UTC").tz_convert(tz)
        return stamp.isoformat()

    return iso


def _categorical(series: pd.Series, top_k: int, *, lengths: bool) -> dict[str, Any]:
    """Top values and distinct count from one value_counts; text lengths are weighted by those counts."""
    counts = series.value_counts(dropna=True, sort=False)
    result: dict[str, Any] = {"distinct": len(counts), "top_values": top_values(counts, top_k)}
    if lengths:
        result.update(_lengths(counts))
    return result


def top_values(counts: pd.Series, top_k: int) -> list[list]:
    """The top_k values by count, ties broken by the value's text ascending so the result is deterministic."""
    if len(counts) == 0 or top_k <= 0:
        return []
    numbers = counts.to_numpy(dtype="int64")
    labels = counts.index
    if len(numbers) > top_k:  # only values above the k-th largest count are sure to make the cut
        cutoff = np.partition(numbers, len(numbers) - top_k)[len(numbers) - top_k]
        above = numbers > cutoff
        tied = np.flatnonzero(numbers == cutoff)
        chosen = _smallest_labels(labels[tied], top_k - int(above.sum()))  # e.g. a text column of unique values
        pairs = [(_label(v), int(n)) for v, n in zip(labels[above], numbers[above], strict=True)]
        pairs += [(label, int(cutoff)) for label in chosen]
    else:
        pairs = [(_label(v), int(n)) for v, n in zip(labels, numbers, strict=True)]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return [list(pair) for pair in pairs[:top_k]]


def _smallest_labels(labels: pd.Index, n: int) -> list[str]:
    """The n smallest labels as text; Arrow-backed strings are selected in C++ since iterating them is slow."""
    if isinstance(labels.dtype, pd.StringDtype) and hasattr(labels.array, "__arrow_array__"):
        picked = pc.bottom_k_unstable(pa.array(labels.array), k=n)
        return [str(v) for v in labels[picked.to_numpy()]]
    return heapq.nsmallest(n, map(_label, labels))


def _lengths(counts: pd.Series) -> dict[str, Any]:
    if len(counts) == 0:
        return {"min_length": None, "max_length": None, "mean_length": None}
    labels = counts.index
    if isinstance(labels.dtype, pd.StringDtype):
        lengths = labels.str.len().to_numpy(dtype="int64")
    else:
        lengths = np.fromiter((len(_label(v)) for v in labels), dtype="int64", count=len(labels))
    weights = counts.to_numpy(dtype="int64")
    return {
        "min_length": int(lengths.min()),
        "max_length": int(lengths.max()),
        "mean_length": float((lengths * weights).sum() / weights.sum()),
    }


def _label(value: Any) -> str:
    """How a value is shown: strings as they are, everything else through str()."""
    return value if isinstance(value, str) else str(value)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
