"""Drift statistics between a reference sample and a current one. Pure: numpy, pandas, scipy; no Django.

`compare(reference, current)` returns one `FeatureDrift` per column and a `DatasetDrift` summary;
`feature_drift(reference_values, current_values, kind)` does one column (a model's predictions too:
that is prediction drift).

Methods, by kind of column:

* numeric: `ks` (two-sample Kolmogorov–Smirnov statistic and p-value, `scipy.stats.ks_2samp`),
  `wasserstein` (`scipy.stats.wasserstein_distance` divided by the reference's standard deviation,
  ddof 0, floored at `STD_FLOOR` so a constant reference gives a finite number), `psi` (population
  stability index over `PSI_BINS` bins whose edges are the reference's quantiles, outer edges open)
  and `jensenshannon` (`scipy.spatial.distance.jensenshannon`, natural log, over the same bins).
* categorical (anything not numeric; booleans included): `chisquare` (the two-sample chi-square test
  of homogeneity on the 2 × categories table of counts, `scipy.stats.chi2_contingency` without
  continuity correction), `psi` and `jensenshannon` over the categories.

Why the two-sample chi-square and not Evidently's: Evidently tests the current counts against the
reference's shares as if those were exact (`scipy.stats.chisquare`), which ignores the reference's own
sampling noise; on two samples of one distribution with a 1,000-row reference it flags drift 32 % of
the time at 1,000 current rows, 90 % at 10,000 and always at 100,000, against the 5 % a 0.05 level
promises (3–6.5 % with the two-sample test). It also gives an infinite statistic for a category the
reference never saw, which the two-sample test handles as an ordinary column of the table.

Categories (and, for PSI, bins) that one side never saw: shares are floored at `EPSILON` (1e-4) and
renormalised before PSI, which would otherwise divide by zero. So a category absent from the
reference counts as rare there, not impossible: a handful of unseen values in a big sample barely
moves the score, a category that takes a real share drives it up. Jensen–Shannon needs no floor.

Defaults, as Evidently's data drift preset chooses them, but by the smaller of the two samples: a
column where either side has at most `SMALL_SAMPLE` (1,000) non-null values uses a test, drifted when
its p-value is below 0.05 (`ks` for numbers, `chisquare` for categories); bigger ones use a distance,
drifted when it reaches 0.1 (`wasserstein` for numbers, `jensenshannon` for categories), because with
many rows every test rejects for differences too small to matter. Evidently looks at the reference's
size only, which on a monitor (a large training set against a few hundred recent predictions) picks a
distance whose sampling noise alone crosses 0.1: 5 of 12 demo features "drifted" on 141 rows drawn
from the training data itself. `psi` is drifted at 0.1 when chosen. The dataset is drifted when at
least half of the compared columns are (`share`, default 0.5). All of these are arguments. Unlike
Evidently, a numeric column with five or fewer distinct values stays numeric, and a two-category
column gets chi-square rather than a z-test.

Edge cases, never an exception: nulls are left out and their shares reported; a column with fewer
than `MIN_ROWS` (2) non-null values on either side gets status "not enough data" (no statistic, not
drifted, not counted in the share); a column only one side has gets status "missing in current" or
"new in current"; a constant column works (KS and the bins are defined; Wasserstein uses the floor).
Every number returned is a finite float or None, never NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlops_site import lazy

pd = lazy.module("pandas")
stats = lazy.module("scipy.stats")
distance = lazy.module("scipy.spatial.distance")

NUMERIC, CATEGORICAL = "numeric", "categorical"
NUMERIC_METHODS = ("ks", "wasserstein", "psi", "jensenshannon")
CATEGORICAL_METHODS = ("chisquare", "psi", "jensenshannon")
TESTS = frozenset({"ks", "chisquare"})  # drifted when p < threshold; the others when statistic >= threshold
THRESHOLDS = {"ks": 0.05, "chisquare": 0.05, "wasserstein": 0.1, "psi": 0.1, "jensenshannon": 0.1}
SMALL_SAMPLE = 1_000
PSI_BINS = 10
EPSILON = 1e-4
STD_FLOOR = 1e-3
MIN_ROWS = 2
DATASET_SHARE = 0.5

OK, NOT_ENOUGH, MISSING, NEW = "ok", "not enough data", "missing in current", "new in current"


@dataclass
class FeatureDrift:
    feature: str
    kind: str
    status: str
    method: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    drifted: bool = False
    reference_rows: int = 0
    current_rows: int = 0
    reference_null_share: float | None = None
    current_null_share: float | None = None
    statistics: dict[str, dict[str, float | None]] = field(default_factory=dict)  # every method computed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DatasetDrift:
    features: list[FeatureDrift]
    compared: int  # columns with status "ok"
    drifted_count: int
    share: float | None  # drifted / compared; None when nothing could be compared
    threshold: float
    drifted: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in asdict(self).items() if k != "features"},
            "features": [f.as_dict() for f in self.features],
        }


# ---------------------------------------------------------------------------------------------------
# One column
# ---------------------------------------------------------------------------------------------------


def kind_of(values: pd.Series) -> str:
    """numeric for numbers (not booleans), categorical for everything else."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        return CATEGORICAL
    return NUMERIC


