"""A web process does not load the ML stack until a request needs it, and the supervisor does not load Django.

Run in fresh interpreters: this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "pandas", "pyarrow", "skops", "onnxruntime")


def _imported_after(code: str, tmp_path) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} + ('django',))))"
    env = {**os.environ, "DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "mlops_site.settings"}
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_the_wsgi_app_with_its_urlconf_and_the_system_checks_load_no_ml_stack(tmp_path):
    loaded = _imported_after("import mlops_site.wsgi\nfrom django.core import checks\nchecks.run_checks()", tmp_path)
    assert "django" in loaded  # the probe does see modules
    assert [m for m in loaded if m.split(".")[0] in HEAVY] == []


def test_the_supervisor_loads_no_django(tmp_path):
    loaded = _imported_after("import mlops_site.supervisor", tmp_path)
    assert loaded == []


def test_a_lazy_module_imports_on_first_use_only(tmp_path):
    loaded = _imported_after(
        "from mlops_site import lazy\npd = lazy.module('pandas')\nassert 'not imported' in repr(pd)", tmp_path
    )
    assert "pandas" not in loaded
    loaded = _imported_after("from mlops_site import lazy\npd = lazy.module('pandas')\npd.DataFrame", tmp_path)
    assert "pandas" in loaded
