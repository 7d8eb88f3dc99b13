"""Turn the JSON body of a predict request into the DataFrame a stored pipeline accepts. Pure: no Django, no ORM.

`parse(records, signature, max_rows=...)` returns a frame with exactly the signature's input columns, in
signature order, or raises `RecordsError` with one `{"row", "field", "message"}` entry per problem (`row` is
the 0-based position in the request, `field` the input name; either is None when the problem is not about
one row or one field). At most `MAX_ERRORS` (20) problems are listed: on finding one more, parsing stops
and a last entry says so.

Why strict: the pipelines `experiments.training.train` builds are forgiving in the wrong way. Numeric columns
go through `as_float` (`pd.to_numeric(errors="coerce")`), so a typo like "4O" would silently become a
missing value and be imputed; every other column goes through `as_text` (`str(value)`) into a one-hot encoder
with `handle_unknown="ignore"`, so a value written differently from training (`true` vs "yes", 3 vs "3")
silently encodes as "no category at all". Both give a confident, wrong prediction. So values are checked
against the type training fed the pipeline, and anything else is a 400 rather than a guess.

Policy:

* The body is a non-empty JSON array of objects, one object per row; a single object is one row. More
  than `max_rows` rows is refused as a whole (nothing else is checked).
* Every row has every input field, and nothing else: a missing field and an unknown field are both errors
  (a misspelt field would otherwise be an ignored extra plus an imputed missing value). Send `null` for a
  value you do not know.
* `null` (and a float NaN, which only Python callers can send) means missing, for every kind: the pipeline
  imputes every input column (numeric ones with the training median, all others with the most frequent
  training value).
* numeric: JSON numbers only. Strings (even "12"), booleans and infinities are refused. Column: float64.
* categorical, text: strings only, passed on exactly as sent (case and spaces matter to the encoder, which
  compares with the strings training saw). Numbers and booleans are refused. Column: object.
* boolean: depends on what training held, which the signature's dtype records.
  - dtype "bool", "boolean", "object" (real booleans, with or without missing values, as a CSV with
    True/False reads back and as the `standardize_booleans` cleaning step writes): `true`/`false`, or the
    words that cleaning step understands ("yes"/"no", "y"/"n", "t"/"f", "on"/"off", "1"/"0", any case),
    turned into True/False so the encoder sees the "True"/"False" it was fitted on.
  - dtype "str"/"string" (uncleaned words such as "yes"/"no"): strings only, passed on exactly as sent;
    `true`/`false` are refused, because the encoder never saw "True" for such a column.
  Numbers are refused either way. Column: object (True/False/None, or the strings).
* datetime: training refuses datetime features today, so no platform signature has one. Should one
  appear, ISO 8601 strings ("2025-01-31", "2025-01-31T12:00:00") are accepted and passed on as sent.
  Column: object.

A 1-row request is the serving hot path, so the frame is built column-wise: one list per column, one type
check over the list, one numpy array per column; per-cell work happens only on the error path.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KINDS", "MAX_ERRORS", "RecordsError", "frame", "logged_rows", "parse", "parse_columns", "unseen"]

MAX_ERRORS = 20
KINDS = ("numeric", "categorical", "boolean", "datetime", "text")  # experiments.tabular.KINDS
# The words experiments.cleaning's standardize_booleans step turns into booleans (tests keep them in step).
TRUE_WORDS = frozenset({"yes", "y", "true", "t", "1", "on"})
FALSE_WORDS = frozenset({"no", "n", "false", "f", "0", "off"})
TEXT_DTYPES = frozenset({"str", "string", "string[python]", "string[pyarrow]", "string[pyarrow_numpy]"})

_NONE = type(None)
_NUMBER_TYPES = frozenset({int, float, _NONE})
_STRING_TYPES = frozenset({str, _NONE})
_BOOL_TYPES = frozenset({bool, _NONE})
_ABSENT = object()  # a field missing from its row, already reported


class RecordsError(ValueError):
    """A predict request whose records do not fit the model's signature; `errors` are shown to the caller."""

    def __init__(self, errors: list[dict[str, Any]]):
        self.errors = errors
        first = errors[0] if errors else {"row": None, "field": None, "message": "Invalid records."}
        where = ", ".join(f"{key} {first[key]}" for key in ("row", "field") if first.get(key) is not None)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{where + ': ' if where else ''}{first['message']}{more}")