def default_method(kind: str, rows: int) -> str:
    """`rows`: the smaller sample's non-null count."""
    small = rows <= SMALL_SAMPLE
    if kind == NUMERIC:
        return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"


def feature_drift(
    reference: Any,
    current: Any,
    *,
    name: str = "",
    kind: str | None = None,
    method: str | None = None,
    threshold: float | None = None,
    methods: Iterable[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> FeatureDrift:
    """Drift of one column. `method` decides `drifted` (default by kind and size); `methods` are also computed."""
    reference, current = pd.Series(reference), pd.Series(current)
    kind = kind or kind_of(reference.dropna() if len(reference.dropna()) else current)
    allowed = NUMERIC_METHODS if kind == NUMERIC else CATEGORICAL_METHODS
    ref, cur = _clean(reference, kind), _clean(current, kind)
    result = FeatureDrift(
        feature=name,
        kind=kind,
        status=OK,
        reference_rows=len(ref),
        current_rows=len(cur),
        reference_null_share=_share(len(reference) - len(ref), len(reference)),
        current_null_share=_share(len(current) - len(cur), len(current)),
    )
    chosen = method or default_method(kind, min(len(ref), len(cur)))
    if chosen not in allowed:
        raise ValueError(f"{chosen} is not a method for {kind} columns; use one of {', '.join(allowed)}.")
    if threshold is None:
        threshold = (thresholds or {}).get(chosen, THRESHOLDS[chosen])
    result.method, result.threshold = chosen, float(threshold)
    if len(ref) < MIN_ROWS or len(cur) < MIN_ROWS:
        result.status = NOT_ENOUGH
        return result
    wanted = [chosen, *[m for m in (methods or ()) if m != chosen]]
    if unknown := [m for m in wanted if m not in allowed]:
        raise ValueError(f"{', '.join(unknown)}: not a method for {kind} columns; use {', '.join(allowed)}.")
    compute = _numeric if kind == NUMERIC else _categorical
    result.statistics = compute(ref, cur, wanted)
    picked = result.statistics[chosen]
    result.statistic, result.p_value = picked["statistic"], picked.get("p_value")
    if chosen in TESTS:
        result.drifted = result.p_value is not None and result.p_value < result.threshold
    else:
        result.drifted = result.statistic is not None and result.statistic >= result.threshold
    return result


def _clean(values: pd.Series, kind: str) -> np.ndarray | pd.Series:
    """Numbers: a float array without nulls and infinities. Categories: the non-null values as text, kept
    as a Series (pandas counts its string columns without a round trip through Python objects)."""
    values = values[values.notna()]
    if kind == NUMERIC:
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return numbers[np.isfinite(numbers)]
    return values if isinstance(values.dtype, pd.StringDtype) else values.astype(str)  # True and "True" alike


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _numeric(ref: np.ndarray, cur: np.ndarray, wanted: list[str]) -> dict[str, dict[str, float | None]]:
    # scipy sorts its inputs again; already sorted, that is cheap, and one sort serves every method
    ref, cur = np.sort(ref), np.sort(cur)
    out: dict[str, dict[str, float | None]] = {}
    if "ks" in wanted:
        test = stats.ks_2samp(ref, cur)
        out["ks"] = {"statistic": _finite(test.statistic), "p_value": _finite(test.pvalue)}
    if "wasserstein" in wanted:
        out["wasserstein"] = {"statistic": _finite(wasserstein_normed(ref, cur))}
    if "psi" in wanted or "jensenshannon" in wanted:
        ref_share, cur_share = bin_shares(ref, cur)
        if "psi" in wanted:
            out["psi"] = {"statistic": _finite(psi(ref_share, cur_share))}
        if "jensenshannon" in wanted:
            out["jensenshannon"] = {"statistic": js_distance(ref_share, cur_share)}
    return out


def _categorical(ref: pd.Series, cur: pd.Series, wanted: list[str]) -> dict[str, dict[str, float | None]]:
    ref_counts, cur_counts = category_counts(ref, cur)
    out: dict[str, dict[str, float | None]] = {}
    if "chisquare" in wanted:
        statistic, p_value = chi_square(ref_counts, cur_counts)
        out["chisquare"] = {"statistic": _finite(statistic), "p_value": _finite(p_value)}
    if "psi" in wanted:
        out["psi"] = {"statistic": _finite(psi(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()))}
    if "jensenshannon" in wanted:
        out["jensenshannon"] = {"statistic": js_distance(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())}
    return out


# ---------------------------------------------------------------------------------------------------
# The statistics, each on its own (the tests hold them against scipy)
# ---------------------------------------------------------------------------------------------------


def wasserstein_normed(ref: np.ndarray, cur: np.ndarray) -> float:
    return stats.wasserstein_distance(ref, cur) / max(float(np.std(ref)), STD_FLOOR)


def js_distance(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """scipy's Jensen–Shannon distance; its NaN for nearly identical shares (a square root of a rounding
    error below zero) is 0."""
    value = float(distance.jensenshannon(ref_share, cur_share))
    return 0.0 if math.isnan(value) else value


def bin_edges(ref: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Inner edges at the reference's quantiles (repeats removed); the outer bins are open-ended."""
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_shares(ref: np.ndarray, cur: np.ndarray, bins: int = PSI_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each sample per bin; bin i holds edges[i-1] < x <= edges[i]."""
    edges = bin_edges(ref, bins)
    width = len(edges) + 1
    ref_counts = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=width)
    cur_counts = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=width)
    return ref_counts / len(ref), cur_counts / len(cur)


def category_counts(ref: Any, cur: Any) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each sample over the union of categories, in sorted order."""
    ref_counts, cur_counts = pd.Series(ref).value_counts(), pd.Series(cur).value_counts()
    categories = sorted(set(ref_counts.index) | set(cur_counts.index))
    return (
        ref_counts.reindex(categories, fill_value=0).to_numpy(dtype=float),
        cur_counts.reindex(categories, fill_value=0).to_numpy(dtype=float),
    )


def floored(shares: np.ndarray) -> np.ndarray:
    shares = np.maximum(np.asarray(shares, dtype=float), EPSILON)
    return shares / shares.sum()


def psi(ref_share: np.ndarray, cur_share: np.ndarray) -> float:
    """Σ (current − reference) · ln(current / reference), over floored shares."""
    ref_share, cur_share = floored(ref_share), floored(cur_share)
    return float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share)))


def chi_square(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Two-sample chi-square test of homogeneity on the 2 × categories table (no continuity correction)."""
    if len(ref_counts) < 2:  # one category on both sides: nothing can differ
        return 0.0, 1.0
    test = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    return float(test.statistic), float(test.pvalue)


# ---------------------------------------------------------------------------------------------------
# A whole frame
# ---------------------------------------------------------------------------------------------------


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    kinds: Mapping[str, str] | None = None,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    share: float = DATASET_SHARE,
    all_methods: bool = False,
) -> DatasetDrift:
    """Every column of either frame. `methods`: per kind ("numeric"/"categorical") or per column name;
    `thresholds`: per method name; `all_methods`: fill `statistics` with every method of each kind."""
    kinds, methods, thresholds = kinds or {}, methods or {}, thresholds or {}
    features = []
    for name in [*reference.columns, *[c for c in current.columns if c not in reference.columns]]:
        if name not in current.columns or name not in reference.columns:
            side = reference if name in reference.columns else current
            kind = kinds.get(name) or kind_of(side[name].dropna())
            status = MISSING if name not in current.columns else NEW
            features.append(FeatureDrift(feature=str(name), kind=kind, status=status))
            continue
        kind = kinds.get(name) or kind_of(reference[name].dropna() if reference[name].notna().any() else current[name])
        extra = (NUMERIC_METHODS if kind == NUMERIC else CATEGORICAL_METHODS) if all_methods else ()
        features.append(
            feature_drift(
                reference[name],
                current[name],
                name=str(name),
                kind=kind,
                method=methods.get(name) or methods.get(kind),  # None: the default for the cleaned size
                thresholds=thresholds,
                methods=extra,
            )
        )
    compared = [f for f in features if f.status == OK]
    drifted = sum(f.drifted for f in compared)
    ratio = drifted / len(compared) if compared else None
    return DatasetDrift(
        features=features,
        compared=len(compared),
        drifted_count=drifted,
        share=ratio,
        threshold=share,
        drifted=ratio is not None and ratio >= share,
    )


def severity(feature: FeatureDrift) -> float:
    """How far past (or short of) its threshold a feature is, comparable across methods."""
    if feature.status != OK or feature.threshold is None:
        return 0.0
    if feature.method in TESTS:
        return feature.threshold / max(feature.p_value or 0.0, 1e-300)
    return (feature.statistic or 0.0) / feature.threshold


def ranked(features) -> list[FeatureDrift]:
    """Compared features first, drifted before the others, the furthest past its threshold first."""
    return sorted(features, key=lambda f: (f.status != OK, not f.drifted, -severity(f)))
