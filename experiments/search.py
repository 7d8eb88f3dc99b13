"""The run-search language: `metrics.f1 > 0.8 and params.algorithm = "random_forest"`.

Pure (no Django): text in, a list of checked `Clause`s out; a selector turns them into a query.
Keywords, operator words and entity names are case-insensitive; keys keep their case.

    expression := clause ("and" clause)*          at most 20 clauses and 2,000 characters
    clause     := field operator value
    field      := entity "." key
    entity     := metrics | params | tags | attributes   (also metric, param, tag, attribute, attr, run)
    key        := bare | `backquoted` | "double-quoted"  bare: letters, digits, _ - / : and inner dots
    operator   := = | == | != | > | >= | < | <= | like | ilike | in | not in
    value      := number | string | "(" scalar ("," scalar)* ")"    (the list only after in / not in)
    number     := 3, -1.5, 1e-3 ...    string := '...' or "..." with \\' \\" \\\\ escapes

The grammar alone accepts `tags.team > 5`; `_allowed_ops` and `_coerce` then apply each entity's
rules, so a mistake comes back as a message naming the clause instead of a query matching nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Scalar = int | float | str
Value = Scalar | tuple[Scalar, ...]

MAX_CLAUSES = 20
MAX_LENGTH = 2000

ENTITIES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
STATUSES = ("running", "finished", "failed", "killed")
SOURCES = ("trained", "logged")
ORDERING_ATTRIBUTES = ("started_at", "ended_at", "name", "status", "id")

COMPARISON_OPS = ("=", "!=", ">", ">=", "<", "<=")
RANGE_OPS = (">", ">=", "<", "<=")
TEXT_OPS = ("=", "!=", "like", "ilike", "in", "not in")
CHOICE_OPS = ("=", "!=", "in", "not in")
INTEGER_OPS = (*COMPARISON_OPS, "in", "not in")
ALL_OPS = (*COMPARISON_OPS, "like", "ilike", "in", "not in")
LIST_OPS = ("in", "not in")

# attribute -> (operators, value kind); kinds are "text", "integer" or a tuple of allowed choices.
ATTRIBUTES: dict[str, tuple[tuple[str, ...], Any]] = {
    "status": (CHOICE_OPS, STATUSES),
    "name": (TEXT_OPS, "text"),
    "source": (CHOICE_OPS, SOURCES),
    "user": (TEXT_OPS, "text"),
    "id": (INTEGER_OPS, "integer"),
    "experiment": (INTEGER_OPS, "integer"),
    "dataset_version": (INTEGER_OPS, "integer"),
    "parent": (INTEGER_OPS, "integer"),
}

SYNTAX_HELP = """\
Search runs with clauses joined by "and" ("or" is not supported): <entity>.<key> <operator> <value>
Entities: metrics.*, params.*, tags.* and attributes.status, name, source, user, id, experiment, dataset_version, parent
Operators: = != > >= < <= like ilike in "not in". Quote text ('a' or "a"), not numbers; `backquote` odd keys.
Examples:
  metrics.f1 > 0.8 and params.algorithm = "random_forest"
  params.max_depth >= 5 and tags.team ilike "%vision%"
  attributes.status in ("finished", "failed") and metrics.`val loss` < 1.5e-1
  attributes.user = "alice" and attributes.experiment = 3
Sort with ordering=-metrics.f1 (descending), ordering=started_at, ordering=params.max_depth ..."""


class SearchError(ValueError):
    """A search or ordering the user must fix; str() is the message to show, `position` a 0-based offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class Clause:
    """One checked condition. `value` is a tuple for in / not in; metric values are always floats."""

    entity: str
    key: str
    op: str
    value: Value


@dataclass(frozen=True)
class Ordering:
    """What to sort runs by; plain attribute names come back with entity "attributes"."""

    entity: str
    key: str
    descending: bool = False


