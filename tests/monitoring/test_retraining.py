"""Retraining policies and the loop: alert → retraining run → new version → promotion request."""

from datetime import timedelta

import pytest
from django.utils import timezone

from experiments import services as experiment_services
from experiments.models import DatasetVersion, Run
from mlops_site.models import Job
from monitoring import services
from monitoring.models import Alert, Retraining, RetrainingPolicy
from registry.models import ModelVersion, PromotionRequest
from tests.builders import inputs_of, serve, token_client
from tests.monitoring.test_alerts import shifted

pytestmark = pytest.mark.django_db
POLICY = "/api/models/credit-default/retraining-policy/"


def label(deployment, dataset_version, ids, start=0):
    """Ground truth for served rows, from the data they were drawn from."""
    from deployments.models import Prediction

    truth = experiment_services.load_frame(dataset_version)["defaulted"].astype(int).tolist()
    for i, prediction_id in enumerate(ids):
        Prediction.objects.filter(pk=prediction_id).update(ground_truth=truth[start + i])


def test_the_policy_api_checks_every_field_and_says_who_it_acts_for(deployed, scientist, reviewer):
    client = token_client(scientist)
    empty = client.get(POLICY).json()
    assert empty["exists"] is False and empty["enabled"] is False and empty["stage"] == "staging"
    assert client.get("/api/models/nope/retraining-policy/").status_code == 404
    for body, field in (
        ({"stage": "prod"}, "stage"),
        ({"every_days": 0}, "every_days"),
        ({"data": "dataset_version"}, "dataset_version"),
        ({"data": "elsewhere"}, "data"),
        ({"dataset_version": 99999}, "dataset_version"),
        ({"cooldown_hours": -1}, "cooldown_hours"),
        ({"enabled": "yes please"}, "enabled"),
    ):
        response = client.put(POLICY, body, format="json")
        assert response.status_code == 400 and field in response.json()["errors"], (body, response.json())
    assert token_client(reviewer).put(POLICY, {"enabled": True}, format="json").status_code == 403
    assert not RetrainingPolicy.objects.exists()
    saved = client.put(POLICY, {"enabled": True, "min_labelled_rows": 10, "every_days": 7}, format="json")
    assert saved.status_code == 200
    body = saved.json()
    assert body["exists"] and body["owner"] == scientist.username and body["every_days"] == 7
    assert body["on_drift_alert"] and body["cooldown_hours"] == 24  # left out: defaults
    patched = client.patch(POLICY, {"cooldown_hours": 6}, format="json").json()
    assert patched["cooldown_hours"] == 6 and patched["every_days"] == 7 and patched["min_labelled_rows"] == 10
    assert client.patch(POLICY, {"stage": "prod"}, format="json").status_code == 400
    again = client.put(POLICY, {"enabled": False}, format="json").json()
    assert again["every_days"] is None and not again["enabled"]  # PUT replaces the whole policy
    assert RetrainingPolicy.objects.count() == 1


def test_a_drift_alert_retrains_the_recipe_on_new_data_and_asks_a_reviewer(
    deployed, scientist, client, django_capture_on_commit_callbacks
):
    deployment, version, dataset_version = deployed
    services.put_policy(deployment.model, {"min_labelled_rows": 20, "stage": "staging"}, actor=scientist)
    monitor = services.update_monitor(deployment.monitor, {"window_predictions": 60, "window_hours": None}, actor=None)
    services.create_rule(
        monitor, {"name": "drift", "metric": "drift_share", "comparison": "gte", "threshold": 0.1}, actor=scientist
    )
    ids = serve(deployment, shifted(version, dataset_version))
    label(deployment, dataset_version, ids[:45])
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor)

    alert = Alert.objects.get()
    retraining = Retraining.objects.get()
    assert retraining.alert == alert and retraining.trigger == "alert" and retraining.base_version == version
    assert retraining.status == "requested", retraining.error
    # The data: the training version plus the 45 labelled production rows, stored as its child version.
    data = retraining.dataset_version
    assert data.parent == dataset_version and data.dataset == dataset_version.dataset
    assert data.row_count == dataset_version.row_count + 45 and retraining.production_rows == 45
    assert DatasetVersion.objects.filter(dataset=dataset_version.dataset).count() == 2
    # The run: the same recipe on that data.
    run = retraining.run
    assert run.status == Run.Status.FINISHED and list(run.input_versions.all()) == [data]
    assert run.training_request == version.run.training_request
    # The version and the request, through gates and waiting for a human.
    new = retraining.version
    assert new.number == 2 and new.run == run and ModelVersion.objects.filter(model=deployment.model).count() == 2
    promotion = retraining.promotion
    assert promotion.version == new and promotion.stage == "staging" and promotion.requested_by == scientist
    assert promotion.status == PromotionRequest.Status.PENDING
    assert f"alert #{alert.pk}" in promotion.justification
    # The model page shows the loop.
    client.force_login(scientist)
    page = client.get(deployment.model.get_absolute_url()).content.decode()
    assert "Continuous training" in page and f"alert #{alert.pk}" in page
    assert f"run {run.pk}" in page and "v2" in page and f"#{promotion.pk} to staging" in page

    # The next alert within the cooldown does not retrain again.
    services.resolve(alert, actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor)
    assert Alert.objects.count() == 2 and Retraining.objects.count() == 1
    assert "Cooling down" in Alert.objects.get(status="open").retraining_note
    assert Alert.objects.get(pk=alert.pk).retraining_note == f"Retraining #{retraining.pk} started."

    # Retraining v2 adds only production rows newer than the ones already in its data.
    def turn():
        again = Retraining.objects.create(model=deployment.model, trigger="manual", base_version=new)
        with django_capture_on_commit_callbacks(execute=True):
            services.run_retraining(again)
        again.refresh_from_db()
        return again

    assert "0 new labelled production rows" in turn().error
    more = serve(deployment, inputs_of(version, dataset_version).iloc[300:325])
    label(deployment, dataset_version, more, start=300)
    third = turn()
    assert third.status == "requested", third.error
    assert third.production_rows == 25 and third.dataset_version.row_count == data.row_count + 25
    assert third.dataset_version.parent == data


