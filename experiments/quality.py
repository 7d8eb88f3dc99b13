"""Data quality checks for an uploaded table. Pure: a DataFrame and its schema in, JSON-ready results out.

Every check yields one result per column it applies to (or one for the whole table), including the
ones that pass, so a report shows what was checked and not only what went wrong. A result says how many
rows are affected, as a count and a fraction, in a sentence with the numbers, and shows a few of the rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CHECKS = (
    "missing_values",
    "duplicate_rows",
    "constant_column",
    "mixed_types",
    "inconsistent_spellings",
    "outliers",
    "missing_target",
    "class_imbalance",
)
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "on"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "off"})
SPELLING_KINDS = ("categorical", "boolean", "text")
NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
MAX_LISTED = 5  # groups, or spellings within a group, named in a message before "and N more"


@dataclass(frozen=True)
class Thresholds:
    """When a check warns or fails. Fractions are of all rows; a check warns or fails when its fraction is above."""

    missing_warn: float = 0.05  # a column with more than 5 % of its values missing warns...
    missing_fail: float = 0.30  # ...and with more than 30 % fails
    duplicate_warn: float = 0.0  # any row that repeats an earlier row warns...
    duplicate_fail: float = 0.05  # ...and more than 5 % of rows being repeats fails
    outlier_method: str = "iqr"  # the only method so far: Tukey's fences on the interquartile range
    iqr_k: float = 3.0  # values outside [Q1 - k·IQR, Q3 + k·IQR] are outliers (3 = "far out")
    outlier_warn: float = 0.01  # a column with more than 1 % outliers warns (outliers never fail)
    imbalance_warn: float = 0.2  # a target whose rarest class is below 20 % of labelled rows warns...
    imbalance_fail: float = 0.05  # ...and below 5 % fails
    imbalance_max_classes: int = 20  # a target with more distinct values is treated as a regression target
    target_missing_fail: float = 0.0  # any row without a target value fails

    def __post_init__(self) -> None:
        if self.outlier_method != "iqr":
            raise ValueError(f"Unknown outlier method {self.outlier_method!r}; only 'iqr' is supported.")


def run_checks(
    df: pd.DataFrame,
    schema: Sequence[dict[str, str]],
    *,
    target: str | None = None,
    thresholds: Thresholds | None = None,
    max_examples: int = 5,
) -> list[dict[str, Any]]:
    """All checks on the table, ordered by check (as in CHECKS) and then by column order in the schema."""
    limits = thresholds or Thresholds()
    names = [spec["name"] for spec in schema]
    if target is not None and target not in names:
        raise ValueError(f"The target column {target!r} is not in the table.")
    context = _Context(df, max_examples)
    results: list[dict[str, Any]] = []
    results += [missing_values(context, spec["name"], limits) for spec in schema]
    results.append(duplicate_rows(context, names, limits))
    results += [constant_column(context, spec) for spec in schema]
    results += [r for spec in schema if _is_text_dtype(df[spec["name"]]) and (r := mixed_types(context, spec))]
    results += [inconsistent_spellings(context, spec) for spec in schema if spec["kind"] in SPELLING_KINDS]
    results += [outliers(context, spec["name"], limits) for spec in schema if spec["kind"] == "numeric"]
    if target is not None:
        results.append(missing_target(context, target, limits))
        imbalance = class_imbalance(context, target, limits)
        if imbalance is not None:
            results.append(imbalance)
    return results


class _Context:
    """The frame plus per-column work shared between checks (null masks, value counts), computed once."""

    def __init__(self, df: pd.DataFrame, max_examples: int) -> None:
        self.df = df
        self.rows = len(df)
        self.max_examples = max_examples
        self._nulls: dict[str, np.ndarray] = {}
        self._counts: dict[str, pd.Series] = {}

    def nulls(self, column: str) -> np.ndarray:
        if column not in self._nulls:
            self._nulls[column] = self.df[column].isna().to_numpy()
        return self._nulls[column]

    def counts(self, column: str) -> pd.Series:
        """Rows per distinct non-null value, most common first (ties in first-seen order)."""
        if column not in self._counts:
            self._counts[column] = self.df[column].value_counts(dropna=True)
        return self._counts[column]

    def fraction(self, count: int) -> float:
        return count / self.rows if self.rows else 0.0

    def examples(self, mask: np.ndarray, columns: Sequence[str]) -> list[dict[str, Any]]:
        """The first few rows where mask is true, as {column: value, "_row": position from 0}."""
        positions = np.flatnonzero(mask)[: self.max_examples]
        if len(positions) == 0:
            return []
        values = {c: self.df[c].iloc[positions].tolist() for c in columns}  # column by column: no wide take
        return [{**{c: _jsonable(values[c][i]) for c in columns}, "_row": int(p)} for i, p in enumerate(positions)]


def missing_values(context: _Context, column: str, limits: Thresholds) -> dict[str, Any]:
    mask = context.nulls(column)
    count = int(mask.sum())
    fraction = context.fraction(count)
    status = _grade(fraction, limits.missing_warn, limits.missing_fail)
    if count == 0:
        message = f"Column '{column}' has no missing values."
    else:
        message = f"Column '{column}' is missing {_of(count, context.rows)}{_over(status, limits.missing_warn, limits.missing_fail)}."
    return _result("missing_values", column, status, count, fraction, message, context.examples(mask, [column]))


def duplicate_rows(context: _Context, columns: list[str], limits: Thresholds) -> dict[str, Any]:
    """Rows identical in every column to an earlier row; the first occurrence is not counted."""
    mask = _duplicated(context.df, columns)
    count = int(mask.sum())
    fraction = context.fraction(count)
    status = _grade(fraction, limits.duplicate_warn, limits.duplicate_fail)
    if count == 0:
        message = "No row is an exact copy of an earlier row."
    else:
        message = (
            f"{_of(count, context.rows, noun='rows')} are exact copies of an earlier row"
            f"{_over(status, limits.duplicate_warn, limits.duplicate_fail)}; they add no information and can leak "
            "between training and test splits."
        )
    return _result("duplicate_rows", None, status, count, fraction, message, context.examples(mask, columns))


def _duplicated(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """DataFrame.duplicated, but exact comparison only among rows whose 64-bit row hash repeats.

    Hashing is about twice as fast as pandas' per-column factorising on wide tables, and equal rows
    always hash equal, so checking the (usually few) rows with a shared hash gives the exact answer.
    """
    mask = np.zeros(len(df), dtype=bool)
    if len(df) == 0 or not columns:
        return mask
    hashes = pd.util.hash_pandas_object(df[columns], index=False)
    candidates = np.flatnonzero(hashes.duplicated(keep=False).to_numpy())
    if len(candidates):
        mask[candidates] = df[columns].iloc[candidates].duplicated(keep="first").to_numpy()
    return mask


def constant_column(context: _Context, spec: dict[str, str]) -> dict[str, Any]:
    """A column with at most one distinct non-null value cannot help a model."""
    column = spec["name"]
    series = context.df[column]
    present = ~context.nulls(column)
    if spec["kind"] == "numeric" and pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan)[present]
        distinct = 0 if len(values) == 0 else (1 if values.min() == values.max() else 2)
    else:
        distinct = min(len(context.counts(column)), 2)
    if distinct == 0:
        status, message = "warn", f"Column '{column}' has no values at all: every row is missing."
        mask = np.zeros(context.rows, bool)
    elif distinct == 1:
        first = series[present].iloc[0]
        status, message = "warn", f"Column '{column}' has the single value {_quote(first)} in every non-missing row."
        mask = present
    else:
        status, message = "pass", f"Column '{column}' has more than one distinct value."
        mask = np.zeros(context.rows, bool)
    count = int(present.sum()) if distinct == 1 else 0
    examples = context.examples(mask, [column])[:1]
    return _result("constant_column", column, status, count, context.fraction(count), message, examples)


def mixed_types(context: _Context, spec: dict[str, str]) -> dict[str, Any] | None:
    """Numbers and words in one text column usually mean a code, a unit or a typo slipped in.

    Blank strings count as neither. Skipped for boolean columns, where "1"/"0" are spellings of yes/no
    and are reported by inconsistent_spellings instead.
    """
    column = spec["name"]
    if spec["kind"] == "boolean":
        return None
    counts = context.counts(column)
    if len(counts) == 0:
        return _result("mixed_types", column, "pass", 0, 0.0, f"Column '{column}' has no values to check.", [])
    labels = _texts(counts.index).str.strip()
    numeric = labels.str.fullmatch(NUMBER).to_numpy(dtype=bool) | _is_number(counts.index)
    words = ~numeric & (labels != "").to_numpy(dtype=bool)
    weights = counts.to_numpy(dtype="int64")
    numeric_rows, word_rows = int(weights[numeric].sum()), int(weights[words].sum())
    if numeric_rows == 0 or word_rows == 0:
        kind = "numbers" if numeric_rows else "text"
        return _result("mixed_types", column, "pass", 0, 0.0, f"Column '{column}' holds only {kind}.", [])
    minority_is_numeric = numeric_rows < word_rows
    minority = numeric if minority_is_numeric else words
    count = numeric_rows if minority_is_numeric else word_rows
    samples = ", ".join(_quote(v) for v in counts.index[minority][:3])
    if minority_is_numeric:
        message = f"Column '{column}' is mostly text ({word_rows:,} rows) but {_of(count, context.rows)} look like numbers, e.g. {samples}."
    else:
        message = f"Column '{column}' is mostly numbers ({numeric_rows:,} rows) but {_of(count, context.rows)} are not numbers, e.g. {samples}."
    mask = context.df[column].isin(counts.index[minority]).to_numpy(dtype=bool)
    return _result(
        "mixed_types", column, "warn", count, context.fraction(count), message, context.examples(mask, [column])
    )


def inconsistent_spellings(context: _Context, spec: dict[str, str]) -> dict[str, Any]:
    """Raw values that mean the same after trimming, case folding and collapsing spaces, or the same yes/no.

    Each group's canonical spelling is its most common one; count is the rows written any other way.
    Yes/no words (yes/y/true/t/1/on, no/n/false/f/0/off) are merged only in boolean columns or columns
    whose values are all such words, so "1" in a column of codes is left alone.
    """
    column = spec["name"]
    counts = context.counts(column)
    keys = _normalised(counts.index)
    if spec["kind"] == "boolean" or (len(keys) and keys.isin(TRUE_WORDS | FALSE_WORDS).all()):
        keys = keys.mask(keys.isin(TRUE_WORDS), "\x00true").mask(keys.isin(FALSE_WORDS), "\x00false")
    shared = keys.duplicated(keep=False).to_numpy(dtype=bool)
    groups: list[tuple[int, str, list[str]]] = []  # (rows in the group, canonical, other spellings)
    variants: list[Any] = []  # raw values that are not their group's canonical spelling
    count = 0
    if shared.any():
        frame = pd.DataFrame(
            {"key": keys[shared].to_numpy(), "raw": list(counts.index[shared]), "n": counts.to_numpy()[shared]}
        )
        frame["label"] = [_label(v) for v in frame["raw"]]
        frame = frame.sort_values(["key", "n", "label"], ascending=[True, False, True], kind="stable")
        for _, group in frame.groupby("key", sort=False):
            labels = group["label"].tolist()
            rows = group["n"].to_numpy()
            groups.append((int(rows.sum()), labels[0], labels[1:]))
            variants += group["raw"].tolist()[1:]
            count += int(rows[1:].sum())
        groups.sort(key=lambda g: (-g[0], g[1]))
    if not groups:
        message = f"Column '{column}' has no values that differ only in case, spacing or yes/no wording."
        return _result("inconsistent_spellings", column, "pass", 0, 0.0, message, [], groups=[])
    described = "; ".join(
        f"{_quote(canonical)} written as {_listing([_quote(s) for s in others])}"
        for _, canonical, others in groups[:MAX_LISTED]
    )
    more = f"; and {len(groups) - MAX_LISTED} more groups" if len(groups) > MAX_LISTED else ""
    message = (
        f"Column '{column}' spells the same value in different ways in {_of(count, context.rows)}: {described}{more}. "
        "Models treat each spelling as a separate category."
    )
    mask = context.df[column].isin(variants).to_numpy(dtype=bool)
    return _result(
        "inconsistent_spellings",
        column,
        "warn",
        count,
        context.fraction(count),
        message,
        context.examples(mask, [column]),
        groups=[[canonical, others] for _, canonical, others in groups],
    )


def outliers(context: _Context, column: str, limits: Thresholds) -> dict[str, Any]:
    """Tukey's fences: values beyond k interquartile ranges from the quartiles (infinities always count)."""
    series = context.df[column]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        series = pd.to_numeric(series, errors="coerce")
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        message = f"Column '{column}' has no numeric values to check for outliers."
        return _result("outliers", column, "pass", 0, 0.0, message, [], bounds=None)
    q1, q3 = (float(q) for q in np.quantile(finite, [0.25, 0.75]))
    spread = q3 - q1
    if spread == 0:
        message = (
            f"Column '{column}' was not checked for outliers: at least half its values equal {_num(q1)}, so the "
            "interquartile range is zero and the IQR method would flag every other value."
        )
        return _result("outliers", column, "pass", 0, 0.0, message, [], bounds=None)
    low, high = q1 - limits.iqr_k * spread, q3 + limits.iqr_k * spread
    with np.errstate(invalid="ignore"):
        mask = (values < low) | (values > high)
    count = int(mask.sum())
    fraction = context.fraction(count)
    status = "warn" if fraction > limits.outlier_warn else "pass"
    fences = (
        f"outside [{_num(low)}, {_num(high)}] (IQR method: Q1 = {_num(q1)}, Q3 = {_num(q3)}, "
        f"{_num(limits.iqr_k)} × IQR beyond the quartiles)"
    )
    if count == 0:
        message = f"Column '{column}' has no values {fences}."
    else:
        warn = f", more than the {_pct(limits.outlier_warn)} warning threshold" if status == "warn" else ""
        message = f"Column '{column}' has {_of(count, context.rows, noun='values')} {fences}{warn}."
    return _result(
        "outliers", column, status, count, fraction, message, context.examples(mask, [column]), bounds=[low, high]
    )


