"""Background jobs: a visible `Job` row per task, claimed atomically, watched by a heartbeat.

django-q2 only carries the job id. `enqueue` writes the row and queues the task after the
commit; the task calls `run_job`, which claims the row (a second delivery of a claimed or
finished job does nothing), runs the work with a `JobContext` for progress and log lines,
and records the outcome. A worker that dies leaves a running row whose heartbeat goes
stale; `sweep_stale_jobs` (scheduled every minute) re-queues it or, after
`max_attempts`, marks it failed. So no job stays "running" forever, on either broker.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django_q.tasks import async_task

from mlops_site import audit, context
from mlops_site.errors import RateLimited
from mlops_site.models import Job

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job when its user asked to cancel it."""


class JobSuperseded(Exception):
    """Raised inside a job whose row was taken over by a newer attempt (or finished elsewhere)."""


def enqueue(
    *,
    kind: str,
    task: str,
    actor=None,
    title: str = "",
    params: dict[str, Any] | None = None,
    target: models.Model | None = None,
    max_attempts: int | None = None,
) -> Job:
    """Create the job row and queue `task(job_id)` once the surrounding transaction commits."""
    job = Job.objects.create(
        kind=kind,
        task=task,
        title=title or kind,
        params=params or {},
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        max_attempts=max_attempts or settings.JOB_MAX_ATTEMPTS,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
    )
    # robust: a broker that is down must not turn the committed action into an error page;
    # the sweeper re-sends jobs that stay queued with an empty broker queue.
    transaction.on_commit(lambda: _queue(job), robust=True)
    return job


_KIND_NAMES = {"system.selfcheck": "self-check", "monitor.run": "monitor run", "training.run": "training"}


def check_rate(kind: str, actor, *, count: int = 1) -> None:
    """Refuse (RateLimited) `count` more jobs of `kind` by `actor` beyond `settings.JOB_RATE_LIMITS[kind]`.

    Counted from the user's own Job rows (shared by every process, no cache needed). The services a person
    calls check it before writing anything; the system's own work (schedules, retraining) is not limited.
    Two requests racing may overshoot by one each: the limit is a brake on floods, not a quota.
    """
    limit = settings.JOB_RATE_LIMITS.get(kind)
    if limit is None or not getattr(actor, "is_authenticated", False):
        return
    allowed, seconds = limit
    since = timezone.now() - timedelta(seconds=seconds)
    recent = Job.objects.filter(created_by=actor, kind=kind, created_at__gte=since)
    used = recent.count()
    if used + count <= allowed:
        return
    what = _KIND_NAMES.get(kind, kind)
    window = "hour" if seconds == 3600 else _duration(seconds)
    if count > allowed:
        raise ValidationError(f"This asks for {count} {what} jobs at once; the limit is {allowed} per {window}.")
    # Enough slots free up when the (used + count - allowed)-th oldest job inside the window leaves it.
    oldest = recent.order_by("created_at").values_list("created_at", flat=True)[used + count - allowed - 1]
    retry_after = int((oldest + timedelta(seconds=seconds) - timezone.now()).total_seconds()) + 1
    asked = f"; this asks for {count}" if count > 1 else ""
    raise RateLimited(
        f"Too many {what} jobs: you started {used} in the last {window} and the limit is {allowed}{asked}. "
        f"Try again in {_duration(retry_after)}.",
        retry_after=retry_after,
    )


def _duration(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return "1 hour" if seconds == 3600 else f"{seconds // 3600} hours"
    if seconds >= 120:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _queue(job: Job) -> None:
    async_task(job.task, job.pk, task_name=f"job-{job.pk}-{job.kind}", sync=settings.Q_CLUSTER.get("sync", False))


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class JobContext:
    """What a running job sees: its params, and calls to report progress, log and its product."""

    LOG_FLUSH_SECONDS = 1.0

    def __init__(self, job: Job):
        self.job = job
        self.params = job.params
        self._log = job.log
        self._last_flush = 0.0

    def _mine(self):
        return Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING, attempts=self.job.attempts)

    def log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self._log = (self._log + f"[{stamp}] {line}\n")[-settings.JOB_LOG_TAIL_CHARS :]
        if time.monotonic() - self._last_flush >= self.LOG_FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._mine().update(log=self._log, heartbeat_at=timezone.now())
        self._last_flush = time.monotonic()

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress (0-100); also the point where a requested cancel takes effect."""
        percent = max(0, min(100, int(percent)))
        if message:
            self._log = (self._log + f"[{timezone.now():%H:%M:%S}] {message}\n")[-settings.JOB_LOG_TAIL_CHARS :]
        updated = self._mine().update(
            progress=percent, message=message[:300], log=self._log, heartbeat_at=timezone.now()
        )
        self._last_flush = time.monotonic()
        if not updated:
            raise JobSuperseded()
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()

    def set_target(self, obj: models.Model) -> None:
        """Point the job at what it produced, so its page links there."""
        self._mine().update(target_type=ContentType.objects.get_for_model(obj), target_id=str(obj.pk))


class _Heartbeat(threading.Thread):
    """Touches the job row while long work (a scikit-learn fit) gives no callbacks."""

    def __init__(self, job: Job):
        super().__init__(daemon=True, name=f"job-{job.pk}-heartbeat")
        self.job = job
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                try:
                    Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING, attempts=self.job.attempts).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a locked database or a dropped connection: try again next beat
                    logger.warning("heartbeat of job %s failed; retrying", self.job.pk, exc_info=True)
                    connection.close()
        finally:
            connection.close()


def _claim(job_id: int) -> Job | None:
    """Take the job for this process, or return None if it is not ours to run."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return None
        redelivered = job.status == Job.Status.RUNNING and (job.heartbeat_at is None or job.heartbeat_at < stale_before)
        if not (job.status == Job.Status.QUEUED or redelivered):
            return None  # finished, cancelled, or running elsewhere: a duplicate delivery
        if job.cancel_requested:
            _mark_cancelled(job, now)
            return None
        if job.attempts >= job.max_attempts:
            _give_up(job, now)
            return None
        if redelivered:
            job.log += f"[{now:%H:%M:%S}] worker {job.worker} stopped responding; retrying\n"
        job.status = Job.Status.RUNNING
        job.attempts += 1
        job.started_at = job.started_at or now
        job.heartbeat_at = now
        job.worker = worker_identity()
        job.error = ""
        job.save()
    return job


