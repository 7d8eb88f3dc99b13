"""Job rows: inline execution, failure with traceback, cancellation, redelivery and the stale-job sweeper."""

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.utils import timezone

from mlops_site import jobs, services
from mlops_site.errors import Conflict
from mlops_site.models import AuditEvent, Job

pytestmark = pytest.mark.django_db


def boom(ctx):
    ctx.progress(30, "about to fail")
    raise ValueError("the data had no rows")


def failing_task(job_id):
    jobs.run_job(job_id, boom)


def counting_task(job_id):
    jobs.run_job(job_id, lambda ctx: {"attempt": ctx.job.attempts, "params": ctx.params})


def test_selfcheck_runs_on_worker_and_records_real_results(scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.start_selfcheck(actor=scientist)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.progress == 100
    assert job.attempts == 1
    assert job.started_at <= job.finished_at
    # The fit is real: 5-fold accuracy on a separable synthetic problem is well above chance.
    assert 0.7 < job.result["sklearn"]["cv_accuracy_mean"] <= 1.0
    assert len(job.result["storage"]["sha256"]) == 64
    assert "cross-validated accuracy" in job.log
    actions = list(AuditEvent.objects.for_target(job).order_by("id").values_list("action", flat=True))
    assert actions == ["job.queued", "job.succeeded"]


def test_failing_job_records_error_and_traceback(scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.enqueue(kind="test.fail", task="tests.mlops_site.test_jobs.failing_task", actor=scientist)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "ValueError: the data had no rows"
    assert "Traceback" in job.traceback and "boom" in job.traceback
    assert job.progress == 30
    assert job.finished_at is not None


def test_job_is_queued_only_after_commit(scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = jobs.enqueue(kind="test.count", task="tests.mlops_site.test_jobs.counting_task", params={"n": 3})
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and len(callbacks) == 1


def test_second_delivery_of_finished_job_does_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.enqueue(kind="test.count", task="tests.mlops_site.test_jobs.counting_task", params={"n": 1})
    job.refresh_from_db()
    assert job.result == {"attempt": 1, "params": {"n": 1}}
    counting_task(job.pk)  # a duplicate delivery
    job.refresh_from_db()
    assert job.attempts == 1 and job.status == Job.Status.SUCCEEDED


def test_delivery_while_running_elsewhere_is_ignored():
    job = Job.objects.create(kind="t", task="x", status=Job.Status.RUNNING, attempts=1, heartbeat_at=timezone.now())
    counting_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.attempts == 1 and job.result is None


def test_redelivery_after_worker_death_reclaims_stale_job(settings):
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        kind="t", task="x", status=Job.Status.RUNNING, attempts=1, heartbeat_at=stale, worker="gone:1"
    )
    counting_task(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.attempts == 2
    assert "worker gone:1 stopped responding" in job.log


def test_sweeper_requeues_stale_job_and_it_completes(settings, django_capture_on_commit_callbacks):
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        kind="t",
        task="tests.mlops_site.test_jobs.counting_task",
        status=Job.Status.RUNNING,
        attempts=1,
        max_attempts=3,
        heartbeat_at=stale,
    )
    fresh = Job.objects.create(kind="t", task="x", status=Job.Status.RUNNING, attempts=1, heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        outcome = jobs.sweep_stale_jobs()
    assert outcome == {"requeued": 1, "failed": 0, "resent": 0}
    job.refresh_from_db()
    fresh.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.attempts == 2
    assert fresh.status == Job.Status.RUNNING  # a live job is left alone
    assert AuditEvent.objects.for_target(job).filter(action="job.requeued").count() == 1


def test_sweeper_fails_job_that_used_up_its_attempts(settings):
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        kind="t", task="x", status=Job.Status.RUNNING, attempts=3, max_attempts=3, heartbeat_at=stale
    )
    assert jobs.sweep_stale_jobs() == {"requeued": 0, "failed": 1, "resent": 0}
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert AuditEvent.objects.for_target(job).filter(action="job.failed").exists()
    assert "gave up after 3 attempts" in job.error
    assert job.finished_at is not None


def test_cancel_queued_job_stops_it_from_running(scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = jobs.enqueue(kind="t", task="tests.mlops_site.test_jobs.counting_task", actor=scientist)
    services.cancel_job(job, actor=scientist)
    for callback in callbacks:
        callback()  # the queued task arrives after all
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.attempts == 0 and job.result is None


def test_cancel_running_job_takes_effect_at_next_progress(scientist):
    job = Job.objects.create(kind="t", task="x", created_by=scientist)

    def work(ctx):
        services.cancel_job(ctx.job, actor=scientist)  # the user clicks Cancel while it runs
        ctx.progress(50, "half way")
        raise AssertionError("the job should have stopped at its progress report")

    jobs.run_job(job.pk, work)
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.message == "Cancelled by user"
    assert AuditEvent.objects.for_target(job).filter(action="job.cancelled").exists()


def test_cancel_requested_before_a_requeue_is_honoured(settings, scientist):
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS + 5)
    job = Job.objects.create(
        kind="t",
        task="x",
        created_by=scientist,
        status=Job.Status.RUNNING,
        attempts=1,
        heartbeat_at=stale,
        cancel_requested=True,
    )
    jobs.sweep_stale_jobs()
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.attempts == 1


def numpy_result_task(job_id):
    import numpy as np

    jobs.run_job(job_id, lambda ctx: {"accuracy": np.float64(0.875), "counts": np.array([1, 2])})


def nan_result_task(job_id):
    jobs.run_job(job_id, lambda ctx: {"loss": float("nan")})


def test_numpy_results_are_stored_as_numbers(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.enqueue(kind="t", task="tests.mlops_site.test_jobs.numpy_result_task")
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.result == {"accuracy": 0.875, "counts": [1, 2]}


def test_unstorable_result_fails_the_job_instead_of_leaving_it_running(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.enqueue(kind="t", task="tests.mlops_site.test_jobs.nan_result_task")
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "result could not be stored" in job.error and job.result is None


def test_queued_job_lost_by_the_broker_is_resent(settings):
    old = timezone.now() - timedelta(seconds=settings.JOB_RESEND_QUEUED_SECONDS + 5)
    lost = Job.objects.create(kind="t", task="tests.mlops_site.test_jobs.counting_task", created_at=old)
    recent = Job.objects.create(kind="t", task="tests.mlops_site.test_jobs.counting_task")
    assert jobs.sweep_stale_jobs()["resent"] == 1
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.status == Job.Status.SUCCEEDED and recent.status == Job.Status.QUEUED


def test_heartbeat_survives_a_failed_write(settings):
    settings.JOB_HEARTBEAT_SECONDS = 0.01
    job = Job(pk=1, attempts=1)
    writes = mock.Mock()
    queryset = mock.Mock(update=writes)
    with mock.patch.object(Job.objects, "filter", side_effect=[DatabaseError("locked"), queryset, queryset, queryset]):
        beat = jobs._Heartbeat(job)
        beat.start()
        deadline = time.monotonic() + 5
        while writes.call_count < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        beat.stopped.set()
        beat.join(timeout=5)
    assert writes.call_count >= 2


def test_only_owner_or_admin_can_cancel(scientist, reviewer, admin_user):
    job = Job.objects.create(kind="t", task="x", created_by=scientist)
    with pytest.raises(PermissionDenied):
        services.cancel_job(job, actor=reviewer)
    job.refresh_from_db()
    assert job.status == Job.Status.QUEUED and not job.cancel_requested
    services.cancel_job(job, actor=admin_user)
    with pytest.raises(Conflict):
        services.cancel_job(job, actor=admin_user)


def test_progress_from_a_superseded_attempt_is_discarded():
    job = Job.objects.create(kind="t", task="x")
    first = jobs._claim(job.pk)
    Job.objects.filter(pk=job.pk).update(attempts=2)  # another worker took over
    with pytest.raises(jobs.JobSuperseded):  # the stale attempt stops instead of repeating side effects
        jobs.JobContext(first).progress(80, "late news")
    job.refresh_from_db()
    assert job.progress == 0 and job.message == ""
