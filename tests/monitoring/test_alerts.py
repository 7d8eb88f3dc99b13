"""Alert rules checked after each report: one alert per breach, webhook and e-mail, acknowledge, resolve."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.models import Prediction, RequestStat
from experiments import services as experiment_services
from mlops_site.models import WebhookDelivery
from mlops_site.webhooks import services as webhooks
from mlops_site.webhooks import wire
from monitoring import services
from monitoring.models import Alert, AlertRule, Monitor
from tests.builders import inputs_of, serve, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    """Webhook POSTs, captured instead of sent: (url, payload bytes, headers)."""
    posts = []

    def post(url, body, headers, **kwargs):
        posts.append((url, body, headers))
        return wire.Outcome(status=200, body="ok")

    monkeypatch.setattr(wire, "post", post)
    return posts


def shifted(version, dataset_version, rows=60):
    frame = inputs_of(version, dataset_version).head(rows).copy()
    frame["annual_income"] = frame["annual_income"] + 60_000
    frame["credit_score"] = frame["credit_score"] - 120
    return frame


def test_bad_rules_are_refused_field_by_field_and_create_nothing(deployed, scientist, reviewer):
    deployment, _, _ = deployed
    monitor = deployment.monitor
    with pytest.raises(ValidationError) as caught:
        services.create_rule(
            monitor,
            {"name": "", "metric": "vibes", "comparison": "=", "threshold": "high", "window_minutes": 0},
            actor=scientist,
        )
    assert set(caught.value.message_dict) == {"name", "metric", "comparison", "threshold", "window_minutes"}
    client = token_client(scientist)
    bad = [
        ({"metric": "drift_share", "comparison": "gte", "threshold": 0.2}, "name"),
        ({"name": "x", "metric": "drift_share", "comparison": "gte", "threshold": 0.2, "emails": ["nope"]}, "emails"),
        ({"name": "x", "metric": "drift_share", "comparison": "gte", "threshold": 0.2, "severity": "mild"}, "severity"),
        ({"name": "x", "metric": "drift_share", "comparison": "gte"}, "threshold"),
        ({"name": "x", "metric": "drift_share", "comparison": "gte", "threshold": 1, "monitor": 9999}, "monitor"),
    ]
    for body, field in bad:
        body = {"monitor": monitor.pk} | body
        response = client.post("/api/alert-rules/", body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["errors"], response.json()
    ok = {"monitor": monitor.pk, "name": "drift", "metric": "drift_share", "comparison": "gte", "threshold": 0.2}
    assert token_client(reviewer).post("/api/alert-rules/", ok, format="json").status_code == 403
    assert not AlertRule.objects.exists()
    created = client.post("/api/alert-rules/", ok, format="json")
    assert created.status_code == 201 and created.json()["window_minutes"] == 60
    assert client.post("/api/alert-rules/", ok, format="json").status_code == 400  # same name on the monitor
    assert AlertRule.objects.count() == 1
    rule = created.json()["id"]
    assert client.patch(f"/api/alert-rules/{rule}/", {"threshold": "x"}, format="json").status_code == 400
    assert client.patch(f"/api/alert-rules/{rule}/", {"threshold": 0.3}, format="json").json()["threshold"] == 0.3


def test_a_drift_alert_opens_once_notifies_and_resolves_when_the_drift_goes(
    deployed, scientist, reviewer, admin_user, sent, settings, django_capture_on_commit_callbacks
):
    deployment, version, dataset_version = deployed
    settings.ALERT_EMAILS = ["oncall@example.com"]
    webhooks.create_webhook(url="https://hooks.example.com/ml", events=["alert.opened"], actor=admin_user)
    monitor = services.update_monitor(deployment.monitor, {"window_predictions": 60, "window_hours": None}, actor=None)
    rule = services.create_rule(
        monitor,
        {
            "name": "inputs moved",
            "metric": "drift_share",
            "comparison": "gte",
            "threshold": 0.1,
            "severity": "critical",
        },
        actor=scientist,
    )
    serve(deployment, shifted(version, dataset_version))
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        report = services.run_monitor(monitor, now=now)
    assert report.drift_share >= 0.1
    alert = Alert.objects.get()
    assert alert.status == "open" and alert.rule == rule and alert.report == report
    assert alert.value == pytest.approx(report.drift_share) and alert.severity == "critical"
    assert alert.emailed_to == ["oncall@example.com"]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["oncall@example.com"]
    assert "inputs moved" in mail.outbox[0].subject and "share of drifted features" in mail.outbox[0].body
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "alert.opened" and delivery.status == "delivered"
    assert delivery.payload["data"]["rule"] == "inputs moved"
    assert delivery.payload["data"]["value"] == pytest.approx(report.drift_share)
    assert len(sent) == 1 and "X-MLOps-Signature" in sent[0][2]

    # Still drifting at the next report: the same alert, no second one, no second mail.
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor, now=now + timedelta(minutes=5))
    assert Alert.objects.count() == 1 and len(mail.outbox) == 1
    assert Alert.objects.get().last_evaluated_at == now + timedelta(minutes=5)

    client = token_client(reviewer)  # reviewers are on call too
    assert client.get("/api/alerts/?status=open").json()["count"] == 1
    assert client.get("/api/alerts/?status=nope").status_code == 400
    answer = client.post(f"/api/alerts/{alert.pk}/acknowledge/", {"comment": "looking"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "acknowledged"
    assert answer.json()["acknowledged_by"] == reviewer.username
    assert client.post(f"/api/alerts/{alert.pk}/acknowledge/").status_code == 409
    assert client.post("/api/alerts/999999/acknowledge/").status_code == 404

    # The drift goes: later traffic looks like training; once the drifted reports leave the rule's window
    # the alert resolves itself.
    serve(deployment, inputs_of(version, dataset_version).iloc[200:260])
    later = now + timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.run_monitor(monitor, now=later)
    assert report.drift_share < 0.1
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by is None and "Cleared" in alert.resolution
    assert client.post(f"/api/alerts/{alert.pk}/resolve/").status_code == 409
    assert Alert.objects.count() == 1


def test_only_one_active_alert_per_rule_even_when_two_evaluations_race(deployed, scientist):
    deployment, _, _ = deployed
    rule = services.create_rule(
        deployment.monitor, {"name": "r", "metric": "error_rate", "comparison": "gt", "threshold": 0}, actor=scientist
    )
    fields = dict(rule=rule, monitor=deployment.monitor, severity="warning", metric="error_rate", value=1, threshold=0)
    Alert.objects.create(message="first", **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(message="second", **fields)
    Alert.objects.create(message="old", status="resolved", **fields)  # resolved ones do not count
    assert Alert.objects.count() == 2


def test_service_rules_read_the_request_log_and_no_traffic_is_no_value(
    deployed, scientist, django_capture_on_commit_callbacks
):
    deployment, version, dataset_version = deployed
    monitor = deployment.monitor
    slow = services.create_rule(
        monitor,
        {"name": "slow", "metric": "latency_p95_ms", "comparison": "gt", "threshold": 250, "window_minutes": 30},
        actor=scientist,
    )
    quiet = services.create_rule(
        monitor, {"name": "quiet", "metric": "request_rate", "comparison": "lt", "threshold": 1}, actor=scientist
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor)
    # No traffic: latency has no value (no alert), but a rate of 0 per minute is a value, and it is below 1.
    assert list(Alert.objects.values_list("rule", "value")) == [(quiet.pk, 0.0)]
    serve(deployment, inputs_of(version, dataset_version).head(3))
    RequestStat.objects.filter(deployment=deployment).update(latency_ms=400.0)
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor)
    assert Alert.objects.get(rule=slow).value == pytest.approx(400.0)
    # Still quiet: 3 requests over 60 minutes is 0.05 per minute, the same alert with its new value.
    assert Alert.objects.filter(rule=quiet).count() == 1
    assert Alert.objects.get(rule=quiet).last_value == pytest.approx(3 / 60)


def test_a_mail_server_that_fails_leaves_the_alert_open_with_the_reason(
    deployed, scientist, monkeypatch, django_capture_on_commit_callbacks
):
    deployment, version, dataset_version = deployed
    monitor = services.update_monitor(deployment.monitor, {"window_predictions": 60, "window_hours": None}, actor=None)
    services.create_rule(
        monitor,
        {"name": "drift", "metric": "drifted_features", "comparison": "gte", "threshold": 1, "emails": ["a@b.co"]},
        actor=scientist,
    )

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("no SMTP here")

    monkeypatch.setattr("monitoring.services.alerts.send_mail", refuse)
    serve(deployment, shifted(version, dataset_version))
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor)
    alert = Alert.objects.get()
    assert alert.status == "open" and alert.emailed_to == [] and "no SMTP here" in alert.email_error


def test_alert_pages_list_filter_and_act(deployed, client, scientist, reviewer, django_capture_on_commit_callbacks):
    deployment, version, dataset_version = deployed
    monitor = services.update_monitor(deployment.monitor, {"window_predictions": 60, "window_hours": None}, actor=None)
    services.create_rule(
        monitor, {"name": "drift", "metric": "drift_share", "comparison": "gte", "threshold": 0.1}, actor=scientist
    )
    client.force_login(reviewer)
    empty = client.get("/monitoring/alerts/")
    assert empty.status_code == 200 and "No open alerts" in empty.content.decode()
    serve(deployment, shifted(version, dataset_version))
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor)
    alert = Alert.objects.get()
    page = client.get("/monitoring/alerts/?sort=-severity").content.decode()
    assert alert.message in page and "Acknowledge" in page
    assert client.get(f"/monitoring/alerts/{alert.pk}/").status_code == 200
    deployment_page = client.get(deployment.get_absolute_url()).content.decode()
    assert 'id="monitoring"' in deployment_page and alert.get_absolute_url() in deployment_page
    client.post(f"/monitoring/alerts/{alert.pk}/resolve/", {"comment": "rolled back"})
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.resolved_by == reviewer and alert.resolution == "rolled back"
    services.run_monitor(monitor)  # a second report: charts over time
    monitor_page = client.get(Monitor.objects.get(pk=monitor.pk).get_absolute_url()).content.decode()
    assert "heatmap-chart" in monitor_page and "predictions-chart" in monitor_page and "service-chart" in monitor_page
    assert "distribution-chart" in monitor_page
    # A bad rule keeps what was typed and names the field; a reviewer cannot add rules at all.
    client.force_login(scientist)
    bad = {"name": "typo", "metric": "rmse", "comparison": "gt", "threshold": "", "window_minutes": 60}
    response = client.post(f"/monitoring/monitors/{monitor.pk}/rules/", bad | {"severity": "info"})
    assert response.status_code == 400 and 'value="typo"' in response.content.decode()
    assert "Threshold: This field is required." in response.content.decode()
    response = client.post(f"/monitoring/monitors/{monitor.pk}/rules/", bad | {"threshold": 2, "severity": "info"})
    assert response.status_code == 400 and "is a classifier" in response.content.decode()
    client.force_login(reviewer)
    client.post(
        f"/monitoring/monitors/{monitor.pk}/rules/",
        {"name": "x", "metric": "f1", "comparison": "lt", "threshold": 0.5, "window_minutes": 60, "severity": "info"},
    )
    assert AlertRule.objects.count() == 1


def test_performance_rules_average_the_reports_in_their_window(deployed, scientist):
    deployment, version, dataset_version = deployed
    monitor = services.update_monitor(
        deployment.monitor, {"window_predictions": 40, "window_hours": None, "min_rows": 5}, actor=None
    )
    rule = services.create_rule(
        monitor,
        {"name": "acc", "metric": "accuracy", "comparison": "lt", "threshold": 0.99, "window_minutes": 600},
        actor=scientist,
    )
    frame = inputs_of(version, dataset_version).head(40)
    ids = serve(deployment, frame)
    truth = experiment_services.load_frame(dataset_version)["defaulted"].head(40).astype(int).tolist()
    for prediction_id, label in zip(ids, truth, strict=True):
        Prediction.objects.filter(pk=prediction_id).update(ground_truth=label)
    now = timezone.now()
    first = services.run_monitor(monitor, now=now)
    for prediction_id in ids[:20]:  # half the labels flip: the second report scores worse
        Prediction.objects.filter(pk=prediction_id).update(ground_truth=1 - truth[ids.index(prediction_id)])
    second = services.run_monitor(monitor, now=now + timedelta(minutes=10))
    expected = (first.performance["accuracy"] + second.performance["accuracy"]) / 2
    assert services.alerts.rule_value(rule, now + timedelta(minutes=10)) == pytest.approx(expected)