class _Errors:
    """Collects problems; stops the parse with a RecordsError when there are more than MAX_ERRORS."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, row: int | None, field: str | None, message: str) -> None:
        if len(self.items) == MAX_ERRORS:  # a 21st problem: say there are more, and stop looking
            self.items.append(
                {"row": None, "field": None, "message": f"Stopped after {MAX_ERRORS} errors; fix these and retry."}
            )
            raise RecordsError(self.items)
        self.items.append({"row": row, "field": field, "message": message})


Converter = Callable[[list[Any], str, _Errors], np.ndarray]


def parse(records: Any, signature: Mapping[str, Any], *, max_rows: int) -> pd.DataFrame:
    """The records as a frame of the signature's inputs (in order, training's types), or RecordsError."""
    return frame(parse_columns(records, signature, max_rows=max_rows))


def parse_columns(
    records: Any,
    signature: Mapping[str, Any],
    *,
    max_rows: int,
    prepare: Callable[[dict[str, list[Any]]], None] | None = None,
) -> dict[str, np.ndarray]:
    """The records as one array per signature input, in signature order (what `parse` makes a frame of).

    `prepare`, when given, changes the raw values (one new list per input, never the caller's records) before
    they are checked: serving passes the version's cleaning steps (`experiments.cleaning.apply_row_steps`).
    """
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive integer, not {max_rows!r}.")
    inputs = _inputs(signature)
    rows = _rows(records, max_rows)
    names = [name for name, _ in inputs]
    expected = frozenset(names)
    errors = _Errors()

    columns = None
    # The hot path: dicts of the right size holding every input name hold exactly the inputs.
    width = len(names)
    if all(type(row) is dict and len(row) == width for row in rows):
        try:
            columns = [[row[name] for row in rows] for name in names]
        except KeyError:
            pass
    if columns is None:
        for index, row in enumerate(rows):
            if not (isinstance(row, Mapping) and row.keys() == expected):
                _check_fields(index, row, names, expected, errors)
        columns = [[row.get(name, _ABSENT) if isinstance(row, Mapping) else _ABSENT for row in rows] for name in names]
    if prepare is not None:
        prepare(dict(zip(names, columns, strict=True)))  # in place: the lists are this function's own

    arrays = [convert(values, name, errors) for (name, convert), values in zip(inputs, columns, strict=True)]
    if errors.items:
        raise RecordsError(errors.items)
    return dict(zip(names, arrays, strict=True))


# ---------------------------------------------------------------------------------------------------
# Shape: the body, the rows, the fields
# ---------------------------------------------------------------------------------------------------


def _inputs(signature: Mapping[str, Any]) -> list[tuple[str, Converter]]:
    """(name, converter) per input column. A bad signature is the platform's fault, hence ValueError."""
    inputs = signature.get("inputs") if isinstance(signature, Mapping) else None
    if not isinstance(inputs, Sequence) or isinstance(inputs, str) or not inputs:
        raise ValueError("The model signature has no input columns.")
    found: list[tuple[str, Converter]] = []
    for column in inputs:
        if not isinstance(column, Mapping) or "name" not in column:
            raise ValueError(f"The model signature has an input without a name: {column!r}.")
        name, kind, dtype = str(column["name"]), column.get("kind"), column.get("dtype")
        if kind == "numeric":
            convert = _numeric
        elif kind in ("categorical", "text"):
            convert = _text
        elif kind == "boolean":
            convert = _text_boolean if str(dtype) in TEXT_DTYPES else _boolean
        elif kind == "datetime":
            convert = _datetime
        else:
            raise ValueError(f"The model signature gives input {name!r} the unknown kind {kind!r}.")
        found.append((name, convert))
    if len({name for name, _ in found}) != len(found):
        raise ValueError("The model signature lists an input column more than once.")
    return found


def _rows(records: Any, max_rows: int) -> list[Any]:
    if isinstance(records, Mapping):
        return [records]
    if not isinstance(records, list | tuple):
        raise RecordsError(
            [_error(None, None, f"Expected an array of records (objects), or one object; got {_describe(records)}.")]
        )
    if not records:
        raise RecordsError([_error(None, None, "No records: send at least one.")])
    if len(records) > max_rows:
        raise RecordsError(
            [_error(None, None, f"Too many records: {len(records):,} sent, the limit is {max_rows:,} per request.")]
        )
    return records


def _check_fields(index: int, row: Any, names: list[str], expected: frozenset[str], errors: _Errors) -> None:
    if not isinstance(row, Mapping):
        errors.add(index, None, f"Each record must be an object of input names and values; got {_describe(row)}.")
        return
    for name in names:
        if name not in row:
            errors.add(index, name, "Missing: every input is required (send null if the value is unknown).")
    for key in row:
        if key not in expected:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            errors.add(index, str(key), f"Not an input of this model.{hint}")


def _error(row: int | None, field: str | None, message: str) -> dict[str, Any]:
    return {"row": row, "field": field, "message": message}


# ---------------------------------------------------------------------------------------------------
# Values, one column at a time
# ---------------------------------------------------------------------------------------------------


def _numeric(values: list[Any], name: str, errors: _Errors) -> np.ndarray:
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            array = np.array(values, dtype=np.float64)  # None becomes NaN
        except OverflowError:  # an integer beyond float range: the slow path names the row
            pass
        else:
            if not np.isinf(array).any():
                return array
    array = np.empty(len(values), dtype=np.float64)
    for row, value in enumerate(values):
        array[row] = np.nan
        if _missing(value):
            continue
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
            hint = " Send numbers without quotes." if isinstance(value, str) else ""
            errors.add(row, name, f"Expected a number or null; got {_describe(value)}.{hint}")
            continue
        try:
            number = float(value)
        except OverflowError:
            errors.add(row, name, "The number is too large.")
            continue
        if math.isinf(number):
            errors.add(row, name, "Infinity is not allowed; send a finite number or null.")
            continue
        array[row] = number
    return array


def _text(values: list[Any], name: str, errors: _Errors) -> np.ndarray:
    if set(map(type, values)) <= _STRING_TYPES:
        return _objects(values)
    converted = [None] * len(values)
    for row, value in enumerate(values):
        if isinstance(value, str):
            converted[row] = value
        elif not _missing(value):
            hint = f' The model compares text: send "{value}" if that is the value.' if _is_number(value) else ""
            errors.add(row, name, f"Expected a string or null; got {_describe(value)}.{hint}")
    return _objects(converted)


def _boolean(values: list[Any], name: str, errors: _Errors) -> np.ndarray:
    """Training held real booleans: accept them and boolean words, hand on True/False."""
    if set(map(type, values)) <= _BOOL_TYPES:
        return _objects(values)
    converted: list[bool | None] = [None] * len(values)
    for row, value in enumerate(values):
        if isinstance(value, bool | np.bool_):
            converted[row] = bool(value)
        elif isinstance(value, str) and (word := value.strip().casefold()) in TRUE_WORDS | FALSE_WORDS:
            converted[row] = word in TRUE_WORDS
        elif not _missing(value):
            errors.add(row, name, f'Expected true, false or null (or "yes"/"no" and the like); got {_describe(value)}.')
    return _objects(converted)


def _text_boolean(values: list[Any], name: str, errors: _Errors) -> np.ndarray:
    """Training held words ("yes", "N", "true"...) as text: only the same words mean anything to the encoder."""
    if set(map(type, values)) <= _STRING_TYPES:
        return _objects(values)
    converted = [None] * len(values)
    for row, value in enumerate(values):
        if isinstance(value, str):
            converted[row] = value
        elif not _missing(value):
            errors.add(
                row,
                name,
                f"Expected a string or null; got {_describe(value)}. This model learnt this column from text "
                '(such as "yes" and "no"): send the same text as its training data.',
            )
    return _objects(converted)


def _datetime(values: list[Any], name: str, errors: _Errors) -> np.ndarray:
    converted = [None] * len(values)
    for row, value in enumerate(values):
        if isinstance(value, str):
            try:
                datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                converted[row] = value
                continue
        elif _missing(value):
            continue
        errors.add(
            row,
            name,
            f'Expected an ISO 8601 date or date-time ("2025-01-31T12:00:00") or null; got {_describe(value)}.',
        )
    return _objects(converted)


def _objects(values: list[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)  # assigned, not np.array(values): that would infer str_ dtype
    array[:] = values
    return array


def _missing(value: Any) -> bool:
    """null, a field already reported missing, or a float NaN (only Python callers can send one)."""
    return value is None or value is _ABSENT or (isinstance(value, float | np.floating) and math.isnan(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(value: Any) -> str:
    """How a bad value is named in an error: its JSON type, and the value itself when it is short."""
    if value is True or value is False or isinstance(value, np.bool_):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'a string ("{_shorten(value)}")'
    if _is_number(value):
        infinite = isinstance(value, float | np.floating) and math.isinf(value)
        return "infinity" if infinite else f"a number ({_shorten(str(value))})"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------------------------------------------
# What is logged, and what training never saw
# ---------------------------------------------------------------------------------------------------


def logged_rows(columns: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """The parsed columns back as one JSON-safe dict per row: exactly what the model scored.

    The prediction log stores these rather than the body as sent, so the monitor compares the values the
    model saw ("yes" sent for a boolean is logged as true, 3 for a number as 3.0, a missing number as null).
    """
    lists = []
    for values in columns.values():
        plain = values.tolist()
        if values.dtype.kind == "f" and np.isnan(values).any():
            plain = [None if value != value else value for value in plain]  # NaN is not JSON: null
        lists.append(plain)
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*lists, strict=True)]


def unseen(columns: Mapping[str, np.ndarray], known: Mapping[str, frozenset[str]]) -> list[tuple[int, str, Any]]:
    """(row, input, value) for every value of an encoded input that training never had, in row order.

    `known` is what the encoder was fitted on, compared as the pipeline compares (str of the value); a
    missing value is imputed, so it is never unseen.
    """
    found = []
    for name, categories in known.items():
        values = columns.get(name)
        if values is None:
            continue
        for row, value in enumerate(values):
            # Object columns hold None for every missing value (NaN never survives parsing).
            if value is not None and (value if type(value) is str else str(value)) not in categories:
                found.append((row, name, value))
    found.sort(key=lambda item: item[0])
    return found


# ---------------------------------------------------------------------------------------------------
# The frame
# ---------------------------------------------------------------------------------------------------


def frame(columns: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One column per array (all of one length), without pandas' per-column inference.

    `pd.DataFrame(dict)` costs ~0.8 ms for a 1-row, 12-column request on pandas 3 (it infers a `str` dtype
    for every object column); `DataFrame._from_arrays` with checks off takes ~0.07 ms and keeps the arrays
    as they are, which is safe here because each one is a 1-D float64 or object array of the same length.
    It is private, so any failure falls back to the public constructor with object columns kept as object.
    """
    names, arrays = list(columns), list(columns.values())
    index = pd.RangeIndex(len(arrays[0]) if arrays else 0)
    labels = pd.Index(names, dtype=object)
    try:
        return pd.DataFrame._from_arrays(arrays, columns=labels, index=index, verify_integrity=False)
    except (AttributeError, TypeError):
        return _public_frame(arrays, labels, index)


def _public_frame(arrays: list[np.ndarray], columns: pd.Index, index: pd.RangeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(array, index=index, dtype=array.dtype, copy=False)
            for name, array in zip(columns, arrays, strict=True)
        },
        index=index,
        columns=columns,
    )


if __name__ == "__main__":  # python -m deployments.records: a rough timing of the hot path
    import timeit

    example = {
        "inputs": [{"name": f"n{i}", "kind": "numeric", "dtype": "float64"} for i in range(7)]
        + [{"name": f"c{i}", "kind": "categorical", "dtype": "str"} for i in range(3)]
        + [{"name": "b0", "kind": "boolean", "dtype": "bool"}, {"name": "b1", "kind": "boolean", "dtype": "str"}]
    }
    record = {f"n{i}": 1.5 * i for i in range(7)} | {f"c{i}": "x" for i in range(3)} | {"b0": True, "b1": "yes"}
    for count in (1, 1_000):
        batch = [dict(record) for _ in range(count)]
        runs = 2_000 if count == 1 else 200
        seconds = timeit.timeit(lambda batch=batch: parse(batch, example, max_rows=1_000), number=runs) / runs
        print(f"parse(): {count:>5,} row(s) x 12 columns: {seconds * 1e3:.3f} ms")
