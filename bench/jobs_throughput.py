"""Job queue throughput and latency through the real stack: Job row -> django-q2 broker -> worker -> Job row.

Usage:
    .venv/bin/python bench/jobs_throughput.py [--jobs 200] [--workers 2]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/jobs_throughput.py
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/jobs_throughput.py

Each job goes the full way a training job goes: `jobs.enqueue` (row + audit-free insert, queued on
commit), claim by a worker, a progress update, success with its audit event. The database is a fresh
temporary SQLite file unless DATABASE_URL is given (the database must exist; tables are created).
Prints jobs/s and the enqueue-to-finish latency percentiles.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    os.environ.setdefault("DATA_DIR", str(tmp))
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlops_site.settings"
    os.environ["Q_WORKERS"] = str(args.workers)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from mlops_site import jobs
    from mlops_site.models import Job

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    Job.objects.filter(kind="bench.noop").delete()
    broker = "redis" if os.environ.get("REDIS_URL") else f"ORM ({connection.vendor})"

    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(4)  # let the cluster import Django and spawn workers before the clock starts
        started = time.perf_counter()
        ids = []
        for _ in range(args.jobs):
            with transaction.atomic():
                ids.append(jobs.enqueue(kind="bench.noop", task="bench.tasks.noop_job").pk)
        enqueued = time.perf_counter()
        deadline = time.monotonic() + 600
        while Job.objects.filter(pk__in=ids, status=Job.Status.SUCCEEDED).count() < len(ids):
            if time.monotonic() > deadline:
                raise SystemExit("timed out")
            time.sleep(0.1)
        finished = time.perf_counter()
        latencies = [
            (row.finished_at - row.created_at).total_seconds()
            for row in Job.objects.filter(pk__in=ids).only("created_at", "finished_at")
        ]
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)

    q = statistics.quantiles(latencies, n=100)
    print(f"broker {broker}, {args.workers} workers, {args.jobs} jobs")
    print(f"  enqueue: {args.jobs / (enqueued - started):8.1f} jobs/s")
    print(f"  end to end: {args.jobs / (finished - started):8.1f} jobs/s ({finished - started:.2f} s)")
    print(f"  enqueue-to-finish latency: p50 {q[49]:.2f} s, p95 {q[94]:.2f} s, max {max(latencies):.2f} s")


if __name__ == "__main__":
    main()
