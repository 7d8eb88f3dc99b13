"""The real mlflow client against pytest-django's live server: `run_client(code) -> dict`.

The client lives in its own virtual environment (`.venv-mlflow`, or MLFLOW_VENV; `make test` builds it from
requirements-mlflow.txt), because the site never imports mlflow. Each snippet runs in a subprocess of that
Python with MLFLOW_TRACKING_URI pointing at the live server and a data scientist's personal token, and reports
back through `emit(**values)`, one JSON object. A subprocess costs about 2 s of mlflow import, so a test
batches many client calls into one snippet. The live server answers from another thread: what a test builds
must be committed, so these tests use the transactional database (the live server asks for it).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from mlops_site import roles, services
from tests.builders import make_user

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_VENV = Path(os.environ.get("MLFLOW_VENV") or ROOT / ".venv-mlflow")
if not MLFLOW_VENV.is_absolute():
    MLFLOW_VENV = ROOT / MLFLOW_VENV
MLFLOW_PYTHON = MLFLOW_VENV / "bin" / "python"
TIMEOUT = 300

# Run before each snippet: `emit` hands the results back, `code_of` runs a call and returns the MLflow error
# code it raised (None when it succeeded), as the client's own callers branch on it.
PRELUDE = """
import json as _json, os as _os
import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException, RestException


def emit(**values):
    with open(_os.environ["CLIENT_RESULT"], "w") as _out:
        _json.dump(values, _out, default=str)


def code_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except MlflowException as exc:
        return exc.error_code
    return None
"""


def pytest_collection_modifyitems(config, items):
    if MLFLOW_PYTHON.exists():
        return
    if os.environ.get("REQUIRE_MLFLOW"):
        raise pytest.UsageError(f"REQUIRE_MLFLOW is set but {MLFLOW_PYTHON} is missing (make .venv-mlflow/.installed)")
    skip = pytest.mark.skip(reason=f"{MLFLOW_PYTHON} missing: `make .venv-mlflow/.installed` builds the mlflow client")
    for item in items:
        if "mlflow_client" in item.keywords:
            item.add_marker(skip)


class ClientError(AssertionError):
    """The snippet failed: its traceback and the client's log are the message."""


class MlflowClientRunner:
    """Runs snippets of real-client code against the live server, as `user` with their personal `token`."""

    def __init__(self, url: str, user, token: str, workdir: Path):
        self.url, self.user, self.token, self.workdir = url, user, token, workdir
        self.calls = 0

    def env(self, **overrides) -> dict[str, str]:
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MLFLOW_", "DJANGO_", "DATABASE_URL", "PYTHON"))
        }
        env = {
            **base,
            "HOME": str(self.workdir),  # nothing the client caches lands in the real home
            "MLFLOW_TRACKING_URI": self.url,
            "MLFLOW_TRACKING_TOKEN": self.token,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": "60",
            "GIT_PYTHON_REFRESH": "quiet",
        }
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = str(value)
        return env

    def __call__(self, code: str, **env) -> dict:
        """Run `code` (after PRELUDE) and return what it emitted; keyword arguments set or (None) unset
        environment variables, e.g. MLFLOW_TRACKING_TOKEN=None."""
        self.calls += 1
        script = self.workdir / f"snippet_{self.calls}.py"
        result = self.workdir / f"result_{self.calls}.json"
        script.write_text(PRELUDE + "\n" + textwrap.dedent(code))
        process = subprocess.run(
            [str(MLFLOW_PYTHON), str(script)],
            cwd=self.workdir,  # where a client falling back to local files would write them
            env={**self.env(**env), "CLIENT_RESULT": str(result)},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if process.returncode != 0 or not result.exists():
            raise ClientError(
                f"mlflow client snippet exited {process.returncode}\n--- stdout\n{process.stdout[-4000:]}"
                f"\n--- stderr\n{process.stderr[-8000:]}"
            )
        return json.loads(result.read_text())


@pytest.fixture
def client_user(transactional_db):
    """The data scientist the client logs in as."""
    return make_user("client-sci", roles.DATA_SCIENTIST)


@pytest.fixture
def run_client(live_server, client_user, tmp_path) -> MlflowClientRunner:
    _, key = services.create_api_token(client_user, name="mlflow client")
    workdir = tmp_path / "mlflow-client"
    workdir.mkdir()
    return MlflowClientRunner(live_server.url, client_user, key, workdir)
