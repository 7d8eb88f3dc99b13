"""Kill real django-q2 worker processes mid-job: the job is retried or shown failed, never stuck."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from mlops_site import jobs
from mlops_site.models import Job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

HEARTBEAT, STALE = 1, 4


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def cluster(settings, tmp_path):
    """A real `manage.py qcluster` on the test database, with a fast heartbeat."""
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.JOB_STALE_SECONDS = STALE
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "JOB_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "JOB_STALE_SECONDS": str(STALE),
        "Q_WORKERS": "1",
        "Q_TIMEOUT": "120",
        "Q_RETRY": "180",  # django-q2's own redelivery is far off: our sweeper must do the work
        "Q_CLUSTER_NAME": settings.Q_CLUSTER["name"],
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    env.pop("REDIS_URL", None)
    with open(tmp_path / "qcluster.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield process
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _sweep_until(job: Job, statuses: set[str], timeout: float) -> Job:
    """Play the scheduler: run the stale-job sweeper every half second until the job settles."""

    def settled():
        jobs.sweep_stale_jobs()
        job.refresh_from_db()
        return job.status in statuses

    _wait_for(settled, timeout, f"job to reach {statuses}")
    return job


def test_job_whose_worker_is_killed_is_retried_and_succeeds(cluster):
    job = jobs.enqueue(kind="test.slow", task="tests.worker_tasks.slow_job", max_attempts=3)
    _wait_for(lambda: Job.objects.filter(pk=job.pk, status="running", progress__gte=10).exists(), 60, "job to start")
    job.refresh_from_db()
    worker_pid = int(job.worker.rsplit(":", 1)[1])
    os.kill(worker_pid, signal.SIGKILL)

    job = _sweep_until(job, {"succeeded", "failed"}, timeout=60)
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    assert job.result == {"finished_on_attempt": 2}
    assert f"{worker_pid} stopped responding" in job.log


def test_job_that_kills_its_worker_every_time_ends_failed(cluster):
    job = jobs.enqueue(kind="test.suicide", task="tests.worker_tasks.self_killing_job", max_attempts=2)
    job = _sweep_until(job, {"failed", "succeeded"}, timeout=90)
    assert job.status == "failed"
    assert job.attempts == 2
    assert "stopped responding" in job.error and "gave up after 2 attempts" in job.error
