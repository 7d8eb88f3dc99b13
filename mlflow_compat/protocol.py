"""MLflow's wire conventions, pure: epoch-millisecond times, `[{key, value}]` lists, proto-JSON numbers.

The client reads responses with protobuf's JSON parser, so a non-finite double goes out as the string
"NaN", "Infinity" or "-Infinity" (plain JSON has no such numbers) and comes in the same way.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from mlflow_compat.errors import invalid

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z, the last instant Python's datetime holds

NON_FINITE_IN = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "inf": math.inf, "-inf": -math.inf}


def ms(moment: datetime | None) -> int | None:
    """A datetime as MLflow's epoch milliseconds (None stays None)."""
    return None if moment is None else (moment - EPOCH) // timedelta(milliseconds=1)  # exact, unlike float seconds


def from_ms(value: Any, field: str) -> datetime:
    """Epoch milliseconds (a number or a numeric string, as proto-JSON sends int64) as an aware datetime."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"{field} must be epoch milliseconds, got {value!r}.") from None
    if not 0 <= number <= MAX_MS:
        raise invalid(f"{field} must be epoch milliseconds between 0 and {MAX_MS}, got {number}.")
    return EPOCH + timedelta(milliseconds=number)


def integer(
    value: Any, field: str, *, default: int | None = None, low: int | None = None, high: int | None = None
) -> int:
    """An int64 field (a number or a numeric string), within [low, high] when given."""
    if value is None or value == "":
        if default is None:
            raise invalid(f"Missing value for required parameter '{field}'.")
        return default
    if isinstance(value, bool):
        raise invalid(f"{field} must be an integer, got {value!r}.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"{field} must be an integer, got {value!r}.") from None
    if isinstance(value, float) and value != number:
        raise invalid(f"{field} must be an integer, got {value!r}.")
    if (low is not None and number < low) or (high is not None and number > high):
        raise invalid(f"{field} must be between {low} and {high}, got {number}.")
    return number


def number(value: Any, field: str) -> float:
    """A double field: a JSON number, or "NaN"/"Infinity"/"-Infinity" as proto-JSON sends them."""
    if isinstance(value, bool) or value is None:
        raise invalid(f"{field} must be a number, got {value!r}.")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in NON_FINITE_IN:
            return NON_FINITE_IN[text]
        try:
            return float(text)
        except ValueError:
            pass
    raise invalid(f"{field} must be a number, got {value!r}.")


def wire_number(value: float | None) -> float | str | None:
    """A double for the response: finite as is, non-finite as proto-JSON's strings."""
    if value is None or math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def text(value: Any, field: str, *, required: bool = True, max_length: int | None = None) -> str:
    """A string field; NUL characters and lone surrogates are refused (the databases cannot store them)."""
    if value is None or value == "":
        if required:
            raise invalid(f"Missing value for required parameter '{field}'.")
        return ""
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        else:
            raise invalid(f"{field} must be a string, got {type(value).__name__}.")
    if "\x00" in value:
        raise invalid(f"{field} contains a NUL character.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"{field} is not valid UTF-8 text.") from None
    if max_length is not None and len(value) > max_length:
        raise invalid(f"{field} is longer than {max_length:,} characters.")
    return value


def key_values(items: Any, field: str) -> dict[str, str]:
    """MLflow's `[{key, value}]` list (tags, params) as a dict; later entries win, as MLflow applies them."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise invalid(f"{field} must be a list of {{key, value}} objects.")
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise invalid(f"{field}[{i}] must be a {{key, value}} object.")
        key = text(item.get("key"), f"{field}[{i}].key")
        out[key] = text(item.get("value"), f"{field}[{i}].value", required=False)
    return out


def kv(mapping: dict[str, Any]) -> list[dict[str, str]]:
    """A dict as MLflow's `[{key, value}]` list, values as strings."""
    return [{"key": k, "value": v if isinstance(v, str) else str(v)} for k, v in mapping.items()]


def page_token(value: Any) -> int:
    """The offset an opaque page token stands for (the site's tokens are offsets as decimal strings)."""
    if value in (None, ""):
        return 0
    try:
        offset = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid page token {str(value)[:40]!r}.") from None
    if not 0 <= offset < 2**53:  # an offset past any table, which databases cannot hold, is no token of ours
        raise invalid(f"Invalid page token {str(value)[:40]!r}.")
    return offset


def next_token(offset: int, returned: int, limit: int, total: int | None = None) -> str | None:
    """The token of the page after [offset, offset + returned), or None when this was the last."""
    if returned < limit or (total is not None and offset + returned >= total):
        return None
    return str(offset + returned)


def strings(value: Any, field: str, *, max_items: int = 1000) -> list[str]:
    """A repeated string field (a lone string, as a query string sends one, is a list of one)."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > max_items:
        raise invalid(f"{field} must be a list of at most {max_items:,} strings.")
    return [text(item, f"{field}[{i}]") for i, item in enumerate(value)]


def page(rows, offset: int, limit: int, name: str, shape) -> dict:
    """One page of a search answer: `{name: [shape(row), ...]}` plus `next_page_token` when more follow.

    `rows` is anything sliceable in its final order (a QuerySet is read once, one row past the page).
    """
    found = list(rows[offset : offset + limit + 1])
    body = {name: shape(found[:limit])}
    if len(found) > limit:
        body["next_page_token"] = str(offset + limit)
    return body