# --- tokenizer -----------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?![\w.])
  | (?P<word>[^\W\d][\w\-/:.]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<backquoted>`(?:[^`\\]|\\.)*`)
  | (?P<op>==|!=|>=|<=|=|>|<)
  | (?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)
_INTEGER_RE = re.compile(r"[-+]?\d+")
_LOOKS_NUMERIC_RE = re.compile(r"\s*[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?\s*")


@dataclass(frozen=True)
class _Token:
    kind: str  # number, word, string, backquoted, op, "(", ")", ",", end
    text: str  # as written
    value: Any  # int/float for numbers, the unescaped body for strings and backquoted keys
    pos: int
    end: int


def _unescape(body: str, quote: str) -> str:
    """Only \\<quote> and \\\\ are escapes, so Windows paths like 'C:\\data' survive as written."""
    return re.sub(r"\\(.)", lambda m: m.group(1) if m.group(1) in (quote, "\\") else m.group(0), body, flags=re.DOTALL)


MAX_LIKE_WILDCARDS = 4


def _like_pattern(pattern: str) -> str:
    """Runs of `%` mean the same as one; more than a few wildcards would make matching slow."""
    pattern = re.sub("%+", "%", pattern)
    if pattern.count("%") > MAX_LIKE_WILDCARDS:
        raise _Rejected(f"a like pattern may hold at most {MAX_LIKE_WILDCARDS} “%” wildcards.")
    return pattern


def _parse_number(text: str, pos: int) -> int | float:
    """Integers must fit in 64 bits and floats must be finite: the database stores nothing larger."""
    value = int(text) if _INTEGER_RE.fullmatch(text) else float(text)
    if (isinstance(value, float) and not math.isfinite(value)) or (
        isinstance(value, int) and not -(2**63) <= value < 2**63
    ):
        raise SearchError(f"Number “{text}” at position {pos} is out of range.", pos)
    return value


def _tokenize(text: str, start: int = 0) -> Iterator[_Token]:
    """Lazy, so a bad character late in the text does not hide the parser's earlier, clearer error."""
    pos = start
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "\"'`":
                raise SearchError(
                    f"Unterminated {'backquoted key' if char == '`' else 'string'} starting at position {pos}: "
                    f"add the closing {char}.",
                    pos,
                )
            if re.match(r"[-+]?\.?\d", text[pos:]):
                bad = re.match(r"[\w.+-]+", text[pos:]).group(0)
                raise SearchError(f"Malformed number “{bad}” at position {pos}.", pos)
            raise SearchError(f"Unexpected character “{char}” at position {pos}.", pos)
        kind, raw = match.lastgroup, match.group(0)
        if kind == "number":
            yield _Token(kind, raw, _parse_number(raw, pos), pos, match.end())
        elif kind in ("string", "backquoted"):
            yield _Token(kind, raw, _unescape(raw[1:-1], raw[0]), pos, match.end())
        elif kind == "punct":
            yield _Token(raw, raw, raw, pos, match.end())
        elif kind != "space":
            yield _Token(kind, raw, raw, pos, match.end())
        pos = match.end()
    while True:
        yield _Token("end", "", None, len(text), len(text))


def tokens(text: str) -> Iterator[_Token]:
    """The tokens of a search text (each with kind, text, value, pos, end), ending with kind "end"."""
    return _tokenize(text)


# --- entity rules ----------------------------------------------------------------------------------


def _either(names: Any) -> str:
    *rest, last = names
    return f"{', '.join(rest)} or {last}"


class _Rejected(Exception):
    """A rule broken inside one clause; the parser adds the clause text and position."""


def _allowed_ops(entity: str, key: str) -> tuple[str, ...]:
    if entity == "metrics":
        return COMPARISON_OPS
    if entity == "params":
        return ALL_OPS
    if entity == "tags":
        return TEXT_OPS
    return ATTRIBUTES[key][0]


def _as_number(token: _Token, noun: str) -> int | float:
    if token.kind == "number":
        return token.value
    if _LOOKS_NUMERIC_RE.fullmatch(token.value):
        raise _Rejected(f"{noun}: write {token.value.strip()} without quotes.")
    raise _Rejected(f"{noun}, not text ({token.text}).")


def _as_text(token: _Token, noun: str) -> str:
    if token.kind == "number":
        raise _Rejected(f'{noun}; quote it: "{token.text}".')
    return token.value


def _coerce(entity: str, key: str, op: str, token: _Token) -> Scalar:
    """Check one scalar against the entity's type rules and return the value to store."""
    if entity == "metrics":
        return float(_as_number(token, "metric values are numbers"))
    if entity == "params":
        if op in RANGE_OPS:
            return _as_number(token, f"“{op}” compares params as numbers")
        if op in ("like", "ilike"):
            return _like_pattern(_as_text(token, f"“{op}” patterns are text"))
        return token.value
    if entity == "tags":
        text = _as_text(token, "tag values are text")
        return _like_pattern(text) if op in ("like", "ilike") else text
    kind = ATTRIBUTES[key][1]
    if kind == "text":
        text = _as_text(token, f"attributes.{key} values are text")
        return _like_pattern(text) if op in ("like", "ilike") else text
    if kind == "integer":
        value = _as_number(token, f"attributes.{key} is a number")
        if not isinstance(value, int):
            raise _Rejected(f"attributes.{key} is a whole number, not {token.text}.")
        return value
    choice = token.value.lower() if token.kind != "number" else None
    if choice not in kind:
        raise _Rejected(f"attributes.{key} is one of {_either(kind)}, not {token.text}.")
    return choice


