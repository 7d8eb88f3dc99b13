"""Healthy is not ready: "Demo data ready." only once the demo's background work is done; until then the
dashboard and `serve` say what is left."""

import io
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule, Task
from django_q.tasks import schedule

from deployments import demo as deployments_demo
from mlops_site import demo
from mlops_site.models import Job
from mlops_site.supervisor import DemoWatcher
from monitoring import demo as monitoring_demo
from registry import demo as registry_demo
from tests.builders import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ONE_OFFS = (registry_demo.TASK, deployments_demo.TASK, monitoring_demo.TASK)


@pytest.fixture
def demo_queued(settings, tmp_path, monkeypatch):
    """`manage.py demo` as `make run` runs it: the jobs and one-off tasks are queued, no worker has run them."""
    settings.DATA_DIR = tmp_path
    monkeypatch.setenv("DEMO_PASSWORD", PASSWORD)
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def finish(func: str, result: str) -> None:
    """What django-q leaves once a one-off task ran: its schedule gone, a saved result."""
    Schedule.objects.filter(func=func).delete()
    now = timezone.now()
    Task.objects.create(
        id=uuid.uuid4().hex, name=func, func=func, started=now, stopped=now, success=True, result=result
    )


def test_the_demo_command_does_not_claim_ready_while_the_worker_has_everything_to_do(demo_queued):
    assert "Demo data ready." not in demo_queued.splitlines()
    assert "Demo data is queued for the worker" in demo_queued and "training" in demo_queued

    state = demo.progress()

    assert state.started and not state.ready
    assert state.jobs["training"] == Job.objects.filter(kind="training.run", status="queued").count() > 0
    assert len(state.waiting) == 3 and "credit-default" in state.waiting[0]


def test_the_dashboard_says_what_is_still_being_prepared_then_ready(client, demo_queued):
    client.login(username="scientist", password=PASSWORD)
    page = client.get("/").content.decode()
    assert "Demo data is still being prepared" in page and "Demo data ready." not in page
    trainings = Job.objects.filter(kind="training.run").count()
    assert f"{trainings} training" in page and "A day of prediction traffic" in page

    Job.objects.active().update(status=Job.Status.SUCCEEDED, finished_at=timezone.now())
    for func in ONE_OFFS:
        finish(func, "done")

    page = client.get("/").content.decode()
    assert "Demo data ready." in page and "still being prepared" not in page


def test_a_one_off_that_is_waiting_or_running_again_keeps_the_demo_not_ready(demo_queued):
    Job.objects.active().update(status=Job.Status.SUCCEEDED)
    finish(registry_demo.TASK, "registered 3 versions; v1 in production; 1 request waiting for the reviewer")
    finish(deployments_demo.TASK, "replayed {'production': 400} requests")
    # Fired again by its schedule (now gone) and running: its last saved result is still "waiting…".
    finish(monitoring_demo.TASK, "waiting for the demo traffic")

    state = demo.progress()

    assert (
        not state.ready
        and state.jobs == {}
        and state.waiting == ["drift reports and the alert they open, after the traffic"]
    )
    finish(monitoring_demo.TASK, "2 drift reports: 3/12 drifted, 0/12 drifted")
    assert demo.progress().ready


def test_serve_prints_ready_only_when_done_and_the_command_says_it_on_a_rerun(demo_queued, client):
    """`serve` has no Django of its own: it reads the site's `/healthz?demo=1`, here through the test client."""
    lines: list[str] = []
    watcher = DemoWatcher(lambda: client.get("/healthz?demo=1").json()["demo"], 0.0, lines.append)
    watcher.tick()
    assert lines and lines[0].startswith("Demo data is still being prepared:") and "Demo data ready." not in lines

    Job.objects.active().update(status=Job.Status.SUCCEEDED)
    for func in ONE_OFFS:
        finish(func, "done")
    watcher.next_check = 0
    watcher.tick()

    assert lines[-1].startswith("Demo data ready at ") and "after the site started" in lines[-1]
    out = io.StringIO()
    call_command("demo", stdout=out)
    assert "Demo data ready." in out.getvalue().splitlines()


def test_no_demo_no_demo_status(client, db):
    make_user("someone")
    client.login(username="someone", password=PASSWORD)
    assert not demo.progress().started
    assert 'id="demo-status"' not in client.get("/").content.decode()


CALLS: list[tuple] = []


def record_call(*args) -> str:
    CALLS.append(args)
    return "done"


def test_a_finished_step_runs_the_waiting_one_offs_now_once(monkeypatch, django_capture_on_commit_callbacks):
    """The next step need not wait for the scheduler's next look: its schedule is taken (and deleted, as the
    scheduler does with a ONCE schedule) and its task runs with the schedule's arguments, once."""
    func = f"{__name__}.record_call"
    monkeypatch.setattr(demo, "_one_offs", [func])
    CALLS.clear()
    schedule(
        func, "2026-12-03T10:00:00+00:00", schedule_type=Schedule.ONCE, next_run=timezone.now() + timedelta(hours=1)
    )
    schedule("math.floor", 1.5, schedule_type=Schedule.ONCE, next_run=timezone.now() + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert demo.run_waiting_now() == 1

    assert CALLS == [("2026-12-03T10:00:00+00:00",)]  # jobs run inline in the tests
    assert not Schedule.objects.filter(func=func).exists()
    assert Schedule.objects.filter(func="math.floor").exists()  # not a demo one-off: left to the scheduler
    assert demo.run_waiting_now() == 0 and len(CALLS) == 1