def _mark_cancelled(job: Job, now) -> None:
    job.status = Job.Status.CANCELLED
    job.finished_at = now
    job.message = "Cancelled by user"
    job.save()
    audit.record(actor=None, action="job.cancelled", target=job)


def _give_up(job: Job, now) -> None:
    job.status = Job.Status.FAILED
    job.finished_at = now
    job.error = (
        f"The worker running this job stopped responding {job.attempts} time(s) "
        f"(last heartbeat {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC); gave up after {job.max_attempts} attempts."
        if job.heartbeat_at
        else f"Gave up after {job.max_attempts} attempts."
    )
    job.save()
    audit.record(actor=None, action="job.failed", target=job, after={"error": job.error})


def run_job(job_id: int, work: Callable[[JobContext], Any]) -> None:
    """Run `work` for a job row: claim it, heartbeat, record success, failure or cancellation."""
    job = _claim(job_id)
    if job is None:
        logger.info("job %s not claimed (already taken or finished)", job_id)
        return
    token = context.request_id.set(f"job-{job.pk}")
    ctx = JobContext(job)
    heartbeat = None
    if not settings.Q_CLUSTER.get("sync"):
        heartbeat = _Heartbeat(job)
        heartbeat.start()
    try:
        ctx.log(f"started on {job.worker} (attempt {job.attempts} of {job.max_attempts})")
        result = work(ctx)
    except JobSuperseded:
        logger.warning("job %s attempt %s was superseded; stopping it", job.pk, job.attempts)
    except JobCancelled:
        _finish(ctx, Job.Status.CANCELLED, message="Cancelled by user")
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        _finish(ctx, Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}", tb=traceback.format_exc())
    else:
        _finish(ctx, Job.Status.SUCCEEDED, result=result)
    finally:
        if heartbeat:
            heartbeat.stopped.set()
        context.request_id.reset(token)


def _storable(result: Any) -> Any:
    """JSON-safe copy of a job's result: numpy scalars become numbers; NaN or objects are refused."""
    if result is None:
        return None

    def convert(value):
        if hasattr(value, "tolist"):  # numpy scalars and arrays
            return value.tolist()
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    return json.loads(json.dumps(result, default=convert, allow_nan=False))


def _finish(ctx: JobContext, status: str, *, result=None, error: str = "", tb: str = "", message: str = "") -> None:
    try:
        result = _storable(result)
    except (TypeError, ValueError) as exc:
        status, result = Job.Status.FAILED, None
        error, tb = f"The job finished but its result could not be stored: {exc}", traceback.format_exc()
    fields = {
        "status": status,
        "finished_at": timezone.now(),
        "heartbeat_at": timezone.now(),
        "log": ctx._log,
        "error": error,
        "traceback": tb,
        "result": result,
    }
    if status == Job.Status.SUCCEEDED:
        fields.update(progress=100, message="Done")
    elif message:
        fields["message"] = message
    elif error:
        fields["message"] = error[:300]
    with transaction.atomic():
        if ctx._mine().update(**fields):
            job = Job.objects.get(pk=ctx.job.pk)
            audit.record(actor=None, action=f"job.{status}", target=job, after={"error": error} if error else None)


def sweep_stale_jobs() -> dict[str, int]:
    """Re-queue running jobs whose worker died, or fail them once they used up their attempts."""
    requeued = failed = 0
    now = timezone.now()
    for job_id in list(Job.objects.stale(now).values_list("pk", flat=True)):
        with transaction.atomic():
            job = Job.objects.stale(now).select_for_update().filter(pk=job_id).first()
            if job is None:  # finished or re-claimed since the first look
                continue
            if job.cancel_requested:
                _mark_cancelled(job, now)
                continue
            if job.attempts >= job.max_attempts:
                _give_up(job, now)
                failed += 1
                continue
            job.status = Job.Status.QUEUED
            job.log += f"[{now:%H:%M:%S}] worker {job.worker} stopped responding; re-queued\n"
            job.message = "Re-queued after the worker stopped responding"
            job.save()
            audit.record(actor=None, action="job.requeued", target=job, after={"attempts": job.attempts})
            transaction.on_commit(lambda job=job: _queue(job))
            requeued += 1
    return {"requeued": requeued, "failed": failed, "resent": _resend_lost(now)}


def _resend_lost(now) -> int:
    """Re-send jobs queued for long while the broker holds nothing: their task was lost.

    That happens when the broker was unreachable at commit time, or with Redis when a worker
    died between taking the task and claiming the row. A duplicate delivery is harmless: the
    claim lets only one run.
    """
    cutoff = now - timedelta(seconds=settings.JOB_RESEND_QUEUED_SECONDS)
    lost = list(Job.objects.filter(status=Job.Status.QUEUED, created_at__lt=cutoff, cancel_requested=False)[:100])
    if not lost:
        return 0
    from django_q.brokers import get_broker

    if get_broker().queue_size():
        return 0  # tasks are still waiting for a worker; these jobs are just behind them
    for job in lost:
        _queue(job)
    return len(lost)