# --- parser ----------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent with one token of lookahead; each method consumes one grammar rule."""

    def __init__(self, text: str, start: int = 0) -> None:
        self.text = text
        self.tokens = _tokenize(text, start)
        self.current = next(self.tokens)
        self.previous: _Token | None = None

    def peek(self) -> _Token:
        return self.current

    def next(self) -> _Token:
        self.previous, self.current = self.current, next(self.tokens)
        return self.previous

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.lower() in words

    def last_end(self) -> int:
        return self.previous.end if self.previous else 0

    def expression(self) -> list[Clause]:
        clauses = [self.clause()]
        while self.peek().kind != "end":
            token = self.next()
            if token.kind == "word" and token.text.lower() == "or":
                raise SearchError(
                    f"Only “and” is supported between clauses; found “{token.text}” at position {token.pos}. "
                    "Run one search per alternative, or use in (…) for several values of one field.",
                    token.pos,
                )
            if token.kind != "word" or token.text.lower() != "and":
                raise SearchError(
                    f"Unexpected “{token.text}” at position {token.pos}: expected “and” or the end of the search.",
                    token.pos,
                )
            if self.peek().kind == "end":
                raise SearchError(f"Expected a clause after “{token.text}” at position {token.pos}.", token.pos)
            if len(clauses) == MAX_CLAUSES:
                raise SearchError(f"Too many clauses: at most {MAX_CLAUSES} are allowed.", token.pos)
            clauses.append(self.clause())
        return clauses

    def field(self) -> tuple[str, str, _Token]:
        """entity "." key. Attribute keys are lower-cased; the caller checks which ones it accepts."""
        token = self.next()
        if token.kind != "word":
            found = f"found “{token.text}”" if token.kind != "end" else "found nothing"
            raise SearchError(f"Expected a field such as metrics.f1 at position {token.pos}, {found}.", token.pos)
        head, dot, key = token.text.partition(".")
        if not dot:
            hint = f" (did you mean attributes.{head.lower()}?)" if head.lower() in ATTRIBUTES else ""
            raise SearchError(
                f"Expected a field such as metrics.f1 at position {token.pos}, found “{token.text}”{hint}.", token.pos
            )
        entity = ENTITIES.get(head.lower())
        if entity is None:
            raise SearchError(
                f"Unknown entity “{head}” at position {token.pos}: use metrics., params., tags. or attributes.",
                token.pos,
            )
        key_pos = token.pos + len(head) + 1
        if key.startswith(".") or key.endswith("."):
            raise SearchError(
                f"Key “{key}” at position {key_pos} starts or ends with a dot: backquote it, e.g. {head}.`{key}`.",
                key_pos,
            )
        if not key:
            quoted = self.peek()
            if quoted.kind not in ("string", "backquoted") or quoted.pos != token.end:
                raise SearchError(f"Expected a key after “{head}.” at position {key_pos}.", key_pos)
            key = self.next().value
            if not key:
                raise SearchError(f"Empty key after “{head}.” at position {key_pos}.", key_pos)
        return entity, (key.lower() if entity == "attributes" else key), token

    def operator(self, field_text: str) -> str:
        token = self.peek()
        if token.kind == "op":
            self.next()
            return "=" if token.text == "==" else token.text
        if self.at_word("like", "ilike", "in"):
            return self.next().text.lower()
        if self.at_word("not"):
            self.next()
            if not self.at_word("in"):
                after = self.peek()
                raise SearchError(f"Expected “in” after “{token.text}” at position {after.pos}.", after.pos)
            self.next()
            return "not in"
        raise SearchError(
            f"Expected an operator after “{field_text}” at position {token.pos}: "
            "use = != > >= < <= like ilike in or not in.",
            token.pos,
        )

    def scalar(self, after: str) -> _Token:
        token = self.next()
        if token.kind in ("number", "string"):
            return token
        if token.kind == "end":
            raise SearchError(f"Expected a value after “{after}” at position {token.pos}.", token.pos)
        if token.kind == "word" and token.text.lower() in ("null", "none"):
            raise SearchError(
                f"“{token.text}” at position {token.pos} is not supported: searches compare values, not missing ones.",
                token.pos,
            )
        if token.kind in ("word", "backquoted"):
            raise SearchError(
                f'Expected a value at position {token.pos}, found “{token.text}”: quote text, e.g. "{token.value}".',
                token.pos,
            )
        raise SearchError(f"Expected a value after “{after}” at position {token.pos}, found “{token.text}”.", token.pos)

    def values(self, op: str, prefix: str) -> list[_Token]:
        """One scalar, or for in / not in a non-empty parenthesised list."""
        opening = self.peek()
        if op not in LIST_OPS:
            if opening.kind == "(":
                raise SearchError(f"A list of values at position {opening.pos} needs “in” or “not in”.", opening.pos)
            return [self.scalar(prefix)]
        if opening.kind != "(":
            raise SearchError(
                f'Expected “(” after “{prefix}” at position {opening.pos}: write a list such as ("a", "b").',
                opening.pos,
            )
        self.next()
        if self.peek().kind == ")":
            raise SearchError(
                f"Empty list after “{prefix}” at position {opening.pos}: give at least one value.", opening.pos
            )
        items = [self.scalar("(")]
        while self.peek().kind == ",":
            self.next()
            items.append(self.scalar(","))
        closing = self.next()
        if closing.kind != ")":
            raise SearchError(
                f"Expected “,” or “)” in the list opened at position {opening.pos}, "
                f"found {f'“{closing.text}”' if closing.kind != 'end' else 'the end'} at position {closing.pos}.",
                closing.pos,
            )
        return items

    def clause(self) -> Clause:
        entity, key, field_token = self.field()
        start = field_token.pos
        field_text = self.text[start : self.last_end()]
        if entity == "attributes" and key not in ATTRIBUTES:
            key_pos = start + field_text.index(".") + 1
            raise SearchError(f"Unknown attribute “{key}” at position {key_pos}: use {_either(ATTRIBUTES)}.", key_pos)
        op = self.operator(field_text)
        tokens = self.values(op, self.text[start : self.last_end()])
        clause_text = self.text[start : self.last_end()]
        try:
            allowed = _allowed_ops(entity, key)
            if op not in allowed:
                subject = f"attributes.{key} supports" if entity == "attributes" else f"{entity} support"
                raise _Rejected(f"{subject} {', '.join(allowed)}, not “{op}”.")
            coerced = tuple(_coerce(entity, key, op, token) for token in tokens)
        except _Rejected as rejected:
            raise SearchError(f"Invalid clause “{clause_text}” at position {start}: {rejected}", start) from None
        return Clause(entity, key, op, coerced if op in LIST_OPS else coerced[0])