def missing_target(context: _Context, target: str, limits: Thresholds) -> dict[str, Any]:
    mask = context.nulls(target)
    count = int(mask.sum())
    fraction = context.fraction(count)
    status = "fail" if fraction > limits.target_missing_fail else "pass"
    if count == 0:
        message = f"Every row has a value for the target '{target}'."
    else:
        message = f"The target '{target}' is missing in {_of(count, context.rows, noun='rows')}; those rows cannot be used for training."
    return _result("missing_target", target, status, count, fraction, message, context.examples(mask, [target]))


def class_imbalance(context: _Context, target: str, limits: Thresholds) -> dict[str, Any] | None:
    """Share of the rarest class among labelled rows; None for a regression-like or unlabelled target."""
    counts = context.counts(target)
    if len(counts) == 0 or len(counts) > limits.imbalance_max_classes:
        return None
    labels = [_class_label(v) for v in counts.index]
    order = sorted(range(len(counts)), key=lambda i: (-int(counts.iloc[i]), labels[i]))
    classes = {labels[i]: int(counts.iloc[i]) for i in order}
    labelled = int(counts.sum())
    rarest = order[-1]
    count = int(counts.iloc[rarest])
    share = count / labelled
    if len(counts) == 1:
        status = "fail"
        message = (
            f"The target '{target}' has a single class, {_quote(labels[0])}: there is nothing to learn to tell apart."
        )
    else:
        status = "fail" if share < limits.imbalance_fail else "warn" if share < limits.imbalance_warn else "pass"
        message = f"The rarest class of target '{target}' is {_quote(labels[rarest])} with {count:,} of {labelled:,} labelled rows ({_pct(share)})"
        if status == "pass":
            message += f", at or above the {_pct(limits.imbalance_warn)} warning threshold."
        else:
            limit = limits.imbalance_fail if status == "fail" else limits.imbalance_warn
            message += (
                f", below the {_pct(limit)} {'failure' if status == 'fail' else 'warning'} threshold; "
                "consider stratified splits, class weights or a metric such as F1 or PR-AUC rather than accuracy."
            )
    mask = context.df[target].isin([counts.index[rarest]]).to_numpy(dtype=bool)
    return _result(
        "class_imbalance", target, status, count, share, message, context.examples(mask, [target]), classes=classes
    )


