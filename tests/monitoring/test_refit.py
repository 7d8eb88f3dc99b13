"""Retraining without the site's catalogue (issue 16): a scikit-learn version made elsewhere is refit by
clone + fit on the new data; an ONNX version cannot be, and its policy is refused when it is saved.

The model is made in the test, as in a notebook: a GradientBoostingClassifier (not in the catalogue) in a
ColumnTransformer pipeline, saved with skops and logged as a run's artifact with its signature and the
run's target/task params, which is how a file made elsewhere is registered today.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import skops.io as sio
from django.core.exceptions import ValidationError
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from experiments import model_files, selectors
from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from experiments.models import Run
from experiments.services import training as training_services
from monitoring import services
from monitoring.models import Alert, Retraining
from registry import services as registry_services
from registry.models import ModelVersion, PromotionRequest
from tests.builders import serve, token_client, upload
from tests.experiments.test_model_files import onnx_export
from tests.monitoring.test_alerts import shifted
from tests.monitoring.test_retraining import label

pytestmark = pytest.mark.django_db
NUMERIC = ["credit_score", "debt_to_income", "annual_income", "loan_amount"]
CATEGORICAL = ["home_ownership", "region"]
FEATURES = NUMERIC + CATEGORICAL


def boosted_pipeline() -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("num", SimpleImputer(strategy="median"), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ]
    )
    return Pipeline([("prep", prepare), ("model", GradientBoostingClassifier(n_estimators=25, max_depth=2))])


def log_model(experiment, training_data, data: bytes, signature: dict, *, actor) -> Run:
    """A run logged from outside: its params, the model file and signature at the paths registration reads."""
    run = experiment_services.create_run(
        experiment, actor=actor, name="notebook", input_versions=[training_data.pk], source=Run.Source.LOGGED
    )
    experiment_services.log_batch(run, actor=actor, params={"target": "defaulted", "task": signature["output"]["task"]})
    experiment_services.upload_artifact(run, upload("pipeline.skops", data), actor=actor, path="model/pipeline.skops")
    experiment_services.upload_artifact(
        run, upload("signature.json", json.dumps(signature).encode()), actor=actor, path="model/signature.json"
    )
    return experiment_services.finish_run(run, actor=actor)


@pytest.fixture
def made_elsewhere(credit, scientist):
    """(registered model, its v1, the fitted pipeline, training data): the boosted pipeline, registered."""
    experiment, training_data = credit
    frame = experiment_services.load_frame(training_data)
    fitted = boosted_pipeline().fit(frame[FEATURES], frame["defaulted"].astype(int))
    signature = model_files.infer_signature(frame[FEATURES], model=fitted, task="classification")
    run = log_model(experiment, training_data, sio.dumps(fitted), signature, actor=scientist)
    model = registry_services.create_model(name="credit-boosted", actor=scientist)
    version = registry_services.register_version(model, run, actor=scientist)
    assert not version.run.training_request  # not trained here: no recipe of the catalogue
    return model, version, fitted, training_data


@pytest.fixture
def new_data(credit, scientist, django_capture_on_commit_callbacks):
    """Another extract of the same table: the data the retraining refits on."""
    _, training_data = credit
    frame = credit_scoring_frame(rows=500, seed=11).drop(columns=["customer_id"])
    frame = frame[frame["defaulted"].notna() & (frame["age"] < 200)].drop_duplicates()
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = experiment_services.upload_version(
            training_data.dataset,
            upload(content=frame.to_csv(index=False).encode()),
            actor=scientist,
            target="defaulted",
        )
    return version


def test_a_version_made_elsewhere_is_refit_on_new_data_and_asked_for_review(
    made_elsewhere, new_data, scientist, django_capture_on_commit_callbacks
):
    model, version, fitted, _ = made_elsewhere
    services.put_policy(model, {"data": "dataset_version", "dataset_version": new_data.pk}, actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        retraining = services.retrain_now(model, actor=scientist)
    retraining.refresh_from_db()

    assert retraining.status == Retraining.Status.REQUESTED, retraining.error
    # The run: a real run of this site, fitted by refit on the policy's data, tagged with what it refits.
    run = retraining.run
    assert run.status == Run.Status.FINISHED and run.source == Run.Source.TRAINED
    assert run.tags["refit_of"] == "v1" and not run.training_request
    assert list(run.input_versions.all()) == [new_data] and run.experiment == version.run.experiment
    params = dict(run.params.values_list("key", "value"))
    assert params["target"] == "defaulted" and params["task"] == "classification"
    assert params["algorithm"] == "GradientBoostingClassifier" and params["n_estimators"] == "25"
    # The model: the same estimator and parameters, learnt again from the new rows.
    refit = training_services.load_pipeline(run.artifacts.get(path="model/pipeline.skops"))
    assert isinstance(refit.named_steps["model"], GradientBoostingClassifier)
    assert refit.get_params(deep=False).keys() == fitted.get_params(deep=False).keys()
    assert refit.named_steps["model"].get_params() == fitted.named_steps["model"].get_params()
    assert refit.named_steps["model"].n_estimators_ == 25 and refit is not fitted
    # Its metrics are the refit model's on its holdout of the new data, which the gates read back.
    holdout = training_services.holdout_of(run)
    assert holdout.version == new_data and holdout.target == "defaulted" and holdout.task == "classification"
    expected = f1_score(holdout.y, refit.predict(holdout.frame[FEATURES]), pos_label=1)
    metrics = selectors.latest_metrics(run)
    assert metrics["f1"] == pytest.approx(expected, abs=1e-12)
    data = experiment_services.load_frame(new_data)
    assert len(holdout.frame) == int(np.ceil(0.2 * data["defaulted"].notna().sum()))
    assert not np.isclose(expected, f1_score(holdout.y, fitted.predict(holdout.frame[FEATURES]), pos_label=1))
    # The version: v2, computed here, with "refit of v1" in its lineage; and the request, for a human.
    new = retraining.version
    assert new.number == 2 and new.run == run and new.metrics_source == "platform"
    assert new.metrics["f1"] == pytest.approx(expected, abs=1e-12)
    assert new.lineage["refit_of"] == {
        "version": 1,
        "sha256": version.sha256,
        "run": version.run_id,
        "label": "refit of v1",
    }
    assert [c["name"] for c in new.signature["inputs"]] == [c["name"] for c in version.signature["inputs"]]
    promotion = retraining.promotion
    assert promotion.version == new and promotion.stage == "staging" and promotion.requested_by == scientist
    assert promotion.status == PromotionRequest.Status.PENDING
    assert "Refit of v1" in promotion.justification and "Refit of v1" in new.description

    # v2 has no recipe of the catalogue either: retraining it refits it in turn; the same twice is refused.
    def turn():
        again = Retraining.objects.create(model=model, trigger="manual", base_version=new)
        with django_capture_on_commit_callbacks(execute=True):
            services.run_retraining(again)
        again.refresh_from_db()
        return again

    second = turn()
    assert second.status == Retraining.Status.REQUESTED, second.error
    assert second.run.tags["refit_of"] == "v2" and second.version.number == 3
    assert second.version.lineage["refit_of"]["version"] == 2
    assert "Nothing new" in turn().error  # v2 on the same data again, as for a site-trained recipe


def test_a_drift_alert_refits_the_served_version_on_its_training_data_and_production_rows(
    made_elsewhere, scientist, admin_user, django_capture_on_commit_callbacks
):
    from deployments import services as deployment_services
    from deployments import serving
    from deployments.models import Deployment, Environment

    model, version, _, training_data = made_elsewhere
    environment = Environment.objects.get(name="production")
    deployment_services.deploy(environment, version, actor=admin_user, override=True, reason="a refit test")
    serving.cache.clear()
    serving.deployments.clear()
    deployment = Deployment.objects.get(environment=environment)
    services.put_policy(model, {"min_labelled_rows": 20}, actor=scientist)
    monitor = services.update_monitor(deployment.monitor, {"window_predictions": 60, "window_hours": None}, actor=None)
    services.create_rule(
        monitor, {"name": "drift", "metric": "drift_share", "comparison": "gte", "threshold": 0.1}, actor=scientist
    )
    ids = serve(deployment, shifted(version, training_data))
    label(deployment, training_data, ids[:40])
    with django_capture_on_commit_callbacks(execute=True):
        services.run_monitor(monitor)

    alert = Alert.objects.get()
    retraining = Retraining.objects.get()
    assert retraining.alert == alert and retraining.base_version == version
    assert retraining.status == Retraining.Status.REQUESTED, retraining.error
    assert retraining.production_rows == 40 and retraining.dataset_version.parent == training_data
    assert retraining.run.tags["refit_of"] == "v1" and retraining.version.lineage["refit_of"]["version"] == 1
    assert f"alert #{alert.pk}" in retraining.promotion.justification


def test_a_refit_that_cannot_fit_fails_the_retraining_with_the_reason(
    made_elsewhere, credit, scientist, django_capture_on_commit_callbacks
):
    model, _, _, _ = made_elsewhere
    dataset = credit[1].dataset
    lacking = credit_scoring_frame(rows=100, seed=4).drop(columns=["customer_id", "region"])
    with django_capture_on_commit_callbacks(execute=True):
        other, _ = experiment_services.upload_version(
            dataset, upload(content=lacking.to_csv(index=False).encode()), actor=scientist
        )
    with pytest.raises(ValidationError) as refused:  # the named data lacks an input: refused when saved
        services.put_policy(model, {"data": "dataset_version", "dataset_version": other.pk}, actor=scientist)
    assert "region" in refused.value.message_dict["dataset_version"][0]


def onnx_version(credit, scientist) -> ModelVersion:
    """A version whose file is an ONNX export (skl2onnx) of a pipeline made in the test."""
    experiment, training_data = credit
    frame = experiment_services.load_frame(training_data)
    X = frame[NUMERIC].astype("float32").fillna(0)
    prepare = ColumnTransformer([("num", SimpleImputer(strategy="median"), NUMERIC)])
    pipeline = Pipeline([("prep", prepare), ("model", LogisticRegression(max_iter=500))])
    pipeline.fit(X, frame["defaulted"].astype(int))
    signature = model_files.infer_signature(X, model=pipeline, task="classification")
    run = log_model(experiment, training_data, onnx_export(pipeline, X), signature, actor=scientist)
    model = registry_services.create_model(name="credit-onnx", actor=scientist)
    version = registry_services.register_version(model, run, actor=scientist)
    assert version.format == "onnx"  # read from the file's bytes
    return version


def test_the_policy_of_an_onnx_version_is_refused_when_saved_not_when_an_alert_fires(credit, scientist):
    version = onnx_version(credit, scientist)
    message = (
        "v1 is an ONNX model, which cannot be refit here; retrain it where it was made and upload the new version."
    )
    with pytest.raises(ValidationError) as refused:
        services.put_policy(version.model, {"min_labelled_rows": 10}, actor=scientist)
    assert refused.value.message_dict == {"enabled": [message]}

    client = token_client(scientist)
    url = f"/api/models/{version.model.name}/retraining-policy/"
    for method in (client.put, client.patch):
        response = method(url, {"enabled": True}, format="json")
        assert response.status_code == 400 and message in json.dumps(response.json()["errors"]["enabled"])
    assert not services.policy_of(version.model).pk

    # Off, the policy may be kept; asking for a retraining by hand is refused with the same reason.
    services.put_policy(version.model, {"enabled": False}, actor=scientist)
    with pytest.raises(ValidationError) as by_hand:
        services.retrain_now(version.model, actor=scientist)
    assert by_hand.value.message_dict == {"policy": [message]}
    assert not Retraining.objects.exists()
