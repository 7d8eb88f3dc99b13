"""Declarative cleaning recipes: validate a list of steps, apply it to a DataFrame, serialise the result. Pure.

A recipe is JSON (a list of `{"op": ..., **params}` objects) stored on the child dataset version, so
validation runs against the parent's column names before any work is queued, and `apply_recipe` must be
deterministic: the same recipe on the same input always gives byte-identical `to_csv_bytes` output.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

MAX_STEPS = 50
STRATEGIES = ("median", "mean", "mode", "constant")
CLIP_METHODS = ("iqr", "bounds")
DEFAULT_IQR_K = 3.0
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "on"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "off"})

_REQUIRED = object()  # marks a parameter without a default
# Parameters of each op and their defaults; impute and clip_outliers depend on strategy/method (see _fields).
_FIELDS: dict[str, dict[str, Any]] = {
    "drop_columns": {"columns": _REQUIRED},
    "drop_duplicates": {},
    "map_values": {"column": _REQUIRED, "mapping": _REQUIRED},
    "standardize_booleans": {"columns": _REQUIRED},
    "trim_strings": {"columns": None},
    "casefold_strings": {"columns": _REQUIRED},
    "impute": {"column": _REQUIRED, "strategy": _REQUIRED},
    "drop_missing_target": {"column": _REQUIRED},
    "clip_outliers": {"column": _REQUIRED, "method": _REQUIRED},
}
OPS = tuple(_FIELDS)

Progress = Callable[[int, str], None]


class RecipeError(ValueError):
    """A recipe that cannot run; `errors` maps keys like "steps[2].column" to messages for API field errors."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {message}" for key, messages in errors.items() for message in messages))


# --- validation -------------------------------------------------------------------------------------------------


class _Checker:
    """Collects errors for the whole recipe while tracking which columns (and kinds) exist at each step."""

    def __init__(self, columns: list[str], kinds: dict[str, str] | None):
        self.columns = list(columns)
        self.kinds = dict(kinds or {})
        self.dropped_by: dict[str, str] = {}
        self.errors: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def missing(self, names: list[str]) -> str | None:
        """A message naming the columns that do not exist at this point of the recipe, if any."""
        absent = [name for name in names if name not in self.columns]
        if not absent:
            return None
        parts = [
            f"'{name}' was dropped by {self.dropped_by[name]}"
            if name in self.dropped_by
            else f"'{name}' does not exist"
            for name in absent
        ]
        return "Unknown column at this step: " + "; ".join(parts) + "."


def validate_recipe(steps: object, columns: list[str], kinds: dict[str, str] | None = None) -> list[dict]:
    """Check a recipe against the parent's columns (and kinds, when known); return it normalised or raise."""
    if not isinstance(steps, list):
        raise RecipeError({"steps": ["The recipe must be a list of steps."]})
    if not steps:
        raise RecipeError({"steps": ["The recipe needs at least one step."]})
    if len(steps) > MAX_STEPS:
        raise RecipeError({"steps": [f"A recipe can have at most {MAX_STEPS} steps (this one has {len(steps)})."]})
    checker = _Checker(columns, kinds)
    normalised = [_validate_step(step, f"steps[{index}]", checker) for index, step in enumerate(steps)]
    if checker.errors:
        raise RecipeError(checker.errors)
    return [step for step in normalised if step is not None]


def _validate_step(step: object, at: str, checker: _Checker) -> dict | None:
    if not isinstance(step, dict):
        checker.add(at, 'Each step must be an object with an "op".')
        return None
    op = step.get("op")
    if op is None:
        checker.add(f"{at}.op", "This field is required.")
        return None
    if not isinstance(op, str) or op not in _FIELDS:
        checker.add(f"{at}.op", f"Unknown operation {op!r}. Choose one of: {', '.join(OPS)}.")
        return None
    params = {key: value for key, value in step.items() if key != "op"}
    fields = _fields(op, params)
    ok = True
    for key in params:
        if key not in fields:
            checker.add(f"{at}.{key}", _extra_message(op, key))
            ok = False
    for key, default in fields.items():
        if key not in params:
            if default is _REQUIRED:
                checker.add(f"{at}.{key}", "This field is required.")
                ok = False
            continue
        problem = _type_problem(key, params[key], default)
        if problem:
            checker.add(f"{at}.{key}", problem)
            ok = False
    if not ok:
        return None
    values = {key: _normalise_value(key, params.get(key, default)) for key, default in fields.items()}
    _check_semantics(op, values, at, checker)
    return dict(sorted({"op": op, **values}.items()))


