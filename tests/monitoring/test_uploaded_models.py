"""Monitoring of versions trained outside the site: drift against the training dataset version when the version's
run names it, else against the model's evaluation set, else a clear "no reference"; prediction drift scored by
the uploaded model itself (ONNX or skops); performance from ground truth. Models are made in the tests."""

import pytest
from scipy import stats
from sklearn.metrics import accuracy_score

from deployments.models import Prediction
from monitoring import services
from monitoring.models import Monitor
from monitoring.services import monitors
from registry.models import RegisteredModel
from tests.builders import serve
from tests.deployments import uploaded

pytestmark = pytest.mark.django_db


def served_with_truth(deployment, data, labelled: int) -> list[str]:
    ids = serve(deployment, data[uploaded.COLUMNS])
    for prediction_id, label in zip(ids[:labelled], data[uploaded.TARGET].head(labelled), strict=True):
        Prediction.objects.filter(pk=prediction_id).update(ground_truth=label)
    return ids


def set_evaluation(model, dataset_version) -> None:
    RegisteredModel.objects.filter(pk=model.pk).update(
        gates={"evaluation": {"dataset_version": dataset_version.pk, "target": uploaded.TARGET}}
    )


def test_a_skops_version_drifts_against_its_training_data_and_is_scored_on_ground_truth(made, admin_user):
    deployment = made.deploy(made.skops, admin_user)
    window = uploaded.frame(rows=60, seed=21, shift=15.0)  # richer callers than in training
    ids = served_with_truth(deployment, window, labelled=40)
    report = services.run_monitor(Monitor.objects.get(deployment=deployment))
    assert report.status == "ok", report.message
    assert report.version == made.skops and report.reference == made.training and report.current_rows == 60
    rows = {f.feature: f for f in report.features.all()}
    assert set(rows) == {*uploaded.COLUMNS, "prediction"}
    reference = uploaded.frame()["income"]
    assert rows["income"].drifted and rows["income"].method == "ks"
    assert rows["income"].statistic == pytest.approx(stats.ks_2samp(reference, window["income"]).statistic, abs=1e-9)
    assert rows["prediction"].is_prediction and rows["prediction"].kind == "categorical"
    assert not rows["age"].drifted

    served = Prediction.objects.filter(pk__in=ids[:40])
    truth = [p.ground_truth for p in served]
    assert report.labelled_rows == 40
    assert report.performance["accuracy"] == pytest.approx(accuracy_score(truth, [p.prediction for p in served]))


def test_an_onnx_version_without_training_data_drifts_against_its_models_evaluation_set(
    made, scientist, admin_user, django_capture_on_commit_callbacks
):
    deployment = made.deploy(made.onnx, admin_user)
    monitor = Monitor.objects.get(deployment=deployment)
    window = uploaded.frame(rows=50, seed=22, shift=15.0)
    window[uploaded.TARGET] = uploaded.frame(rows=50, seed=22)[uploaded.TARGET]  # both classes among the labels
    served_with_truth(deployment, window, labelled=30)

    # No run input and no evaluation set: a report that says what is missing, not a failure.
    empty = services.run_monitor(monitor)
    assert empty.status == "not enough data" and empty.reference is None
    assert "no training data or evaluation set" in empty.message

    evaluation = uploaded.dataset_version(
        "churn evaluation",
        uploaded.frame(rows=200, seed=23),
        actor=scientist,
        capture=django_capture_on_commit_callbacks,
    )
    set_evaluation(made.model, evaluation)
    report = services.run_monitor(Monitor.objects.get(pk=monitor.pk))
    assert report.status == "ok", report.message
    assert report.version == made.onnx and report.reference == evaluation and report.reference_rows == 200
    rows = {f.feature: f for f in report.features.all()}
    assert set(rows) == {*uploaded.COLUMNS, "prediction"}  # the target column is not an input
    assert rows["income"].drifted
    assert rows["prediction"].is_prediction and rows["prediction"].reference_rows == 200  # scored by onnxruntime
    assert report.labelled_rows == 30 and 0 <= report.performance["accuracy"] <= 1
    assert "roc_auc" in report.performance  # the ONNX version's probabilities, keyed by the signature's labels


def test_the_training_data_wins_over_the_evaluation_set_and_a_broken_setting_is_no_reference(
    made, scientist, django_capture_on_commit_callbacks
):
    evaluation = uploaded.dataset_version(
        "churn evaluation",
        uploaded.frame(rows=50, seed=24),
        actor=scientist,
        capture=django_capture_on_commit_callbacks,
    )
    set_evaluation(made.model, evaluation)
    made.onnx.model.refresh_from_db()
    assert monitors.default_reference(made.skops) == made.training
    assert monitors.default_reference(made.onnx) == evaluation
    for gates in ({}, {"evaluation": None}, {"evaluation": {"dataset_version": "x"}}, {"evaluation": 3}, []):
        RegisteredModel.objects.filter(pk=made.model.pk).update(gates=gates)
        made.onnx.model.refresh_from_db()
        assert monitors.default_reference(made.onnx) is None
    RegisteredModel.objects.filter(pk=made.model.pk).update(gates={"evaluation": {"dataset_version": 10**9}})
    made.onnx.model.refresh_from_db()
    assert monitors.default_reference(made.onnx) is None


def test_an_onnx_file_uploaded_with_its_training_data_serves_and_drifts_against_that_data(made, scientist, admin_user):
    """Through the upload service (the multipart API's): the file, its signature and its training data."""
    import json

    from django.core.files.uploadedfile import SimpleUploadedFile

    from registry import services as registry_services
    from tests.builders import token_client

    data = uploaded.onnx_export(made.boosted, uploaded.frame()[uploaded.COLUMNS])
    version = registry_services.upload_version(
        made.model,
        {
            "file": SimpleUploadedFile("boosted.onnx", data),
            "signature": json.dumps(uploaded.SIGNATURE),
            "training_dataset_version": made.training.pk,
            "target": uploaded.TARGET,
        },
        actor=scientist,
    )
    assert (version.number, version.format) == (3, "onnx")
    deployment = made.deploy(version, admin_user)
    window = uploaded.frame(rows=40, seed=25, shift=15.0)
    response = token_client(scientist).post(
        f"/api/deployments/production/{uploaded.MODEL}/predict", {"records": uploaded.records(window)}, format="json"
    )
    assert response.status_code == 200, response.json()
    answers = response.json()["predictions"]
    assert [a["prediction"] for a in answers] == made.boosted.predict(window[uploaded.COLUMNS]).tolist()
    report = services.run_monitor(Monitor.objects.get(deployment=deployment))
    assert report.status == "ok", report.message
    assert report.version == version and report.reference == made.training
    assert {f.feature for f in report.features.all() if f.drifted} >= {"income"}