def _result(
    check: str, column: str | None, status: str, count: int, fraction: float, message: str, examples: list, **extra: Any
) -> dict[str, Any]:
    return {
        "check": check,
        "column": column,
        "status": status,
        "count": count,
        "fraction": float(fraction),
        "message": message,
        "examples": examples,
        **extra,
    }


def _grade(fraction: float, warn: float, fail: float) -> str:
    return "fail" if fraction > fail else "warn" if fraction > warn else "pass"


def _over(status: str, warn: float, fail: float) -> str:
    """The threshold a warn or fail exceeded, as a clause to end a sentence with."""
    if status == "fail":
        return f", more than the {_pct(fail)} failure threshold"
    if status == "warn":
        return f", more than the {_pct(warn)} warning threshold" if warn > 0 else ""
    return ""


def _of(count: int, total: int, noun: str = "rows") -> str:
    share = f" ({_pct(count / total)})" if total else ""
    return f"{count:,} of {total:,} {noun}{share}"


def _pct(fraction: float) -> str:
    if 0 < fraction < 0.001:
        return "<0.1%"
    return f"{fraction * 100:.1f}%".replace(".0%", "%")


def _num(value: float) -> str:
    return f"{value:.6g}"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _quote(value: Any) -> str:
    """A value as the user would recognise it, in double quotes so leading or trailing spaces show."""
    return json.dumps(_label(value), ensure_ascii=False)


