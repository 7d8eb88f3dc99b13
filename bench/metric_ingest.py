"""Metric ingest through the batch API into PostgreSQL: ours against MLflow's tracking server.

Usage:
    .venv/bin/python bench/metric_ingest.py [--points 100000] [--database-url postgres://postgres@127.0.0.1:5432/postgres]

Both servers run on 127.0.0.1 with one worker process and the same PostgreSQL server (each in a
fresh database of its own). Ours: gunicorn serving this site, 10,000 points per
`POST /api/runs/{id}/log-batch/`. MLflow: `mlflow server --workers 1` from the mlflow client's own
virtual environment (MLFLOW_VENV, default .venv-mlflow, built from requirements-mlflow.txt when missing), its client's
`log_batch` with at most 1,000 metrics per call (its limit). Each client sends the same points
(10 metric keys, increasing steps) over HTTP from a separate process, and the script prints the
points per second of both and the ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

OUR_CLIENT = r"""
import json, sys, time, urllib.request
base, token, run_id, points = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
batch = 10_000
bodies = []
for start in range(0, points, batch):
    metrics = [{"key": f"m{i % 10}", "value": float(i), "step": i, "timestamp": 1_700_000_000_000 + i}
               for i in range(start, min(points, start + batch))]
    bodies.append(json.dumps({"metrics": metrics}).encode())
began = time.perf_counter()
for body in bodies:
    request = urllib.request.Request(f"{base}/api/runs/{run_id}/log-batch/", data=body, method="POST",
                                     headers={"Authorization": f"Token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200, response.read()
print(time.perf_counter() - began)
"""

MLFLOW_CLIENT = r"""
import sys, time
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric
uri, points = sys.argv[1], int(sys.argv[2])
client = MlflowClient(tracking_uri=uri)
experiment = client.create_experiment(f"bench-{time.time()}")
run = client.create_run(experiment)
batches = []
for start in range(0, points, 1000):
    batches.append([Metric(f"m{i % 10}", float(i), 1_700_000_000_000 + i, i) for i in range(start, min(points, start + 1000))])
began = time.perf_counter()
for metrics in batches:
    client.log_batch(run.info.run_id, metrics=metrics)
print(time.perf_counter() - began)
"""


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def fresh_database(server_url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def mlflow_venv() -> Path:
    """The mlflow client's own virtual environment (MLFLOW_VENV, default .venv-mlflow), built from
    requirements-mlflow.txt when missing (as `make .venv-mlflow/.installed` does)."""
    venv = Path(os.environ.get("MLFLOW_VENV") or ROOT / ".venv-mlflow")
    venv = venv if venv.is_absolute() else ROOT / venv
    if not (venv / "bin" / "mlflow").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([venv / "bin" / "pip", "install", "-q", "-r", ROOT / "requirements-mlflow.txt"], check=True)
    return venv


SITE_SETUP = r"""
import django; django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from experiments import services
from mlops_site import roles
from mlops_site.services import create_api_token
user = get_user_model().objects.create_user("bench")
user.groups.add(Group.objects.get(name=roles.DATA_SCIENTIST))
user = get_user_model().objects.get(pk=user.pk)
run = services.create_run(services.create_experiment(name="bench", actor=user), actor=user)
print(create_api_token(user, name="bench")[1], run.pk)
"""


@contextmanager
def site_server(server_url: str, port: int, database: str = "bench_ours") -> Iterator[tuple[str, str, str]]:
    """This site under gunicorn (one worker) on a fresh database: (base URL, a data scientist's token, a run id)."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database(server_url, database),
        "DATA_DIR": str(tmp),
        "HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "mlops_site.settings",
    }
    token, run_id = subprocess.run(
        [PYTHON, "-c", SITE_SETUP], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()[-2:]
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "mlops_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-control-socket",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", 60)
        yield f"http://127.0.0.1:{port}", token, run_id
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def mlflow_server(server_url: str, port: int, venv: Path, database: str = "bench_mlflow") -> Iterator[str]:
    """`mlflow server --workers 1` on a fresh PostgreSQL database: its base URL."""
    backend = fresh_database(server_url, database).replace("postgres://", "postgresql://", 1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    server = subprocess.Popen(
        [
            venv / "bin" / "mlflow",
            "server",
            "--backend-store-uri",
            backend,
            "--default-artifact-root",
            str(tmp),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", 180)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def ours(server_url: str, points: int, port: int) -> float:
    with site_server(server_url, port) as (base, token, run_id):
        out = subprocess.run(
            [PYTHON, "-c", OUR_CLIENT, base, token, run_id, str(points)], capture_output=True, text=True, check=True
        ).stdout
        return float(out.split()[-1])


def mlflow(server_url: str, points: int, port: int) -> float:
    venv = mlflow_venv()
    with mlflow_server(server_url, port, venv) as base:
        out = subprocess.run(
            [venv / "bin" / "python", "-c", MLFLOW_CLIENT, base, str(points)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    ours_s = ours(args.database_url, args.points, 8311)
    print(
        f"ours    {args.points:,} points in {ours_s:6.2f} s = {args.points / ours_s:10,.0f} points/s  (10,000 per call)"
    )
    mlflow_s = mlflow(args.database_url, args.points, 8312)
    print(
        f"MLflow  {args.points:,} points in {mlflow_s:6.2f} s = {args.points / mlflow_s:10,.0f} points/s  (1,000 per call)"
    )
    print(f"ratio   ours / MLflow: {mlflow_s / ours_s:.1f}×  (goal ≥ 5×; target ≥ 50,000 points/s)")


if __name__ == "__main__":
    main()