def _fields(op: str, params: dict) -> dict[str, Any]:
    """The parameters an op accepts; when strategy/method is invalid, accept all its extras to avoid noise."""
    fields = dict(_FIELDS[op])
    if op == "impute":
        strategy = params.get("strategy")
        if strategy == "constant":
            fields["value"] = _REQUIRED
        elif strategy not in STRATEGIES:
            fields["value"] = None
    elif op == "clip_outliers":
        method = params.get("method")
        if method != "bounds":
            fields["k"] = DEFAULT_IQR_K
        if method != "iqr":
            fields["lower"] = fields["upper"] = None
    return fields


def _extra_message(op: str, key: str) -> str:
    if op == "impute" and key == "value":
        return "Only used with strategy 'constant'."
    if op == "clip_outliers" and key == "k":
        return "Only used with method 'iqr'."
    if op == "clip_outliers" and key in ("lower", "upper"):
        return "Only used with method 'bounds'."
    return f"Unknown parameter for {op}."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


def _type_problem(key: str, value: object, default: object) -> str | None:
    """Why a parameter value has the wrong shape, or None when it is fine."""
    if value is None and default is None:
        return None
    if key == "columns":
        if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
            return "Expected a list of column names."
        if not value:
            return "Choose at least one column."
        if len(set(value)) != len(value):
            return "Each column may appear only once."
    elif key == "column":
        if not isinstance(value, str) or not value:
            return "Expected a column name."
    elif key == "mapping":
        if not isinstance(value, dict) or not all(isinstance(old, str) for old in value):
            return "Expected an object mapping old values (strings) to new values."
        if not value:
            return "Give at least one value to replace."
        if not all(new is None or _is_scalar(new) for new in value.values()):
            return "New values must be strings, numbers, booleans or null."
    elif key == "strategy":
        if value not in STRATEGIES:
            return f"Choose one of: {', '.join(STRATEGIES)}."
    elif key == "method":
        if value not in CLIP_METHODS:
            return f"Choose one of: {', '.join(CLIP_METHODS)}."
    elif key == "value":
        if not _is_scalar(value):
            return "Expected a string, number or boolean."
    elif key == "k":
        if not _is_number(value) or value <= 0:
            return "Expected a positive number."
    elif key in ("lower", "upper") and not _is_number(value):
        return "Expected a number or null."
    return None


def _normalise_value(key: str, value: Any) -> Any:
    if key == "mapping":
        return dict(sorted(value.items()))
    if key in ("k", "lower", "upper") and value is not None:
        return float(value)
    if key == "columns" and value is not None:
        return list(value)
    return value


def _check_semantics(op: str, step: dict, at: str, checker: _Checker) -> None:
    """Check columns exist at this point and values make sense, then update the tracked columns and kinds."""
    key = "columns" if "columns" in step else "column" if "column" in step else None
    if key and step[key] is not None:
        names = step[key] if key == "columns" else [step[key]]
        message = checker.missing(names)
        if message:
            checker.add(f"{at}.{key}", message)
            return
    if op == "drop_columns":
        if len(set(step["columns"])) >= len(checker.columns):
            checker.add(f"{at}.columns", "A recipe cannot drop every column.")
            return
        for name in step["columns"]:
            checker.columns.remove(name)
            checker.kinds.pop(name, None)
            checker.dropped_by[name] = at
    elif op == "impute":
        kind = checker.kinds.get(step["column"])
        if step["strategy"] in ("median", "mean") and kind not in (None, "numeric"):
            checker.add(
                f"{at}.column", f"The {step['strategy']} needs a numeric column, but '{step['column']}' is {kind}."
            )
        if step["strategy"] == "constant" and kind == "numeric" and not _is_number(step["value"]):
            checker.add(f"{at}.value", f"'{step['column']}' is numeric, so the constant must be a number.")
    elif op == "clip_outliers":
        kind = checker.kinds.get(step["column"])
        if kind not in (None, "numeric"):
            checker.add(f"{at}.column", f"Clipping needs a numeric column, but '{step['column']}' is {kind}.")
        if step["method"] == "bounds":
            lower, upper = step["lower"], step["upper"]
            if lower is None and upper is None:
                checker.add(f"{at}.lower", "Give a lower bound, an upper bound, or both.")
            elif lower is not None and upper is not None and lower > upper:
                checker.add(f"{at}.lower", f"The lower bound ({_num(lower)}) is above the upper bound ({_num(upper)}).")
    elif op == "standardize_booleans":
        checker.kinds.update(dict.fromkeys(step["columns"], "boolean"))
    elif op == "map_values":
        checker.kinds.pop(step["column"], None)  # the new values may be of any kind


