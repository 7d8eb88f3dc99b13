"""MLflow's run filter and order_by, rewritten into the site's search language (`experiments.search`).

Pure. The site's parser does the checking and the site's query does the searching; this only renames what
MLflow spells differently (`attributes.run_name` → `attributes.name`, `run_id` → `id`, `user_id` → `user`,
``tags.`mlflow.runName` ``, `mlflow.parentRunId` and `mlflow.user` → the run's name, parent and user) and lifts out the time clauses (`attributes.start_time`,
`end_time`, in epoch ms) and the `IS [NOT] NULL` clauses on tags and params, which the view applies itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from experiments import search

RENAMED = {"run_name": "name", "run_id": "id", "user_id": "user", "status": "status"}
TIMES = {"start_time": "started_at", "created": "started_at", "end_time": "ended_at"}
ORDER_ATTRIBUTES = {
    "start_time": "started_at",
    "end_time": "ended_at",
    "run_name": "name",
    "status": "status",
    "run_id": "id",
    "created": "started_at",
}
# Tags the client sets and searches by that the site keeps as fields of the run (see entities.FIELD_TAGS).
FIELD_TAGS = {"mlflow.runName": "name", "mlflow.parentRunId": "parent", "mlflow.user": "user"}
ATTRIBUTE_PREFIXES = ("attributes.", "attribute.", "attr.", "run.")
TIME_OPS = {"=": "exact", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


@dataclass
class Translated:
    text: str  # for experiments.search.parse
    times: list[tuple[str, str, int]] = field(default_factory=list)  # (field, op, epoch ms)
    # (entity, key, is null): MLflow's `tags.k IS NULL`, `params.k IS NOT NULL`; entity "attributes" for the
    # tags the site keeps as fields (key "parent", "user" or "name")
    nulls: list[tuple[str, str, bool]] = field(default_factory=list)


def _clauses(tokens: list) -> list[list]:
    """Split tokens on top-level `and`."""
    clauses, current, depth = [], [], 0
    for token in tokens:
        if token.kind == "(":
            depth += 1
        elif token.kind == ")":
            depth -= 1
        if depth == 0 and token.kind == "word" and token.text.lower() == "and":
            clauses.append(current)
            current = []
        else:
            current.append(token)
    clauses.append(current)
    return clauses


def _field_of(token, following) -> tuple[str | None, str | None, int]:
    """(entity, key, tokens used) of a clause's field, MLflow-style (bare `run_name`, `tags."a.b"`)."""
    text = token.text
    lower = text.lower()
    for prefix in ATTRIBUTE_PREFIXES:
        if lower.startswith(prefix):
            return "attributes", lower[len(prefix) :], 1
    if "." not in text and lower in {*RENAMED, *TIMES}:
        return "attributes", lower, 1
    head, dot, key = text.partition(".")
    for entity, heads in (("tags", ("tags", "tag")), ("params", ("params", "param", "parameter", "parameters"))):
        if dot and head.lower() in heads:
            if not key and following and following.kind in ("string", "backquoted"):
                return entity, following.value, 2
            return entity, key, 1
    if dot and head.lower() in ("datasets", "dataset"):
        raise search.SearchError("Searching runs by datasets.* is not supported here.", token.pos)
    return None, None, 0


def _run_ids(tokens: list) -> str:
    """A clause's operator and values with MLflow's string run ids as the site's integers ('12' → 12)."""
    return " ".join(
        str(int(t.value)) if t.kind == "string" and t.value.strip().isascii() and t.value.strip().isdigit() else t.text
        for t in tokens
    )


def translate_filter(text: str) -> Translated:
    """The site's search text, time and null clauses for an MLflow filter string; raises search.SearchError."""
    if len(text or "") > search.MAX_LENGTH:
        raise search.SearchError(f"The filter is too long: at most {search.MAX_LENGTH:,} characters.")
    if not (text or "").strip():
        return Translated("")
    tokens = []
    for token in search.tokens(text):
        if token.kind == "end":
            break
        tokens.append(token)
    out, times, nulls = [], [], []
    for clause in _clauses(tokens):
        if not clause:
            raise search.SearchError("Empty clause around “and”.")
        entity, key, used = _field_of(clause[0], clause[1] if len(clause) > 1 else None)
        rest = clause[used:]
        tail = text[rest[0].pos : rest[-1].end] if rest else ""
        words = [t.text.upper() for t in rest]
        if words[-2:] == ["IS", "NULL"] or words[-3:] == ["IS", "NOT", "NULL"]:
            if entity not in ("tags", "params") or len(words) > 3:
                raise search.SearchError("IS NULL and IS NOT NULL work on tags and params only, as in MLflow.")
            if entity == "tags" and key in FIELD_TAGS:
                entity, key = "attributes", FIELD_TAGS[key]
            nulls.append((entity, key, len(words) == 2))
            continue
        if entity == "attributes" and key in TIMES:
            if len(rest) != 2 or rest[0].kind != "op" or rest[1].kind != "number" or not isinstance(rest[1].value, int):
                raise search.SearchError(
                    f"Compare attributes.{key} with a number of epoch milliseconds, e.g. attributes.{key} > 1700000000000."
                )
            op = "=" if rest[0].text == "==" else rest[0].text
            times.append((TIMES[key], op, rest[1].value))
            continue
        if entity == "attributes" and key in RENAMED:
            site_key = RENAMED[key]
            out.append(f"attributes.{site_key} {_run_ids(rest) if site_key == 'id' else tail}")
        elif entity == "attributes" and key == "lifecycle_stage":
            continue  # every run on the site is active
        elif entity == "tags" and key in FIELD_TAGS:
            site_key = FIELD_TAGS[key]
            out.append(f"attributes.{site_key} {_run_ids(rest) if site_key == 'parent' else tail}")
            if site_key == "parent" and rest and rest[0].text.lower() in ("!=", "not"):
                out.append("attributes.parent > 0")  # a run without the tag (no parent) matches no clause, as in MLflow
        elif entity == "tags":
            out.append(f"{search.field_name('tags', key)} {tail}")
        elif entity == "attributes":
            out.append(f"attributes.{key} {tail}")  # the site's parser names what it does not know
        else:  # metrics and params: the same in both languages
            out.append(text[clause[0].pos : clause[-1].end])
    return Translated(" and ".join(out), times, nulls)


MAX_ORDER_BY = 10


def translate_order(items: list[str]) -> list[str]:
    """The site's ordering texts (for `experiments.search.parse_ordering`) for MLflow's order_by list, in order."""
    if len(items) > MAX_ORDER_BY:
        raise search.SearchError(f"Order runs by at most {MAX_ORDER_BY} fields.")
    out = []
    for item in items:
        words = item.strip().split()
        if not words:
            continue
        direction = "ASC"
        if len(words) > 1 and words[-1].upper() in ("ASC", "DESC"):
            direction = words[-1].upper()
            words = words[:-1]
        name = " ".join(words)
        lower = name.lower()
        minus = "-" if direction == "DESC" else ""
        for prefix in ("", *ATTRIBUTE_PREFIXES):
            if lower.startswith(prefix) and lower[len(prefix) :] in ORDER_ATTRIBUTES:
                out.append(minus + ORDER_ATTRIBUTES[lower[len(prefix) :]])
                break
        else:
            out.append(minus + name)
    return out