def _label(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _class_label(value: Any) -> str:
    """A class as text; a float label that is a whole number (0.0, a NaN-widened int column) shows as 0."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return _label(value)


def _texts(index: pd.Index) -> pd.Series:
    """Distinct values as a string Series, whatever mix of types an object column holds."""
    if isinstance(index.dtype, pd.StringDtype):
        return pd.Series(index, dtype=index.dtype)
    return pd.Series([_label(v) for v in index], dtype="str")


def _normalised(index: pd.Index) -> pd.Series:
    """Each value stripped, with inner whitespace collapsed to one space, and case-folded.

    Done with Arrow kernels because a free-text column can have a million distinct values; lower-casing
    equals case folding for ASCII, so Python's casefold runs only on the non-ASCII strings.
    """
    texts = pa.array(_texts(index).array)
    collapsed = pc.replace_substring_regex(pc.utf8_trim_whitespace(texts), r"[\s\p{Z}]+", " ")
    keys = pc.utf8_lower(collapsed).to_numpy(zero_copy_only=False).astype(object)
    unusual = np.flatnonzero(~pc.string_is_ascii(collapsed).to_numpy(zero_copy_only=False))
    if len(unusual):
        originals = collapsed.take(pa.array(unusual)).to_pylist()
        keys[unusual] = [value.casefold() for value in originals]
    return pd.Series(keys, dtype="str")


def _is_number(index: pd.Index) -> np.ndarray:
    """Values that are already numbers (an object column can hold ints next to strings), bools excluded."""
    if isinstance(index.dtype, pd.StringDtype):
        return np.zeros(len(index), dtype=bool)
    return np.fromiter(
        (isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_) for v in index),
        dtype=bool,
        count=len(index),
    )


def _is_text_dtype(series: pd.Series) -> bool:
    return series.dtype == object or isinstance(series.dtype, pd.StringDtype)


def _jsonable(value: Any) -> Any:
    """Plain JSON values for examples: None for any kind of missing, ISO strings for times, str otherwise."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, pd.Timestamp | pd.Timedelta):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)
