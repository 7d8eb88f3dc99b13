"""Modules imported on first use, so a process that never needs the ML stack never loads it.

pandas, scipy, scikit-learn and skops together are ~300 MB per process and 3 s to import on a small
machine. Web processes load the URLconf, and with it every view, service and schema module; most pages
and API calls never touch a DataFrame or an estimator. A module that needs one of those in some of its
functions names it with `module(...)` instead of a top-level import:

    pd = lazy.module("pandas")
    training = lazy.module("experiments.training")

The real import happens at the first attribute access, through `importlib.import_module`, whose
per-module locks make concurrent first uses (gunicorn threads) import it once. `tests/test_lazy_imports.py`
keeps the URLconf, the system checks and the light pages free of the heavy modules.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands for the module `name` and imports it on first attribute access."""

    __slots__ = ("_module", "_name")

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def module(name: str) -> LazyModule:
    return LazyModule(name)
