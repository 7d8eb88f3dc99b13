"""Server time of the run list (10,000 runs × 10 params × 10 metrics) and the compare page (20 × 10,000 steps).

Usage:
    .venv/bin/python bench/run_pages.py [--backend postgresql|sqlite|both] [--runs 10000] [--repeat 15]

For each backend, in a fresh database (PostgreSQL: `bench_runs` on BENCH_POSTGRES_URL, default
postgres://postgres@127.0.0.1:5432/test; SQLite: a file in a temporary folder), the script loads
10,000 runs with 10 params and 10 metrics each, and 20 more runs with a 10,000-step `loss` history,
then times full requests through Django's test client (URL routing, middleware, queries, template
rendering or JSON; no network), with DEBUG off:

  * the run list page filtered by a search expression and sorted by a metric;
  * the same through the API (`GET /api/runs/?search=…&ordering=-metrics.m1`);
  * the compare page for the 20 long-history runs (history overlay downsampled on the server).

It prints the median and 95th percentile of `--repeat` requests after one warm-up, and the number of
SQL queries each request made.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SEARCH = "metrics.m0 > 0.5 and params.p0 != 'p0-3'"


def fresh_postgres(server_url: str, name: str = "bench_runs") -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def load(runs: int, long_runs: int, steps: int):
    """Bulk-load the runs; returns (user, experiment id, ids of the long-history runs)."""
    import random
    from datetime import UTC, datetime, timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from experiments import metric_store
    from experiments.models import Experiment, LatestMetric, Metric, Param, Run
    from mlops_site import roles

    user = get_user_model().objects.create_user("bench")
    user.groups.add(Group.objects.get(name=roles.DATA_SCIENTIST))
    experiment = Experiment.objects.create(name="bench", owner=user)
    rng = random.Random(0)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = Run.objects.bulk_create(
        [
            Run(
                experiment=experiment,
                name=f"run {i}",
                status=Run.Status.FINISHED,
                user=user,
                started_at=start + timedelta(seconds=i),
                ended_at=start + timedelta(seconds=i + 60),
                tags={"team": rng.choice(["vision", "nlp", "tabular"])},
            )
            for i in range(runs + long_runs)
        ],
        batch_size=2000,
    )
    params, metrics, latest = [], [], []
    for run in made:
        for k in range(10):
            value = f"p{k}-{rng.randrange(8)}" if k < 5 else str(rng.randrange(1, 100))
            params.append(Param.build(run, f"p{k}", value))
            metric = rng.random()
            metrics.append(Metric(run=run, key=f"m{k}", value=metric, step=0, timestamp=run.started_at))
            latest.append(LatestMetric(run=run, key=f"m{k}", value=metric, step=0, timestamp=run.started_at))
    Param.objects.bulk_create(params, batch_size=5000)
    Metric.objects.bulk_create(metrics, batch_size=5000)
    LatestMetric.objects.bulk_create(latest, batch_size=5000)
    long_ids = [run.pk for run in made[runs:]]
    from django.db import transaction

    for run_id in long_ids:
        with transaction.atomic():
            points = [
                ("loss", 1 / (1 + step / 500) + rng.gauss(0, 0.01), step, start + timedelta(seconds=step))
                for step in range(steps)
            ]
            metric_store.insert_points(run_id, points)
    return user, experiment.pk, long_ids


def timed(client, url: str, params: dict, repeat: int) -> tuple[float, float, int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url, params)  # warm-up: caches, prepared plans, imports
    assert response.status_code == 200, (url, response.status_code, response.content[:500])
    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            response = client.get(url, params)
            times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95, len(queries), len(response.content)


def worker(args) -> None:
    """Runs in a subprocess whose environment names the database."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # pages link hashed static names
    began = time.perf_counter()
    user, experiment, long_ids = load(args.runs, 20, args.steps)
    backend = os.environ["BENCH_BACKEND"]
    print(
        f"[{backend}] loaded {args.runs:,} runs + 20 × {args.steps:,}-step histories in {time.perf_counter() - began:.0f} s"
    )
    if backend == "postgresql":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    client = Client()
    client.force_login(user)
    cases = [
        (
            "run list page, search + sort by metric",
            "/runs/",
            {"experiment": experiment, "search": SEARCH, "ordering": "-metrics.m1"},
        ),
        ("run list page, sort by param", "/runs/", {"experiment": experiment, "ordering": "params.p7"}),
        ("API run list, search + sort by metric", "/api/runs/", {"search": SEARCH, "ordering": "-metrics.m1"}),
        ("compare page, 20 runs × 10,000 steps", "/runs/compare/", {"run": long_ids}),
    ]
    for label, url, params in cases:
        median, p95, queries, size = timed(client, url, params, args.repeat)
        print(
            f"[{backend}] {label:<42} median {median:7.1f} ms   p95 {p95:7.1f} ms   {queries:>2} queries   {size / 1024:6.0f} KB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    for backend in backends:
        tmp = tempfile.mkdtemp(prefix="bench-runs-")
        if backend == "postgresql":
            url = fresh_postgres(os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"))
        else:
            url = f"sqlite:///{tmp}/bench.sqlite3"
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATA_DIR": tmp,
            "DEBUG": "0",
            "HTTPS": "0",
            "ALLOWED_HOSTS": "testserver",
            "DJANGO_SETTINGS_MODULE": "mlops_site.settings",
            "BENCH_BACKEND": backend,
        }
        command = [sys.executable, __file__, "--worker", "--runs", str(args.runs), "--steps", str(args.steps)]
        subprocess.run([*command, "--repeat", str(args.repeat)], cwd=ROOT, env=env, check=True)


if __name__ == "__main__":
    main()
