"""Issue 16's proof: a classifier trained outside the site goes round the whole loop like one trained here.

Upload → gates on an evaluation set (a site-trained champion in production, both scored on the same rows)
→ a reviewer approves → deployed → predict over the API → ground truth → monitor report → drift alert →
refit → new version → promotion request. The model is a `GradientBoostingClassifier` inside a
`ColumnTransformer` pipeline made here, which the site's catalogue does not offer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from deployments import serving
from deployments.models import Deployment, Prediction
from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from monitoring import services as monitoring_services
from monitoring.models import Alert, Retraining
from registry import services as registry_services
from registry.models import ModelVersion, PromotionRequest
from tests.builders import token_client, upload
from tests.registry.test_promotions import gate, promote, request_for  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

NUMERIC = ["age", "annual_income", "employment_years", "loan_amount", "credit_score", "debt_to_income"]
CATEGORICAL = ["home_ownership", "purpose", "region"]


def notebook_model(frame: pd.DataFrame, features: list[str]) -> Pipeline:
    """Fitted on every input column production takes (so it can replace it), using the ones it wants."""
    text = Pipeline(
        [
            ("fill", SimpleImputer(strategy="constant", fill_value="missing")),
            ("encode", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    prep = ColumnTransformer(
        [("num", SimpleImputer(strategy="median"), NUMERIC), ("cat", text, CATEGORICAL)], remainder="drop"
    )
    pipeline = Pipeline([("prep", prep), ("model", GradientBoostingClassifier(n_estimators=30, random_state=0))])
    labelled = frame[frame["defaulted"].notna()]
    return pipeline.fit(labelled[features], labelled["defaulted"].astype(int))


def dataset_version(name: str, frame: pd.DataFrame, actor, callbacks):
    dataset = experiment_services.create_dataset(name=name, actor=actor)
    with callbacks(execute=True):
        version, _ = experiment_services.upload_version(
            dataset, upload(content=frame.to_csv(index=False).encode()), actor=actor, target="defaulted"
        )
    version.refresh_from_db()
    return version


def test_a_notebook_model_goes_round_the_whole_loop(
    scientist,
    reviewer,
    credit,
    request_for,  # noqa: F811  (the fixture imported above)
    django_capture_on_commit_callbacks,
):
    callbacks = django_capture_on_commit_callbacks
    experiment, training_data = credit
    # A champion trained here, approved into production (the production environment follows the stage).
    with callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, training_data, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    model = registry_services.create_model(name="credit-default", actor=scientist)
    champion = registry_services.register_version(model, run, actor=scientist)
    promote(champion, request_for, reviewer, callbacks)
    serving.cache.clear()
    serving.deployments.clear()
    deployment = Deployment.objects.get(environment__name="production", model=model)
    assert deployment.primary == champion

    # The evaluation set: rows neither model was fitted on.
    evaluation_frame = credit_scoring_frame(rows=500, seed=23).drop(columns=["customer_id"])
    evaluation_frame = evaluation_frame[evaluation_frame["defaulted"].notna()]
    evaluation = dataset_version("credit-evaluation", evaluation_frame, scientist, callbacks)
    # A wide tolerance: this test is about where the rows come from, not which model wins.
    registry_services.update_model(
        model,
        {
            "gates": {
                "evaluation": {"dataset_version": evaluation.pk, "target": "defaulted"},
                "champion": {"metric": "f1", "tolerance": 0.5},
            }
        },
        actor=scientist,
    )

    # Upload the notebook's model over the API, with a sample to infer its signature from.
    frame = experiment_services.load_frame(training_data)
    features = [c["name"] for c in champion.signature["inputs"]]
    pipeline = notebook_model(frame, features)
    sample = frame[features].head(20).to_csv(index=False).encode()
    response = token_client(scientist).post(
        f"/api/models/{model.name}/versions/",
        {
            "file": SimpleUploadedFile("model.skops", sio.dumps(pipeline)),
            "sample": SimpleUploadedFile("sample.csv", sample),
            "training_dataset_version": training_data.pk,
            "target": "defaulted",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    uploaded = ModelVersion.objects.get(model=model, number=response.json()["number"])

    # Gates: both versions scored on exactly the evaluation rows.
    promotion = request_for(uploaded, "production")
    assert promotion.gates_status == "pass", promotion.gates
    champion_gate = gate(promotion, "champion_challenger")
    rows = evaluation_frame[features]
    truth = evaluation_frame["defaulted"].astype(int)
    champion_pipeline = experiment_services.load_pipeline(champion.artifact, champion.signature)
    champion_columns = [c["name"] for c in champion.signature["inputs"]]
    expected_candidate = f1_score(truth, pipeline.predict(rows))
    expected_champion = f1_score(truth, champion_pipeline.predict(evaluation_frame[champion_columns]).astype(int))
    assert champion_columns == features
    details = champion_gate["details"]
    assert details["candidate"] == pytest.approx(expected_candidate)
    assert details["champion"] == pytest.approx(expected_champion)
    assert promotion.evidence["evaluation"]["dataset_version"] == evaluation.pk
    assert promotion.evidence["evaluation"]["sha256"] == evaluation.sha256

    # A reviewer approves; production now serves the upload.
    with callbacks(execute=True):
        registry_services.approve(promotion, actor=reviewer, comment="same rows, better f1")
    serving.cache.clear()
    serving.deployments.clear()
    deployment.refresh_from_db()
    assert deployment.primary == uploaded

    # Predict over the API: the notebook model's own answers.
    served = evaluation_frame[features].head(60)
    records = served.astype(object).where(served.notna(), None).to_dict("records")
    answer = token_client(scientist).post(
        f"/api/deployments/production/{model.name}/predict", {"records": records}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    predictions = answer.json()["predictions"]
    assert [p["prediction"] for p in predictions] == [int(v) for v in pipeline.predict(served)]
    assert {p["version"] for p in predictions} == {uploaded.number}

    # Ground truth for those rows, then a monitor run with a drift rule on shifted traffic.
    labels = [
        {"prediction_id": p["prediction_id"], "label": int(y)} for p, y in zip(predictions, truth.head(60), strict=True)
    ]
    assert token_client(scientist).post("/api/ground-truth/", labels, format="json").status_code == 200
    monitoring_services.put_policy(model, {"min_labelled_rows": 20, "stage": "staging"}, actor=scientist)
    monitor = monitoring_services.update_monitor(
        deployment.monitor, {"window_predictions": 120, "window_hours": None}, actor=None
    )
    monitoring_services.create_rule(
        monitor, {"name": "drift", "metric": "drift_share", "comparison": "gte", "threshold": 0.1}, actor=scientist
    )
    shifted = evaluation_frame[features].tail(60).copy()
    shifted["annual_income"] = shifted["annual_income"] + 60_000
    shifted["credit_score"] = shifted["credit_score"] - 120
    records = shifted.astype(object).where(shifted.notna(), None).to_dict("records")
    more = (
        token_client(scientist)
        .post(f"/api/deployments/production/{model.name}/predict", {"records": records}, format="json")
        .json()["predictions"]
    )
    Prediction.objects.filter(pk__in=[p["prediction_id"] for p in more]).update(ground_truth=1)
    with callbacks(execute=True):
        report = monitoring_services.run_monitor(monitor)
    assert report.status == "ok" and report.reference_id == training_data.pk, report.status
    assert Alert.objects.filter(rule__monitor=monitor).exists()

    # The alert retrained the upload by refit: a new version and a request for a reviewer.
    retraining = Retraining.objects.get()
    assert retraining.status == "requested", retraining.error
    assert retraining.base_version == uploaded and retraining.run.tags["refit_of"] == f"v{uploaded.number}"
    refit = retraining.version
    assert refit.number == uploaded.number + 1 and "refit of" in str(refit.lineage.get("refit_of"))
    refit_model = experiment_services.load_pipeline(refit.artifact, refit.signature)
    assert isinstance(refit_model.named_steps["model"], GradientBoostingClassifier)
    assert retraining.promotion.version == refit and retraining.promotion.status in (
        PromotionRequest.Status.PENDING,
        PromotionRequest.Status.CHECKING,
    )
    assert np.isfinite(list(refit.metrics.values())).all() and refit.metrics_source == "platform"
