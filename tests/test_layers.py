"""Apps import only from the layers below them (DESIGN.md): mlops_site <- experiments <- registry <- deployments <- monitoring <- mlflow_compat."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["mlops_site", "experiments", "registry", "deployments", "monitoring", "mlflow_compat"]
# Only these modules of mlops_site may name the apps (as strings or via include()).
KERNEL_EXEMPT = {"settings.py", "urls.py"}
# Layers above may use these modules of a lower app, never its views, api or tasks...
LOWER_ALLOWED = {"models", "services", "selectors", "signals", "querysets", "errors", "filters"}
# ...and any of its pure modules: computation that touches no database (experiments.metrics, .cleaning).
NOT_PURE = ("django.db", "django.contrib", "django.http", "django.shortcuts", "rest_framework")
NOT_PURE_MODULES = {"models", "services", "selectors", "views", "api", "tasks", "signals", "filters", "forms"}


def is_pure(app: str, module: str) -> bool:
    """A module of `app` that imports no ORM, request or DRF code, and none of the platform's impure modules."""
    path = ROOT / app / f"{module}.py"
    if not path.is_file() or module in NOT_PURE_MODULES:
        return False
    for name in imports_of(path):
        parts = name.split(".")
        if name.startswith(NOT_PURE) or (parts[0] in LAYERS and len(parts) > 1 and parts[1] in NOT_PURE_MODULES):
            return False
    return True


def imports_of(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for alias in node.names:
                yield f"{node.module}.{alias.name}"


def python_files(app: str):
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


@pytest.mark.parametrize("app", LAYERS)
def test_no_upward_imports(app):
    rank = LAYERS.index(app)
    problems = []
    for path in python_files(app):
        if app == "mlops_site" and path.name in KERNEL_EXEMPT:
            continue
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in LAYERS and LAYERS.index(top) > rank:
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not problems, "upward imports:\n" + "\n".join(problems)


@pytest.mark.parametrize("app", LAYERS[1:])
def test_lower_apps_used_only_through_their_public_modules(app):
    rank = LAYERS.index(app)
    problems = []
    for path in python_files(app):
        for name in imports_of(path):
            parts = name.split(".")
            if (
                parts[0] in LAYERS[1:rank]
                and len(parts) > 1
                and parts[1] not in LOWER_ALLOWED
                and not is_pure(parts[0], parts[1])
            ):
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not problems, "\n".join(problems)


def test_pure_modules_are_told_apart():
    assert is_pure("experiments", "metrics")
    assert not is_pure("experiments", "selectors")
    assert not is_pure("experiments", "models")


def test_scanner_sees_imports():
    assert "mlops_site.models" in set(imports_of(ROOT / "mlops_site" / "audit.py"))