# --- application ------------------------------------------------------------------------------------------------


def apply_recipe(df: pd.DataFrame, steps: list[dict], *, progress: Progress | None = None) -> pd.DataFrame:
    """Apply the steps in order to a copy of `df`; re-validates so stored recipes fail with field errors."""
    normalised = validate_recipe(steps, list(df.columns))
    frame = df.copy(deep=True)
    total = len(normalised)
    for index, step in enumerate(normalised):
        if progress is not None:
            progress(round(100 * index / total), f"Step {index + 1} of {total}: {describe_step(step)}")
        frame = _APPLY[step["op"]](frame, step, f"steps[{index}]")
    if progress is not None:
        progress(100, "Cleaning finished")
    return frame


def _drop_columns(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    return frame.drop(columns=step["columns"])


def _drop_duplicates(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    return frame.drop_duplicates(keep="first").reset_index(drop=True)


def _map_values(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    mapping = step["mapping"]
    series = frame[step["column"]]
    values = [mapping.get(_mapping_key(value), value) if _present(value) else value for value in series.tolist()]
    frame[step["column"]] = pd.Series(values, index=series.index, name=series.name).infer_objects()
    return frame


def _mapping_key(value: object) -> str:
    """How a cell is matched against the (string) mapping keys: 1 and 1.0 both match "1"."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _present(value: object) -> bool:
    return not (value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)))


def _standardize_booleans(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    for name in step["columns"]:
        series = frame[name]
        frame[name] = pd.Series([_to_boolean(value) for value in series.tolist()], index=series.index, dtype="boolean")
    return frame


def _to_boolean(value: object) -> bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | float | np.integer | np.floating) and _present(value):
        return True if value == 1 else False if value == 0 else None
    if isinstance(value, str):
        word = value.strip().casefold()
        return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None
    return None


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series.dtype) or isinstance(series.dtype, pd.StringDtype)


def _map_strings(series: pd.Series, func: Callable[[str], object]) -> pd.Series:
    """Apply `func` to the string cells only, keeping the dtype; Python's own str methods keep it backend-free."""
    if not _is_text(series):
        return series
    values = [func(value) if isinstance(value, str) else value for value in series.tolist()]
    return pd.Series(values, index=series.index, name=series.name, dtype=series.dtype)


def _trim(value: str) -> object:
    """Blank-after-trimming becomes missing, which is also how the CSV would read it back."""
    return value.strip() or np.nan


def _trim_strings(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    names = (
        step["columns"] if step["columns"] is not None else [name for name in frame.columns if _is_text(frame[name])]
    )
    for name in names:
        frame[name] = _map_strings(frame[name], _trim)
    return frame


def _casefold_strings(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    for name in step["columns"]:
        frame[name] = _map_strings(frame[name], str.casefold)
    return frame


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _impute(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    name, strategy = step["column"], step["strategy"]
    series = frame[name]
    if not series.isna().any():
        return frame
    if strategy in ("median", "mean"):
        if not _is_numeric(series):
            raise RecipeError(
                {f"{at}.column": [f"The {strategy} needs a numeric column, but '{name}' is {series.dtype}."]}
            )
        present = _finite(series)  # an inf would make the mean inf and the column object
        if present.empty:
            raise RecipeError({f"{at}.column": [f"'{name}' has no values to compute the {strategy} from."]})
        value: object = float(present.median() if strategy == "median" else present.mean())
    elif strategy == "mode":
        value = _mode(series)
        if value is None:
            raise RecipeError({f"{at}.column": [f"'{name}' has no values to take the most frequent from."]})
    else:
        value = step["value"]
    frame[name] = _fill(series, value)
    return frame


def _mode(series: pd.Series) -> object:
    """The most frequent value; ties go to the smallest by string order so the result never depends on hashing."""
    counts = series.dropna().value_counts(sort=False)
    if counts.empty:
        return None
    top = counts[counts == counts.max()].index.tolist()
    return min(top, key=lambda value: (str(value), type(value).__name__))


def _fill(series: pd.Series, value: object) -> pd.Series:
    """fillna, widening the dtype explicitly when the value does not fit (pandas warns, then will raise)."""
    if _is_numeric(series) and _is_number(value):
        if pd.api.types.is_integer_dtype(series):
            if not float(value).is_integer():
                return _as_float(series).fillna(value)
            value = int(value)
        return series.fillna(value)
    dtype = series.dtype
    fits = (
        pd.api.types.is_object_dtype(dtype)
        or (pd.api.types.is_bool_dtype(dtype) and isinstance(value, bool))
        or (isinstance(dtype, pd.StringDtype) and isinstance(value, str))
        or (pd.api.types.is_datetime64_any_dtype(dtype) and isinstance(value, pd.Timestamp))
        or (isinstance(dtype, pd.CategoricalDtype) and value in dtype.categories)
    )
    return series.fillna(value) if fits else series.astype(object).fillna(value)


def _as_float(series: pd.Series) -> pd.Series:
    return series.astype("Float64" if isinstance(series.dtype, pd.api.extensions.ExtensionDtype) else "float64")


def _drop_missing_target(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    return frame[frame[step["column"]].notna()].reset_index(drop=True)


def _finite(series: pd.Series) -> pd.Series:
    """Non-missing, finite values: statistics over them are numbers, never inf or NaN."""
    present = series.dropna()
    return present[np.isfinite(present.astype("float64"))]


def _clip_outliers(frame: pd.DataFrame, step: dict, at: str) -> pd.DataFrame:
    name = step["column"]
    series = frame[name]
    if not _is_numeric(series):
        raise RecipeError({f"{at}.column": [f"Clipping needs a numeric column, but '{name}' is {series.dtype}."]})
    if step["method"] == "iqr":
        present = _finite(series)
        if present.empty:
            return frame
        q1, q3 = float(present.quantile(0.25)), float(present.quantile(0.75))
        lower, upper = q1 - step["k"] * (q3 - q1), q3 + step["k"] * (q3 - q1)
    else:
        lower, upper = step["lower"], step["upper"]
    frame[name] = _clip(series, lower, upper)
    return frame


def _clip(series: pd.Series, lower: float | None, upper: float | None) -> pd.Series:
    """Integer columns stay integer: bounds are rounded inwards, which keeps every value within the real bounds."""
    if pd.api.types.is_integer_dtype(series):
        low = math.ceil(lower) if lower is not None else None
        high = math.floor(upper) if upper is not None else None
        if low is None or high is None or low <= high:
            return series.clip(lower=low, upper=high)
        series = _as_float(series)
    return series.clip(lower=lower, upper=upper)


_APPLY: dict[str, Callable[[pd.DataFrame, dict, str], pd.DataFrame]] = {
    "drop_columns": _drop_columns,
    "drop_duplicates": _drop_duplicates,
    "map_values": _map_values,
    "standardize_booleans": _standardize_booleans,
    "trim_strings": _trim_strings,
    "casefold_strings": _casefold_strings,
    "impute": _impute,
    "drop_missing_target": _drop_missing_target,
    "clip_outliers": _clip_outliers,
}


# --- the row-wise steps, for serving -----------------------------------------------------------------------------

# Steps that change values one row at a time. A model trained on cleaned data gets these at predict time too
# (deployments applies them before validating a request), so a raw record scores as its cleaned form does.
# The steps that drop rows or columns have no meaning for one record and are left out.
ROW_OPS = ("trim_strings", "casefold_strings", "standardize_booleans", "map_values", "impute", "clip_outliers")
# Row-wise steps whose effect depends on the data they ran on: their statistic is fixed from that data.
_FITTED = {("impute", "median"), ("impute", "mean"), ("impute", "mode"), ("clip_outliers", "iqr")}


def needs_data(steps: list[dict]) -> bool:
    """Whether `fit_row_steps` must see the data: some row-wise step takes a statistic of it."""
    return any((step.get("op"), step.get("strategy") or step.get("method")) in _FITTED for step in steps)


def fit_row_steps(df: pd.DataFrame | None, steps: list[dict]) -> list[dict]:
    """The recipe's row-wise steps with every statistic fixed as `apply_recipe` computed it on `df`.

    Each returned step holds constants only (an impute's value, a clip's bounds), so it can run on one record
    without the data, and `step`, its position in the recipe. `df` may be None when `needs_data(steps)` is False.
    """
    if df is None:
        if needs_data(steps):
            raise ValueError("These steps take statistics of the data: pass the frame they ran on.")
        return [
            {**step, "step": i} for i, step in enumerate(steps) if isinstance(step, dict) and step.get("op") in ROW_OPS
        ]
    normalised = validate_recipe(steps, list(df.columns))
    frame = df.copy(deep=True)
    fitted = []
    for index, step in enumerate(normalised):
        if step["op"] in ROW_OPS:
            fixed = _fix(frame, step, f"steps[{index}]")
            if fixed is not None:
                fitted.append({**fixed, "step": index})
        frame = _APPLY[step["op"]](frame, step, f"steps[{index}]")
    return fitted


def _fix(frame: pd.DataFrame, step: dict, at: str) -> dict | None:
    """The step with the statistic it takes of `frame` written in, or None when it would change nothing."""
    op = step["op"]
    if op == "impute" and step["strategy"] != "constant":
        series = frame[step["column"]]
        if step["strategy"] == "mode":
            value = _mode(series)
        else:
            present = _finite(series) if _is_numeric(series) else series.iloc[:0]
            value = (
                None if present.empty else float(present.median() if step["strategy"] == "median" else present.mean())
            )
        if value is None:
            raise RecipeError({f"{at}.column": [f"'{step['column']}' has no values to impute from."]})
        return {"op": "impute", "column": step["column"], "strategy": "constant", "value": _plain(value)}
    if op == "clip_outliers":
        series = frame[step["column"]]
        if step["method"] == "iqr":
            present = _finite(series)
            if present.empty:
                return None  # apply_recipe leaves the column as it is
            q1, q3 = float(present.quantile(0.25)), float(present.quantile(0.75))
            lower, upper = q1 - step["k"] * (q3 - q1), q3 + step["k"] * (q3 - q1)
        else:
            lower, upper = step["lower"], step["upper"]
        if pd.api.types.is_integer_dtype(series):  # as _clip: integer bounds rounded inwards, if they still meet
            low = math.ceil(lower) if lower is not None else None
            high = math.floor(upper) if upper is not None else None
            if low is None or high is None or low <= high:
                lower, upper = low, high
        return {
            "op": "clip_outliers",
            "column": step["column"],
            "method": "bounds",
            "lower": None if lower is None else float(lower),
            "upper": None if upper is None else float(upper),
        }
    return dict(step)


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def apply_row_steps(steps: list[dict], columns: dict[str, list]) -> None:
    """Run fixed row-wise steps (from `fit_row_steps`) on JSON values, one list per column, in place.

    What a step does to a value is what it does to a cell in `apply_recipe`, with one difference: a boolean
    word the step does not know stays as sent (the recipe would make it missing), so the caller's typo is
    refused by validation instead of being silently imputed. Columns a step names that are not in `columns`
    are skipped; values that are not of the step's type pass untouched.
    """
    for step in steps:
        op = step.get("op")
        names = step.get("columns") if "columns" in step else [step.get("column")]
        for name in columns if names is None else names:
            values = columns.get(name)
            if values is None:
                continue
            change = _ROW_VALUE[op](step)
            for i, value in enumerate(values):
                values[i] = change(value)


def _row_trim(step: dict) -> Callable[[object], object]:
    return lambda value: (value.strip() or None) if isinstance(value, str) else value


def _row_casefold(step: dict) -> Callable[[object], object]:
    return lambda value: value.casefold() if isinstance(value, str) else value


def _row_boolean(step: dict) -> Callable[[object], object]:
    def change(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            return value
        known = _to_boolean(value)
        return value if known is None else known

    return change


def _row_map(step: dict) -> Callable[[object], object]:
    mapping = step["mapping"]

    def change(value: object) -> object:
        if not isinstance(value, str | int | float) or not _present(value):
            return value
        key = _mapping_key(value)
        return mapping.get(key, value)

    return change


def _row_impute(step: dict) -> Callable[[object], object]:
    fill = step["value"]
    return lambda value: fill if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _row_clip(step: dict) -> Callable[[object], object]:
    lower, upper = step.get("lower"), step.get("upper")

    def change(value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return value
        if lower is not None and value < lower:
            return lower
        if upper is not None and value > upper:
            return upper
        return value

    return change


_ROW_VALUE: dict[str, Callable[[dict], Callable[[object], object]]] = {
    "trim_strings": _row_trim,
    "casefold_strings": _row_casefold,
    "standardize_booleans": _row_boolean,
    "map_values": _row_map,
    "impute": _row_impute,
    "clip_outliers": _row_clip,
}


# --- output and descriptions ------------------------------------------------------------------------------------


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """The canonical child-version bytes: UTF-8, "\\n" endings, no index, floats in their shortest round-trip repr."""
    return df.to_csv(index=False, lineterminator="\n", float_format=None, date_format=None).encode("utf-8")


def describe_step(step: dict) -> str:
    """One sentence per step for the UI, e.g. "Impute income with the median"."""
    op = step.get("op")
    if op == "drop_columns":
        return f"Drop {_plural('column', step['columns'])} {_names(step['columns'])}"
    if op == "drop_duplicates":
        return "Drop exact duplicate rows, keeping the first"
    if op == "map_values":
        pairs = [f"{_literal(old)} → {_literal(new)}" for old, new in step["mapping"].items()]
        shown = ", ".join(pairs[:3]) + (f" and {len(pairs) - 3} more" if len(pairs) > 3 else "")
        return f"Replace values in {step['column']}: {shown}"
    if op == "standardize_booleans":
        return f"Convert {_names(step['columns'])} to true/false (unrecognised values become missing)"
    if op == "trim_strings":
        where = _names(step["columns"]) if step.get("columns") else "all text columns"
        return f"Trim surrounding whitespace in {where} (blank cells become missing)"
    if op == "casefold_strings":
        return f"Lowercase {_names(step['columns'])}"
    if op == "impute":
        how = {"median": "the median", "mean": "the mean", "mode": "the most frequent value"}.get(step["strategy"])
        return f"Impute {step['column']} with {how or 'the constant ' + _literal(step.get('value'))}"
    if op == "drop_missing_target":
        return f"Drop rows where {step['column']} is missing"
    if op == "clip_outliers":
        if step.get("method") == "bounds":
            lower, upper = step.get("lower"), step.get("upper")
            if lower is None:
                return f"Clip {step['column']} to at most {_num(upper)}"
            if upper is None:
                return f"Clip {step['column']} to at least {_num(lower)}"
            return f"Clip {step['column']} to between {_num(lower)} and {_num(upper)}"
        k = step.get("k", DEFAULT_IQR_K)
        return f"Clip {step['column']} to {_num(k)} × IQR beyond the quartiles"
    return f"Unknown step {op!r}"


def _names(columns: list[str]) -> str:
    return ", ".join(columns)


def _plural(word: str, items: list) -> str:
    return word if len(items) == 1 else word + "s"


def _literal(value: object) -> str:
    return "missing" if value is None else json.dumps(value, ensure_ascii=False)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
