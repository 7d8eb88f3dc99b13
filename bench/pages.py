"""Server time of the demo's heaviest pages: dashboard, dataset version, run compare, monitor, deployment.

Usage:
    .venv/bin/python bench/pages.py                    # builds a demo data folder first (~2-4 min)
    .venv/bin/python bench/pages.py --data-dir DIR     # a DATA_DIR where `make run` finished its demo
    Options: --repeat 15, --profile (cProfile's top functions of one request per page)

Without --data-dir the script makes the demo as `make run` does, in a temporary DATA_DIR (SQLite, the
embedded default): `manage.py migrate`, `manage.py demo`, then `manage.py serve` until its console says
"Demo data ready at", then stops it. The pages are then requested in process through Django's test client
(URL routing, every middleware, queries, templates, chart building; no network), logged in as the demo
scientist, DEBUG off, on a copy of that database: one warm-up request, then --repeat requests; it prints the
median and 95th percentile, the number of SQL queries, the size of the HTML and the number of charts in it.

Pages: `/` (dashboard); the demo credit-scoring dataset's latest version; run compare of the demo experiment's
finished runs; the production drift monitor; the production deployment of credit-default.
Target (issue 19): each at most 300 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_MS = 300


def build_demo(data_dir: Path) -> None:
    env = {**_clean_env(), "DATA_DIR": str(data_dir), "HTTPS": "0", "DEMO_PASSWORD": "bench-pages"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    for command in (["migrate", "-v0"], ["createcachetable"], ["collectstatic", "--noinput", "-v0"], ["demo"]):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = data_dir / "serve.log"
    began = time.monotonic()
    with log.open("w") as out:
        serve = subprocess.Popen(
            [*manage, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        while "Demo data ready at" not in log.read_text():
            if serve.poll() is not None or time.monotonic() - began > 1200:
                raise SystemExit(f"the demo did not finish; see {log}")
            time.sleep(1)
    finally:
        serve.terminate()
        serve.wait(timeout=40)
    print(f"demo built in {data_dir} ({time.monotonic() - began:.0f} s after serve started)")


def _clean_env() -> dict:
    drop = ("DATABASE_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME")
    return {k: v for k, v in os.environ.items() if k not in drop}


def worker(repeat: int, profile: bool) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bench.run_pages import timed
    from deployments.models import Deployment
    from experiments.models import Dataset, Run
    from monitoring.models import Monitor

    client = Client()
    client.force_login(get_user_model().objects.get(username="scientist"))
    dataset = Dataset.objects.order_by("pk").first()
    version = dataset.versions.order_by("-number").first()
    runs = Run.objects.filter(status=Run.Status.FINISHED, parent__isnull=True).order_by("pk")[:6]
    monitor = Monitor.objects.filter(deployment__environment__name="production").order_by("pk").first()
    Deployment.objects.get(  # the page below must exist
        environment__name="production", model__name="credit-default"
    )
    pages = [
        ("dashboard", "/", {}),
        (f"dataset version ({dataset.name} v{version.number})", f"/datasets/versions/{version.pk}/", {}),
        (f"run compare ({len(runs)} runs)", "/runs/compare/", {"run": [r.pk for r in runs]}),
        (f"monitor ({monitor})", f"/monitoring/monitors/{monitor.pk}/", {}),
        ("deployment (production/credit-default)", "/deployments/production/credit-default/", {}),
    ]
    print(f"{'page':<48}{'median ms':>10}{'p95 ms':>9}{'queries':>9}{'KB':>7}{'charts':>8}   target {TARGET_MS} ms")
    for label, url, params in pages:
        median, p95, queries, size = timed(client, url, params, repeat)  # bench/run_pages.py's loop
        charts = client.get(url, params).content.decode().count('class="plotly-chart"')
        verdict = "met" if median <= TARGET_MS else "MISSED"
        print(f"{label:<48}{median:>10.0f}{p95:>9.0f}{queries:>9}{size / 1024:>7.0f}{charts:>8}   {verdict}")
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            client.get(url, params)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.repeat, args.profile)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    source = args.data_dir
    if source is None:
        source = tmp / "demo"
        source.mkdir()
        build_demo(source)
    # A copy, so that the measured requests (sessions, caches) leave the given folder as it was.
    work = tmp / "copy"
    work.mkdir()
    for name in ("media", "static", "secret_key"):
        if (source / name).exists():
            (shutil.copytree if (source / name).is_dir() else shutil.copy)(source / name, work / name)
    with sqlite3.connect(source / "mlops.sqlite3") as src, sqlite3.connect(work / "mlops.sqlite3") as dst:
        src.backup(dst)
    env = {
        **_clean_env(),
        "DATA_DIR": str(work),
        "DEBUG": "0",
        "HTTPS": "0",
        "ALLOWED_HOSTS": "testserver",
        "DJANGO_SETTINGS_MODULE": "mlops_site.settings",
    }
    command = [sys.executable, __file__, "--worker", "--repeat", str(args.repeat)]
    subprocess.run([*command, *(["--profile"] if args.profile else [])], cwd=ROOT, env=env, check=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
