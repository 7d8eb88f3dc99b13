"""A data scientist compares two dataset versions and reads which features drifted, in the browser."""

from __future__ import annotations

import pytest

from experiments import services as experiment_services
from mlops_site import roles
from tests.browser.charts import drawn
from tests.browser.test_pages import log_in, shot, watch
from tests.builders import make_user, upload
from tests.monitoring.conftest import frame

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_two_dataset_versions(live_server, page):
    dana = make_user("dana", roles.DATA_SCIENTIST)
    dataset = experiment_services.create_dataset(name="credit", actor=dana)
    versions = [
        experiment_services.upload_version(
            dataset, upload(content=frame(seed, shift).to_csv(index=False).encode()), actor=dana
        )[0]
        for seed, shift in ((1, 0.0), (2, 25_000.0))
    ]
    problems = watch(page)
    page.set_viewport_size({"width": 1300, "height": 900})
    log_in(page, live_server.url, "dana")
    page.click("nav >> text=Monitoring")
    page.click("text=Compare dataset versions")
    page.select_option("[name=reference]", str(versions[0].pk))
    page.select_option("[name=current]", str(versions[1].pk))
    page.click("button:has-text('Compare')")
    drawn(page, "#scores-chart")
    drawn(page, "#distribution-chart")
    first = page.locator("table tbody tr").first
    assert "annual_income" in first.inner_text() and "drifted" in first.inner_text()
    assert page.locator("h2:has-text('features drifted')").count() == 1
    shot(page, "drift-compare")
    page.click("table >> text=region")
    drawn(page, "#distribution-chart")
    assert page.locator("h2:has-text('region')").count() == 1
    assert not problems, problems


def test_a_drift_rule_raises_an_alert_that_retrains_and_waits_for_review(live_server, page):
    from deployments import serving
    from deployments.models import Deployment, Environment, Prediction
    from experiments.demo_data import credit_scoring_frame
    from monitoring import services
    from registry import services as registry_services

    for name in ("staging", "production"):
        Environment.objects.get_or_create(name=name, defaults={"stage": name})
    dana = make_user("dana", roles.DATA_SCIENTIST)
    rui = make_user("rui", roles.REVIEWER)
    data = credit_scoring_frame(rows=800, seed=5).drop(columns=["customer_id"])
    data = data[data["defaulted"].notna()]
    dataset = experiment_services.create_dataset(name="credit", actor=dana)
    version, _ = experiment_services.upload_version(
        dataset, upload(content=data.to_csv(index=False).encode()), actor=dana, target="defaulted"
    )
    experiment = experiment_services.create_experiment(name="credit default", actor=dana)
    run = experiment_services.start_training(
        experiment, version, actor=dana, target="defaulted", algorithm="logistic_regression"
    )
    run.refresh_from_db()
    model = registry_services.create_model(name="credit-default", actor=dana)
    v1 = registry_services.register_version(model, run, actor=dana)
    promotion = registry_services.request_promotion(v1, "production", justification="first", actor=dana)
    promotion.refresh_from_db()
    registry_services.approve(promotion, actor=rui)
    deployment = Deployment.objects.get(environment__name="production")
    services.update_monitor(deployment.monitor, {"window_predictions": 60, "window_hours": None}, actor=None)
    services.put_policy(model, {"min_labelled_rows": 20}, actor=dana)
    columns = [c["name"] for c in v1.signature["inputs"]]
    shifted = data.head(60).copy()
    shifted["annual_income"] = shifted["annual_income"] + 60_000
    shifted["credit_score"] = shifted["credit_score"] - 120
    for record, truth in zip(
        shifted[columns].astype(object).where(shifted[columns].notna(), None).to_dict("records"),
        shifted["defaulted"],
        strict=True,
    ):
        answer = serving.predict(deployment, {"records": [record]})
        Prediction.objects.filter(pk=answer.predictions[0]["prediction_id"]).update(ground_truth=int(truth))

    problems = watch(page)
    page.set_viewport_size({"width": 1300, "height": 900})
    log_in(page, live_server.url, "dana")
    page.click("nav >> text=Monitoring")
    page.click("table >> text=production")
    page.fill("[name=name]", "Inputs drifted")
    page.select_option("[name=metric]", "drift_share")
    page.select_option("[name=comparison]", "gte")
    page.fill("[name=threshold]", "0.1")
    page.click("button:has-text('Add rule')")
    page.wait_for_selector("#rules table", timeout=5000)
    assert page.locator("#rules table >> text=Inputs drifted").count() == 1
    page.click("button:has-text('Run now')")  # jobs run inline in tests: report, alert, retraining, gates
    drawn(page, "#distribution-chart")
    page.click("nav >> text=Alerts")
    row = page.locator("table tbody tr").first
    assert "Inputs drifted" in row.inner_text() and "open" in row.inner_text()
    shot(page, "alerts")
    row.locator("button:has-text('Acknowledge')").click()
    assert "acknowledged" in page.locator("table tbody tr").first.inner_text()
    page.click("nav >> text=Models")
    page.click("table >> text=credit-default")
    loop = page.locator("#retraining table tbody tr").first
    assert "alert #" in loop.inner_text() and "v2" in loop.inner_text() and "promotion requested" in loop.inner_text()
    page.locator("#retraining").scroll_into_view_if_needed()
    shot(page, "retraining-loop")
    assert not problems, problems
