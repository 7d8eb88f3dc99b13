"""A data scientist trains, sweeps, searches, compares and reproduces runs in the browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from experiments import services
from experiments.demo_data import credit_scoring_frame
from experiments.models import Run
from mlops_site import roles
from tests.browser.charts import drawn
from tests.browser.test_pages import log_in, shot, watch
from tests.builders import make_user, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_train_sweep_search_compare_reproduce(live_server, page):
    user = make_user("dana", roles.DATA_SCIENTIST)
    dataset = services.create_dataset(name="credit", actor=user)
    frame = credit_scoring_frame(rows=1500, seed=5).drop(columns=["customer_id"])
    frame = frame[frame["defaulted"].notna()]
    version, _ = services.upload_version(
        dataset, upload(content=frame.to_csv(index=False).encode()), actor=user, target="defaulted"
    )
    problems = watch(page)
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, live_server.url, "dana")

    # One run, from the dataset version's page; jobs run inline in tests, so it is done on redirect.
    page.goto(f"{live_server.url}{version.get_absolute_url()}")
    page.click("text=Train a model…")
    assert page.input_value("[name=target]") == "defaulted"
    page.fill("[name=new_experiment]", "credit default")
    page.select_option("[name=algorithm]", "random_forest")
    assert "n_estimators" in page.inner_text("#allowed-params")
    assert page.locator(".field-space").is_hidden()
    page.fill("[name=params]", '{"n_estimators": 30, "max_depth": -3}')
    page.click("#train-button")
    assert "max_depth" in page.inner_text(".field-params .form-error")  # scikit-learn's own check, nothing queued
    assert not Run.objects.exists()
    page.fill("[name=params]", '{"n_estimators": 30}')
    page.fill("[name=cv_folds]", "3")
    page.click("#train-button")
    page.wait_for_selector("h1 .badge-finished", timeout=60_000)
    forest = Run.objects.get()
    assert f"/runs/{forest.pk}/" in page.url
    drawn(page, ".plotly-chart")
    assert "roc_auc" in page.inner_text("main") and "model/pipeline.skops" in page.inner_text("#artifacts")
    shot(page, "run-detail")

    # A grid sweep into the same experiment.
    page.goto(f"{live_server.url}/runs/new/?version={version.pk}&experiment={forest.experiment_id}")
    page.select_option("[name=algorithm]", "knn")
    page.select_option("[name=mode]", "grid")
    assert page.locator(".field-space").is_visible()
    page.fill("[name=space]", '{"n_neighbors": [3, 9, 25], "weights": ["uniform", "distance"]}')
    page.click("#train-button")
    drawn(page, "#sweep-chart", timeout=120_000)
    parent = Run.objects.get(parent__isnull=True, tags__sweep="grid")
    assert parent.children.count() == 6 and "Best trial for f1" in page.inner_text("#sweep")
    shot(page, "run-sweep")

    # Search the runs, then compare three of them.
    page.goto(f"{live_server.url}/runs/?experiment={forest.experiment_id}")
    page.fill("[name=search]", 'params.algorithm = "knn" and metrics.f1 > -1')
    page.click("#run-filters button[type=submit]")
    # The submit navigates; expect() waits for the new page where count() would read the old one.
    expect(page.locator("table.runs tbody tr")).to_have_count(6)
    page.goto(f"{live_server.url}/runs/?experiment={forest.experiment_id}&search=metrics.f1+%3E%3E")
    assert "Search:" in page.inner_text(".messages")
    page.goto(f"{live_server.url}/runs/?experiment={forest.experiment_id}&top_level=true")
    page.click("th >> text=f1")  # sort by f1, best first
    page.wait_for_url("**ordering=*")
    first_f1 = page.locator("table.runs tbody tr").first.locator("td.num").first.inner_text()
    shot(page, "run-list")
    page.goto(f"{live_server.url}/runs/?experiment={forest.experiment_id}")
    for box in page.locator("table.runs tbody input[type=checkbox]").all()[:3]:
        box.check()
    page.click("#compare-button")
    drawn(page, "#bars-chart")
    assert page.locator("#param-table tr.differs").count() >= 1
    shot(page, "run-compare")

    # Reproduce the forest: a new run with the same metrics.
    page.goto(f"{live_server.url}{forest.get_absolute_url()}")
    page.click("button:has-text('Reproduce')")
    page.wait_for_selector("text=Reproduces")
    copy = Run.objects.get(reproduced_from=forest)
    assert dict(copy.latest_metrics.values_list("key", "value")) == dict(
        forest.latest_metrics.values_list("key", "value")
    )
    assert first_f1
    assert problems == []
