"""Monitors: one per deployment, a run compares the window's logged inputs with the training data."""

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score

from deployments.models import Prediction
from experiments import services as experiment_services
from monitoring import charts, services
from monitoring.models import DriftReport, FeatureDrift, Monitor
from monitoring.services import monitors
from tests.builders import inputs_of, serve, token_client

pytestmark = pytest.mark.django_db


def test_every_deployment_gets_a_monitor(deployed):
    deployment, _, _ = deployed
    monitor = Monitor.objects.get(deployment=deployment)
    assert monitor.window_hours == 24 and monitor.reference is None and monitor.enabled


def test_a_run_compares_the_window_with_the_training_data_and_scores_labelled_rows(deployed):
    deployment, version, dataset_version = deployed
    frame = inputs_of(version, dataset_version).head(80).copy()
    frame["annual_income"] = frame["annual_income"] + 40_000  # production customers richer than in training
    ids = serve(deployment, frame)
    truth = experiment_services.load_frame(dataset_version)["defaulted"].head(40).astype(int).tolist()
    for prediction_id, label in zip(ids[:40], truth, strict=True):
        Prediction.objects.filter(pk=prediction_id).update(ground_truth=label)
    Prediction.objects.filter(pk=ids[0]).update(role="shadow")  # shadow rows are not what was served
    Prediction.objects.filter(pk=ids[-1]).update(role="canary")  # nor are the canary's

    report = services.run_monitor(Monitor.objects.get(deployment=deployment))
    assert report.status == "ok" and report.current_rows == 78 and report.version == version
    assert report.reference == dataset_version
    rows = {f.feature: f for f in report.features.all()}
    assert set(rows) == {*[c["name"] for c in version.signature["inputs"]], "prediction"}
    income = rows["annual_income"]
    reference = experiment_services.load_frame(dataset_version)["annual_income"].dropna()
    current = frame["annual_income"].iloc[1:-1].dropna()
    assert income.method == "ks" and income.drifted
    assert income.statistic == pytest.approx(stats.ks_2samp(reference, current).statistic, abs=1e-9)
    assert rows["prediction"].is_prediction and rows["prediction"].kind == "categorical"
    assert report.drifted_count == sum(f.drifted for f in rows.values() if not f.is_prediction)

    labelled = Prediction.objects.filter(ground_truth__isnull=False).exclude(role="shadow")
    y_true = [int(p.ground_truth) for p in labelled]
    y_pred = [int(p.prediction) for p in labelled]
    assert report.labelled_rows == 39
    assert report.performance["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert report.performance["f1"] == pytest.approx(f1_score(y_true, y_pred, pos_label=1, zero_division=0))
    assert report.baseline["f1"] == pytest.approx(version.metrics["f1"])
    assert Monitor.objects.get(deployment=deployment).last_run_at == report.window_end


def test_an_empty_window_is_a_report_that_says_not_enough_data(deployed):
    deployment, version, dataset_version = deployed
    serve(deployment, inputs_of(version, dataset_version).head(5), served_at=timezone.now() - timedelta(days=3))
    report = services.run_monitor(Monitor.objects.get(deployment=deployment))
    assert report.status == "not enough data" and report.current_rows == 0
    assert "at least 30" in report.message and not report.features.exists()
    monitor = services.update_monitor(
        Monitor.objects.get(deployment=deployment),
        {"window_hours": None, "window_predictions": 5, "min_rows": 5},
        actor=None,
    )
    report = services.run_monitor(monitor)  # the last 5 predictions, however old
    assert report.status == "ok" and report.current_rows == 5


def test_monitor_api_read_change_run_and_reports(deployed, scientist, reviewer, django_capture_on_commit_callbacks):
    deployment, version, dataset_version = deployed
    serve(deployment, inputs_of(version, dataset_version).head(40))
    monitor = Monitor.objects.get(deployment=deployment)
    client = token_client(scientist)
    body = client.get(f"/api/monitors/{monitor.pk}/").json()
    assert body["deployment"] == "production/credit-default" and body["latest_report"] is None

    for bad in (
        {"window_hours": 0},
        {"window_hours": 5, "window_predictions": 100},
        {"methods": {"numeric": "chisquare"}},
        {"thresholds": {"ks": 2}},
        {"every_minutes": "soon"},
        {"reference": 999_999},
        {"share": 1.5},
        {"methods": {"annual_income": "chisquare"}},
        {"methods": {"prediction": "ks"}},
        {"methods": {"no_such_input": "ks"}},
    ):
        response = client.patch(f"/api/monitors/{monitor.pk}/", bad, format="json")
        assert response.status_code == 400, (bad, response.json())
    assert Monitor.objects.get(pk=monitor.pk).window_hours == 24  # nothing changed

    changed = client.patch(
        f"/api/monitors/{monitor.pk}/", {"methods": {"numeric": "psi"}, "min_rows": 10}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["methods"] == {"numeric": "psi"}
    assert (
        token_client(reviewer).patch(f"/api/monitors/{monitor.pk}/", {"min_rows": 3}, format="json").status_code == 403
    )
    assert token_client(reviewer).post(f"/api/monitors/{monitor.pk}/run/").status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(f"/api/monitors/{monitor.pk}/run/")
    assert started.status_code == 202 and started.json()["status"] in {"queued", "succeeded"}
    reports = client.get(f"/api/drift-reports/?monitor={monitor.pk}").json()["results"]
    assert len(reports) == 1 and reports[0]["status"] == "ok" and reports[0]["current_rows"] == 40
    detail = client.get(f"/api/drift-reports/{reports[0]['id']}/").json()
    numeric = [f for f in detail["features"] if f["kind"] == "numeric" and not f["is_prediction"]]
    assert numeric and {f["method"] for f in numeric} == {"psi"}
    assert client.get("/api/drift-reports/?monitor=x").status_code == 400
    assert client.get("/api/drift-reports/999999/").status_code == 404
    assert token_client(reviewer).get(f"/api/drift-reports/{reports[0]['id']}/").status_code == 200


def test_the_schedule_queues_only_the_monitors_that_are_due(deployed, django_capture_on_commit_callbacks):
    deployment, _, _ = deployed
    monitor = Monitor.objects.get(deployment=deployment)
    now = timezone.now()
    Monitor.objects.filter(pk=monitor.pk).update(last_run_at=now - timedelta(minutes=30), every_minutes=60)
    assert services.run_due_monitors(now) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert services.run_due_monitors(now + timedelta(minutes=31)) == 1
    assert DriftReport.objects.filter(monitor=monitor).count() == 1  # ran (not enough data: no traffic)
    assert services.run_due_monitors(now + timedelta(minutes=32)) == 0
    Monitor.objects.all().delete()  # a deployment from before monitoring existed
    services.run_due_monitors(now + timedelta(minutes=33))
    assert Monitor.objects.filter(deployment=deployment).exists()


def test_reference_predictions_follow_the_served_model(deployed):
    _, version, dataset_version = deployed
    reference = inputs_of(version, dataset_version)
    predicted = monitors._reference_predictions(version, reference, classifier=True)
    pipeline = experiment_services.load_pipeline(version.artifact)
    assert list(predicted) == [v.item() if isinstance(v, np.generic) else v for v in pipeline.predict(reference)]


def test_monitor_pages_show_the_latest_report_and_history(deployed, client, scientist, reviewer):
    deployment, version, dataset_version = deployed
    monitor = Monitor.objects.get(deployment=deployment)
    client.force_login(scientist)
    empty = client.get(f"/monitoring/monitors/{monitor.pk}/").content.decode()
    assert "No report yet" in empty and "Run now" in empty
    serve(deployment, inputs_of(version, dataset_version).head(40))
    services.run_monitor(monitor)
    page = client.get(f"/monitoring/monitors/{monitor.pk}/").content.decode()
    assert "annual_income" in page and "the prediction" in page and "Performance of the 0 labelled" in page
    assert "drift-chart" not in page and "from the second report on" in page  # one report is not a trend
    services.run_monitor(monitor)
    page = client.get(f"/monitoring/monitors/{monitor.pk}/").content.decode()
    assert "drift-chart" in page and "performance-chart" not in page  # nothing labelled yet
    Prediction.objects.update(ground_truth=0)
    services.run_monitor(monitor)
    response = client.get(f"/monitoring/monitors/{monitor.pk}/")
    assert "performance-chart" in response.content.decode()
    figure = response.context["drift_chart"]
    income = next(trace for trace in figure.data if trace.name == "annual_income")
    rows = FeatureDrift.objects.filter(feature="annual_income").order_by("report__created_at", "report_id")
    expected = [charts.ratio(r.method, r.statistic, r.p_value, r.threshold) for r in rows]
    assert list(income.y) == pytest.approx(expected)
    overview = client.get("/monitoring/").content.decode()
    assert f"/monitoring/monitors/{monitor.pk}/" in overview and "credit-default in production" in overview
    client.force_login(reviewer)
    assert "Run now" not in client.get(f"/monitoring/monitors/{monitor.pk}/").content.decode()
    response = client.post(f"/monitoring/monitors/{monitor.pk}/run/")
    assert response.status_code == 302 and DriftReport.objects.filter(monitor=monitor).count() == 3


def test_the_demo_shifts_production_traffic_and_the_monitor_sees_it(deployed, django_capture_on_commit_callbacks):
    from monitoring import demo
    from monitoring.models import Alert, Retraining

    deployment, version, dataset_version = deployed
    started = timezone.now().isoformat()
    assert demo.drift_and_report(started) == "waiting for the demo traffic"
    serve(
        deployment,
        inputs_of(version, dataset_version).sample(200, random_state=0),
        served_at=timezone.now() - timedelta(hours=12),
    )
    Prediction.objects.update(request_id="demo-production-1")
    assert demo.drift_and_report(started) == "waiting for the demo traffic"  # the replay has not reached now
    latest = Prediction.objects.order_by("created_at").last()
    Prediction.objects.filter(pk=latest.pk).update(created_at=timezone.now() - timedelta(minutes=20))
    with django_capture_on_commit_callbacks(execute=True):
        message = demo.drift_and_report(started)
    assert message.startswith("1 drift reports")
    monitor = Monitor.objects.get(deployment=deployment)
    history = list(monitor.reports.order_by("created_at"))
    assert len(history) == demo.HISTORY_HOURS // demo.HISTORY_STEP_HOURS + 1
    # Six-hour windows: the replayed rows of 12 hours ago are seen by the reports of 12, 10 and 8 hours ago,
    # the shifted traffic of the last six hours by those of 4 and 2 hours ago and now; the rest lack rows.
    assert [r.status for r in history].count("ok") == 6
    report = history[-1]
    drifted = set(report.features.filter(drifted=True).values_list("feature", flat=True))
    assert {"annual_income", "credit_score"} <= drifted
    assert report.current_rows == demo.SHIFTED_REQUESTS + 1 and report.labelled_rows > 50  # the six-hour window
    # One alert (the drift; accuracy and latency stay within their rules), and the loop it started.
    assert list(Alert.objects.values_list("rule__name", "status")) == [("Inputs drifted", "open")]
    retraining = Retraining.objects.get()
    assert retraining.status == "requested", retraining.error
    assert retraining.promotion.status == "pending" and retraining.promotion.version.number == 2
    assert demo.drift_and_report(started) == "drift reports exist already"
