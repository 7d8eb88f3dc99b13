"""What a request may carry, checked once for every API view: the body parsers and the query-string check.

Why here: PostgreSQL refuses NUL (U+0000) in text and jsonb, neither database can encode a lone
surrogate (U+D800–U+DFFF, which JSON's `\\ud800` escape produces), a JSON number like `1e400` or
`10**400` overflows floats and 64-bit integers, and JSON nested thousands deep overflows Python's stack.
Each reached the database or a recursive call and answered 500. Refusing them while parsing gives one
400 that names the field (`records[0].age`), whatever view the body was for, before anything is written.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.utils.json import strict_constant

__all__ = [
    "MAX_DEPTH",
    "BodyTooLarge",
    "SafeFormParser",
    "SafeJSONParser",
    "SafeMultiPartParser",
    "as_utc",
    "check_value",
    "query_id",
    "text_problem",
]

MAX_DEPTH = 64  # containers inside containers; the deepest body the API takes (a cleaning recipe) is 4
MAX_INT = 2**63 - 1  # the databases' bigint
_MAX_ERRORS = 20
_SURROGATE = re.compile("[\ud800-\udfff]")
# Escapes that decode to NUL or to half of a surrogate pair, and numbers too long to be ordinary:
# only a body holding one of these is walked value by value to name the field.
_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


def text_problem(text: str) -> str | None:
    """Why this text cannot be stored, or None."""
    if "\x00" in text:
        return "NUL characters (\\u0000) are not allowed."
    if not text.isascii() and _SURROGATE.search(text):
        return "Unpaired surrogate characters (\\ud800–\\udfff) are not allowed."
    return None


def _number_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "A number too large to store (at most about 1.8e308)."
    if isinstance(value, int) and not isinstance(value, bool) and not -MAX_INT - 1 <= value <= MAX_INT:
        return f"An integer out of range (at most {MAX_INT}); send large numbers as decimals."
    return None


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_value(data: Any, root: str = "") -> dict[str, list[str]]:
    """Every string (keys included) and number in `data` that the database cannot store, by path.

    Iterative, so a deep value cannot overflow the stack while it is being checked.
    """
    errors: dict[str, list[str]] = {}
    stack: list[tuple[str, Any]] = [(root, data)]
    while stack and len(errors) < _MAX_ERRORS:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
        elif isinstance(value, dict):
            problem = None
            for key, item in value.items():
                key_problem = text_problem(key) if isinstance(key, str) else None
                if key_problem:
                    errors[_join(path, repr(key)[1:-1])] = [f"Field name: {key_problem}"]
                else:
                    stack.append((_join(path, key), item))
        elif isinstance(value, list):
            problem = None
            stack.extend((_join(path, index), item) for index, item in enumerate(value))
        else:
            problem = _number_problem(value)
        if problem:
            errors[path or "non_field_errors"] = [problem]
    return errors


def _too_deep(data: Any) -> bool:
    """Whether containers nest more than MAX_DEPTH levels: level by level, containers only, no recursion."""
    level, depth = [data], 1
    while level:
        if depth > MAX_DEPTH:
            return True
        below = []
        for value in level:
            for child in value.values() if type(value) is dict else value:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level, depth = below, depth + 1
    return False


def _suspect(raw: bytes) -> bool:
    """Whether the raw body may hold what `check_value` refuses; most bodies are cleared here unparsed.

    An escape for NUL or half a surrogate pair, a run of 19+ digits (an integer past 2**63, or a long
    fraction) or an exponent of 3+ digits (1e400). numpy scans a 3 MB predict batch in a few ms, where a
    regex alternation took ~100 ms.
    """
    if b"\\u" in raw and _ESCAPE.search(raw):
        return True
    data = np.frombuffer(raw, dtype=np.uint8)
    digit = (data >= 48) & (data <= 57)
    if len(data) >= 19:
        runs = np.cumsum(digit, dtype=np.int64)
        if (runs[18:] - np.concatenate(([0], runs[:-19])) == 19).any():
            return True
    exponent = np.flatnonzero((data == 101) | (data == 69))  # e, E
    exponent = exponent[exponent + 3 < len(data)]
    if len(exponent):
        start = exponent + 1 + (data[np.minimum(exponent + 1, len(data) - 1)] == 43)  # skip a "+"
        start = start[start + 2 < len(data)]
        return bool((digit[start] & digit[start + 1] & digit[start + 2]).any())
    return False


def max_body_bytes() -> int:
    """The largest body any API view reads into memory: the same limit as Django's own check."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or settings.SERVING_MAX_BODY_MB * 1024 * 1024


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, refusing bodies the platform cannot store or walk (see the module docstring)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The body is larger than {limit / 1024 / 1024:.0f} MB; send less per request.")
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise exceptions.ParseError(f"JSON parse error - the body is not valid {encoding}: {exc}") from None
        too_deep = exceptions.ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.")
        try:
            data = json.loads(text, parse_constant=strict_constant if self.strict else None)
        except RecursionError:  # ~1,000 levels: the C decoder's own guard
            raise too_deep from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        # Below the decoder's guard a deep value still overflows the stack later (serializers, json.dumps).
        if text.count("[") + text.count("{") > MAX_DEPTH and type(data) in (dict, list) and _too_deep(data):
            raise too_deep
        utf8 = encoding.lower().replace("-", "").replace("_", "") in ("utf8", "ascii", "usascii")
        if (not utf8 or _suspect(raw)) and (errors := check_value(data)):
            raise exceptions.ValidationError(errors)
        return data


def _check_form(data) -> None:
    errors = {}
    for key, values in data.lists():
        for value in [key, *values]:
            if isinstance(value, str) and (problem := text_problem(value)):
                errors[repr(key)[1:-1]] = [problem]
    if errors:
        raise exceptions.ValidationError(errors)


class SafeFormParser(FormParser):
    """Form bodies with the same text check as JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_form(data)
        return data


class SafeMultiPartParser(MultiPartParser):
    """Multipart bodies (uploads): the text fields and the file names get the same check as JSON."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        _check_form(parsed.data)
        for key, upload in parsed.files.items():
            if problem := text_problem(upload.name or ""):
                raise exceptions.ValidationError({key: [f"File name: {problem}"]})
        return parsed


def query_id(value: str | None) -> int | None:
    """A query-string id (`?monitor=12`) as an int, or None when it is not one the database could hold.

    `str.isdigit()` accepts "¹" and "٣", which `int()` then refuses or reads, and 30 digits overflow
    SQLite's integer: only ASCII digits up to the bigint maximum pass.
    """
    if not value or not value.isascii() or not value.isdigit() or len(value) > 19 or int(value) > MAX_INT:
        return None
    return int(value)


def as_utc(value: datetime) -> datetime | None:
    """An aware time moved to UTC, or None when it cannot be.

    Python takes UTC offsets up to ±23:59 and PostgreSQL only up to ±15:59, so
    `1041-03-21T02:41:13-18:34` answered 500 there; in UTC the offset is gone. A time near year 1 or
    9999 can fall outside the calendar when moved: None.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