def parse(text: str) -> list[Clause]:
    """Parse a search; empty or blank text means no filter. Raises SearchError with a message to show."""
    if len(text) > MAX_LENGTH:
        raise SearchError(f"The search is too long: at most {MAX_LENGTH:,} characters, got {len(text):,}.")
    if not text.strip():
        return []
    return _Parser(text).expression()


def parse_ordering(text: str) -> Ordering:
    """Parse `ordering=`: `[-]entity.key` or a plain sortable attribute (`-started_at`)."""
    if len(text) > MAX_LENGTH:
        raise SearchError(f"The ordering is too long: at most {MAX_LENGTH:,} characters.")
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise SearchError("Empty ordering: use e.g. -metrics.f1 or started_at.")
    descending = text[start] == "-"
    parser = _Parser(text, start + 1 if descending else start)
    token = parser.peek()
    allowed = f"use {', '.join(ORDERING_ATTRIBUTES)}, metrics.<key>, params.<key> or tags.<key> (- for descending)"
    if token.kind == "word" and "." not in token.text:
        if token.text.lower() not in ORDERING_ATTRIBUTES:
            raise SearchError(f"Cannot order by “{token.text}” at position {token.pos}: {allowed}.", token.pos)
        parser.next()
        entity, key = "attributes", token.text.lower()
    else:
        entity, key, _ = parser.field()
        if entity == "attributes" and key not in ORDERING_ATTRIBUTES:
            raise SearchError(f"Cannot order by attributes.{key} at position {token.pos}: {allowed}.", token.pos)
    extra = parser.peek()
    if extra.kind != "end":
        raise SearchError(f"Unexpected “{extra.text}” at position {extra.pos}: order by a single field.", extra.pos)
    return Ordering(entity, key, descending)


def field_name(entity: str, key: str) -> str:
    """`entity.key` as the parser reads it back: keys that are not bare words go in backquotes."""
    bare = re.fullmatch(r"[A-Za-z0-9_\-/:]+(\.[A-Za-z0-9_\-/:]+)*", key) and not key[0].isdigit()
    return f"{entity}.{key}" if bare else f"{entity}.`{key}`"
