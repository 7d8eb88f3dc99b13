"""The OpenAPI schema keeps every request and response shape of the last release (issue 15's refactor).

`openapi_before.json` is the schema as it was before the refactor. Every operation, parameter,
request body and response in it must still be there with the same shape (component names and
descriptions may change: $refs are resolved before comparing). Anything new must be listed in
ADDITIONS with the reason, so a change of shape cannot slip in unnoticed.
"""

import json
from importlib import import_module
from pathlib import Path

from drf_spectacular.generators import SchemaGenerator

BEFORE = Path(__file__).with_name("openapi_before.json")
METHODS = ("get", "post", "put", "patch", "delete")
IGNORED_KEYS = {"description", "title", "examples", "example", "operationId", "tags", "summary"}

# Documented additions, one file per app so parallel work does not collide: "<METHOD> <path> <what>" -> why.
ADDITIONS: dict[str, str] = {}
for _app in ("kernel", "monitoring", "deployments", "registry", "experiments"):
    ADDITIONS |= import_module(f"tests.api.schema_additions.{_app}").ADDITIONS


# drf-spectacular bounds integer fields by the database's column size (int32 on PostgreSQL, int64 on
# SQLite); the baseline was generated on SQLite, so a bound at either limit compares as "the column's limit".
COLUMN_LIMITS = {2**31 - 1, -(2**31), 2**63 - 1, -(2**63)}


def _resolve(node, components, seen=()):
    if isinstance(node, dict) and node.get("type") == "integer":
        node = {k: "column limit" if k in ("maximum", "minimum") and v in COLUMN_LIMITS else v for k, v in node.items()}
        if node.get("format") == "int64":  # the same column, marked 64-bit on SQLite only
            node.pop("format")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            if name in seen:  # recursive shapes compare by name
                return {"$recursive": name}
            return _resolve(components[name], components, (*seen, name))
        return {k: _resolve(v, components, seen) for k, v in node.items() if k not in IGNORED_KEYS}
    if isinstance(node, list):
        return [_resolve(item, components, seen) for item in node]
    return node


def _operations(schema: dict) -> dict[str, dict]:
    components = schema.get("components", {}).get("schemas", {})
    operations = {}
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            operations[f"{method.upper()} {path}"] = {
                "parameters": {f"{p['in']}:{p['name']}": _resolve(p, components) for p in op.get("parameters", [])},
                "request": _resolve(op.get("requestBody", {}).get("content", {}), components),
                "request_required": op.get("requestBody", {}).get("required", False),
                "responses": {
                    status: _resolve(response.get("content", {}), components)
                    for status, response in op.get("responses", {}).items()
                },
                "security": op.get("security"),
            }
    return operations


def _shape_differences(path: str, before, after) -> list[str]:
    """Where `after` differs from `before`; a property or enum value only in `after` is an addition."""
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in before.keys() | after.keys():
            where = f"{path}.{key}"
            if key not in after:
                found.append(f"{where} removed")
            elif key not in before:
                found.append(f"{where} added")
            else:
                found.extend(_shape_differences(where, before[key], after[key]))
        return found
    if isinstance(before, list) and isinstance(after, list) and path.endswith((".enum", ".required", ".allOf")):
        removed = [item for item in before if item not in after]
        added = [item for item in after if item not in before]
        return [f"{path} lost {item!r}" for item in removed] + [f"{path} gained {item!r}" for item in added]
    if before != after:
        return [f"{path} changed"]
    return []


def schema_differences(before: dict, after: dict) -> list[str]:
    old, new = _operations(before), _operations(after)
    found = [f"{name} removed" for name in old.keys() - new.keys()]
    found += [f"{name} added" for name in new.keys() - old.keys()]
    for name in old.keys() & new.keys():
        found.extend(_shape_differences(name, old[name], new[name]))
    return sorted(found)


def current_schema() -> dict:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(generated, default=str))


def test_schema_keeps_every_shape_or_documents_the_addition():
    differences = schema_differences(json.loads(BEFORE.read_text()), current_schema())
    undocumented = [d for d in differences if d not in ADDITIONS]
    assert not undocumented, "undocumented schema changes:\n" + "\n".join(undocumented)
    stale = [d for d in ADDITIONS if d not in differences]
    assert not stale, "ADDITIONS lists changes the schema no longer has:\n" + "\n".join(stale)


def test_the_comparison_sees_a_changed_shape():
    before = json.loads(BEFORE.read_text())
    after = json.loads(BEFORE.read_text())
    first_path = next(iter(after["paths"]))
    method = next(m for m in METHODS if m in after["paths"][first_path])
    after["paths"][first_path][method].setdefault("parameters", []).append(
        {"name": "extra", "in": "query", "schema": {"type": "string"}}
    )
    del after["components"]["schemas"][next(iter(after["components"]["schemas"]))]["type"]
    differences = schema_differences(before, after)
    assert f"{method.upper()} {first_path}.parameters.query:extra added" in differences
    assert any(d.endswith(".type removed") for d in differences)