def test_retrainings_that_lost_their_job_or_alert_do_not_block_the_model(
    deployed, scientist, django_capture_on_commit_callbacks
):
    from deployments.models import Prediction

    deployment, _, dataset_version = deployed
    services.put_policy(deployment.model, {"min_labelled_rows": 0}, actor=scientist)
    retraining = services.retrain_now(deployment.model, actor=scientist)  # queued; its job never runs here
    Job.objects.filter(pk=retraining.job_id).update(status="cancelled")
    services.run_due_policies()
    retraining.refresh_from_db()
    assert retraining.status == "failed" and "cancelled" in retraining.error
    # An alert-started retraining whose alert (and rule) was deleted while it trained still settles.
    Prediction.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        second = services.retrain_now(deployment.model, actor=scientist)
    second.refresh_from_db()
    assert second.status == "requested", second.error  # 0 production rows allowed: the training data alone
    assert second.dataset_version == dataset_version and second.production_rows == 0
    Retraining.objects.filter(pk=second.pk).update(trigger="alert", status="training", version=None, promotion=None)
    assert "deleted" in services.retraining._why(Retraining.objects.get(pk=second.pk))


def test_too_few_labelled_rows_fail_the_retraining_with_the_reason(
    deployed, scientist, django_capture_on_commit_callbacks
):
    deployment, version, dataset_version = deployed
    services.put_policy(deployment.model, {"min_labelled_rows": 50}, actor=scientist)
    serve(deployment, inputs_of(version, dataset_version).head(5))
    with django_capture_on_commit_callbacks(execute=True):
        retraining = services.retrain_now(deployment.model, actor=scientist)
    retraining.refresh_from_db()
    assert retraining.status == "failed" and "0 new labelled production rows" in retraining.error
    assert Job.objects.get(pk=retraining.job_id).status == "failed"
    assert ModelVersion.objects.count() == 1 and not PromotionRequest.objects.exists()
    assert DatasetVersion.objects.count() == 1


def test_retrain_on_a_named_dataset_version_and_on_a_schedule(
    deployed, scientist, reviewer, django_capture_on_commit_callbacks
):
    deployment, _, dataset_version = deployed
    client = token_client(scientist)
    assert client.post("/api/models/credit-default/retrainings/").status_code == 400  # no policy yet
    body = {"data": "dataset_version", "dataset_version": dataset_version.pk, "every_days": 1, "stage": "production"}
    assert client.put(POLICY, body, format="json").status_code == 200
    RetrainingPolicy.objects.update(updated_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_due_policies() == 1
    retraining = Retraining.objects.get()
    assert retraining.trigger == "schedule" and retraining.status == "requested", retraining.error
    assert retraining.dataset_version == dataset_version and retraining.promotion.stage == "production"
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_due_policies() == 0  # retrained a moment ago
    assert token_client(reviewer).post("/api/models/credit-default/retrainings/").status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post("/api/models/credit-default/retrainings/")
    assert started.status_code == 202 and started.json()["trigger"] == "manual"
    listed = client.get("/api/models/credit-default/retrainings/").json()
    assert [r["trigger"] for r in listed] == ["manual", "schedule"]
    # The same recipe on the same data again would make an identical version: refused with the reason.
    assert listed[0]["status"] == "failed" and listed[0]["error"].startswith("Nothing new")
    assert ModelVersion.objects.filter(model=deployment.model).count() == 2


def test_the_model_page_sets_the_policy_and_retrains_on_request(deployed, client, scientist, reviewer):
    deployment, _, _ = deployed
    url = f"/monitoring/models/{deployment.model.name}/retraining/"
    form = {
        "enabled": "on",
        "on_drift_alert": "on",
        "data": "reference_and_production",
        "min_labelled_rows": "500",
        "stage": "staging",
        "cooldown_hours": "12",
        "every_days": "",
        "dataset_version": "",
    }
    client.force_login(reviewer)
    client.post(url, form)
    assert not RetrainingPolicy.objects.exists()
    client.force_login(scientist)
    response = client.post(url, form)
    assert response.status_code == 302 and response.url == deployment.model.get_absolute_url()
    policy = RetrainingPolicy.objects.get()
    assert policy.enabled and policy.on_drift_alert and not policy.on_performance_alert
    assert policy.min_labelled_rows == 500 and policy.cooldown_hours == 12 and policy.every_days is None
    page = client.get(deployment.model.get_absolute_url()).content.decode()
    assert "at least 500" in page and "Retrain now" in page
    client.post(f"/monitoring/models/{deployment.model.name}/retrain/")
    retraining = Retraining.objects.get()
    assert retraining.trigger == "manual" and retraining.created_by == scientist
