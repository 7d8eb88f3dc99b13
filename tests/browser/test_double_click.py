"""A real double click in Chromium on a slow server does one thing (issue 14: two runs, two versions before).

The services are slowed before they act, as a slow server is; the browser sends both submissions of the same
rendered form, and shows the answer to the second one.
"""

from __future__ import annotations

import time

import pytest

from experiments import services as experiment_services
from experiments.models import Run
from registry import services as registry_services
from registry.models import ModelVersion
from tests.browser.test_pages import log_in, watch
from tests.builders import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLOW_SECONDS = 1.5


def slowed(monkeypatch, module, name: str) -> list[float]:
    """Slow a service down and record when each call came in."""
    original, calls = getattr(module, name), []

    def slow(*args, **kwargs):
        calls.append(time.monotonic())
        time.sleep(SLOW_SECONDS)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)
    return calls


def double_click(page, selector: str) -> None:
    """Two clicks 200 ms apart, as the issue's user did, the second while the first POST is pending.

    Dispatched in the page: playwright's own second click would wait for the first navigation to end, and a
    true dblclick makes Chromium send one POST.
    """
    page.locator(selector).evaluate("b => { b.click(); setTimeout(() => b.click(), 200); }")


def test_double_clicks_on_register_and_start_training_do_one_thing(live_server, page, monkeypatch, settings):
    dana = make_user("dana", "data-scientist")
    dataset = experiment_services.create_dataset(name="credit", actor=dana)
    from experiments.demo_data import credit_scoring_frame
    from tests.builders import upload

    frame = credit_scoring_frame(rows=600, seed=3).drop(columns=["customer_id"])
    frame = frame[frame["defaulted"].notna() & (frame["age"] < 200)].drop_duplicates()
    version, _ = experiment_services.upload_version(
        dataset, upload(content=frame.to_csv(index=False).encode()), actor=dana, target="defaulted"
    )
    experiment = experiment_services.create_experiment(name="credit default", actor=dana)
    run = experiment_services.start_training(
        experiment, version, actor=dana, target="defaulted", algorithm="logistic_regression", seed=1
    )
    run.refresh_from_db()
    assert run.status == "finished"
    model = registry_services.create_model(name="credit-default", actor=dana)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}  # queue new training, do not run it in the request
    problems = watch(page)
    log_in(page, live_server.url, "dana")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    registrations = slowed(monkeypatch, registry_services, "register_version")
    page.goto(f"{live_server.url}{model.get_absolute_url()}")
    page.select_option("[name=run]", str(run.pk))
    double_click(page, "button:has-text('Register as v1')")
    time.sleep(0.3)
    page.wait_for_load_state()
    time.sleep(SLOW_SECONDS + 0.5)  # let any second registration finish
    # The browser shows the answer to the second POST: the model page, with what the first one did.
    page.wait_for_selector("text=This form was already sent", timeout=20_000)
    assert page.url.endswith(model.get_absolute_url())
    sent = len(posts)
    print(
        f"\nRegister as v1, double click: the browser sent {sent} POSTs, {len(registrations)} reached the service, "
        f"{ModelVersion.objects.count()} version(s)"
    )
    assert sent == 2  # the browser did send the form twice
    assert ModelVersion.objects.count() == 1

    trainings = slowed(monkeypatch, experiment_services, "start_training_request")  # what the training page calls
    page.goto(f"{live_server.url}/runs/new/?version={version.pk}&experiment={experiment.pk}")
    page.select_option("[name=algorithm]", "knn")
    double_click(page, "#train-button")
    time.sleep(0.3)
    page.wait_for_load_state()
    time.sleep(SLOW_SECONDS + 0.5)  # let any second training start
    page.wait_for_selector("text=This form was already sent", timeout=20_000)
    started = Run.objects.exclude(pk=run.pk).count()
    print(
        f"Start training, double click: the browser sent {len(posts) - sent} POSTs, {len(trainings)} reached the "
        f"service, {started} new run(s)"
    )
    assert len(posts) - sent == 2
    assert started == 1
    assert f"/runs/{Run.objects.exclude(pk=run.pk).get().pk}/" in page.url
    assert not problems, problems
