"""Upload-to-finished-profile time and worker peak memory for a 1,000,000-row × 30-column CSV.

Usage:
    .venv/bin/python bench/dataset_profile.py [--rows 1000000]

Generates a CSV with mixed kinds (numeric, categorical, boolean, datetime, text) and ~5 % missing
values, then, against a fresh SQLite database in a temporary folder:
  1. the floor: pandas `read_csv` + `describe(include="all")` on the same file, in a subprocess;
  2. ours: `services.upload_version` (hash, validate, parse, store) in this process, then the profile
     and quality job on a real `qcluster` worker, timed until the job row says succeeded.
Peak memory is the high-water RSS (VmHWM) of the worker processes, read from /proc while the job runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_csv(path: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {}
    for i in range(14):
        values = rng.normal(100 * i, 10 + i, rows).round(3)
        values[rng.random(rows) < 0.05] = np.nan
        columns[f"num_{i}"] = values
    for i in range(3):
        columns[f"int_{i}"] = rng.integers(0, 1000, rows)
    for i in range(6):
        cats = np.array([f"cat_{i}_{k}" for k in range(5 + 3 * i)], dtype=object)
        values = cats[rng.integers(0, len(cats), rows)]
        values[rng.random(rows) < 0.05] = None
        columns[f"cat_{i}"] = values
    for i in range(3):
        columns[f"flag_{i}"] = np.where(rng.random(rows) < 0.5, "yes", "no")
    columns["date_0"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 700, rows), unit="D")).strftime(
        "%Y-%m-%d"
    )
    columns["text_0"] = [f"note {k}" for k in rng.integers(0, 10**9, rows)]
    columns["id"] = np.arange(rows)
    columns["target"] = (rng.random(rows) < 0.2).astype(int)
    pd.DataFrame(columns).to_csv(path, index=False)


FLOOR = """
import sys, time, resource, pandas as pd
t = time.perf_counter()
frame = pd.read_csv(sys.argv[1])
frame.describe(include="all")
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout.split()
    children = [int(p) for p in out]
    return children + [g for c in children for g in descendants(c)]


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass
    return peak


class DiskUpload:
    """What Django hands a view for an uploaded file: a name and chunks()."""

    def __init__(self, path: Path):
        self.path, self.name = path, path.name

    def chunks(self, size: int = 1024 * 1024):
        with open(self.path, "rb") as handle:
            while chunk := handle.read(size):
                yield chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    csv = tmp / "wide.csv"
    started = time.perf_counter()
    make_csv(csv, args.rows)
    print(
        f"generated {csv.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows × 30 columns in {time.perf_counter() - started:.1f} s"
    )

    floor = subprocess.run([sys.executable, "-c", FLOOR, str(csv)], capture_output=True, text=True, check=True)
    floor_s, floor_mb = (float(x) for x in floor.stdout.split())
    print(f"floor   pandas read_csv + describe(include='all'): {floor_s:6.1f} s, peak {floor_mb:6.0f} MB")

    os.environ.update(
        DATA_DIR=str(tmp / "data"),
        DJANGO_SETTINGS_MODULE="mlops_site.settings",
        Q_WORKERS="1",
        DATASET_MAX_UPLOAD_MB="2000",
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command

    from experiments import services
    from mlops_site import roles
    from mlops_site.models import Job

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    user = get_user_model().objects.create_user("bench")
    user.groups.add(Group.objects.get(name=roles.DATA_SCIENTIST))
    user = get_user_model().objects.get(pk=user.pk)  # fresh permission cache
    dataset = services.create_dataset(name="wide", actor=user)

    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(5)  # the cluster is up and its worker has imported Django before the clock starts
        started = time.perf_counter()
        version, _ = services.upload_version(dataset, DiskUpload(csv), actor=user, target="target")
        uploaded = time.perf_counter()
        peak = 0.0
        while True:
            peak = max(peak, peak_rss_mb(descendants(cluster.pid)))
            job = Job.objects.get(pk=version.profile_job_id)
            if job.is_finished:
                break
            time.sleep(0.2)
        finished = time.perf_counter()
    finally:
        cluster.terminate()
        cluster.wait(timeout=30)
    assert job.status == "succeeded", job.error
    total = finished - started
    print(f"ours    upload (hash, validate, parse, store):      {uploaded - started:6.1f} s")
    print(f"ours    upload to finished profile + quality:       {total:6.1f} s, worker peak {peak:6.0f} MB")
    print(f"ratio   ours / floor: {total / floor_s:.2f}×  (target: ≤ 30 s and ≤ 2,048 MB)")


if __name__ == "__main__":
    main()
