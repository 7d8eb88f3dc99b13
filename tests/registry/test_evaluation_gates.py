"""Gates for every version, wherever trained: a model's evaluation set scores the candidate and production alike.

The champion is trained here and in production; the candidate is a `GradientBoostingClassifier` inside a
`ColumnTransformer` pipeline (not in the site's catalogue), fitted in the test, saved with skops and logged as
a run's `model/pipeline.skops` with its `model/signature.json`, as a file made elsewhere is registered today.
"""

# ruff: noqa: F811  (the fixtures imported from test_promotions are arguments of the tests)

import io
import json

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from mlops_site.errors import Conflict
from registry import services
from registry.forms import GatesForm
from registry.gate_config import default
from tests.builders import credit_csv, token_client, upload
from tests.registry.test_promotions import gate, model, promote, request_for, train  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

NUMERIC = ["age", "annual_income", "employment_years", "loan_amount", "credit_score", "debt_to_income"]
CATEGORICAL = ["home_ownership", "purpose", "region"]
NOT_TRAINED_HERE = "was not trained here, so its holdout rows are unknown: configure an evaluation set on the model"


def fitted_elsewhere(frame: pd.DataFrame) -> Pipeline:
    """A notebook's model: the catalogue has no gradient boosting; it reads the columns it wants and drops the rest."""
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
    pipeline.fit(labelled.drop(columns=["defaulted"]), labelled["defaulted"].astype(int))
    return pipeline


@pytest.fixture
def champion(scientist, reviewer, model, train, request_for, django_capture_on_commit_callbacks):
    version = services.register_version(model, train(), actor=scientist)
    promote(version, request_for, reviewer, django_capture_on_commit_callbacks)
    version.refresh_from_db()
    assert version.stage == "production"
    return version


@pytest.fixture
def candidate(scientist, model, champion):
    """v2: the pipeline above, logged by a script with the champion's signature (the same input columns)."""
    frame = pd.read_csv(io.BytesIO(credit_csv()))
    pipeline = fitted_elsewhere(frame)
    experiment = experiment_services.create_experiment(name="notebook", actor=scientist)
    run = experiment_services.create_run(experiment, actor=scientist, name="gbm in a notebook")
    for path, content in (
        ("model/pipeline.skops", sio.dumps(pipeline)),
        ("model/signature.json", json.dumps(champion.signature).encode()),
    ):
        experiment_services.upload_artifact(run, SimpleUploadedFile("f", content), actor=scientist, path=path)
    experiment_services.log_batch(run, metrics=[{"key": "f1", "value": 0.99}], actor=scientist)
    run = experiment_services.finish_run(run, actor=scientist)
    version = services.register_version(model, run, actor=scientist)
    assert version.metrics_source == "uploader" and version.number == 2
    return version


@pytest.fixture
def evaluation_set(scientist, django_capture_on_commit_callbacks):
    """Fresh labelled rows neither version was trained on."""
    frame = credit_scoring_frame(rows=300, seed=11).drop(columns=["customer_id"])
    frame = frame[frame["age"] < 200]
    dataset = experiment_services.create_dataset(name="credit-fresh", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = experiment_services.upload_version(
            dataset, upload(content=frame.to_csv(index=False).encode()), actor=scientist, target="defaulted"
        )
    return version


def configure(model, actor, evaluation_set=None, **gates):
    config = {**gates}
    if evaluation_set is not None:
        config["evaluation"] = {"dataset_version": evaluation_set.pk, "target": "defaulted"}
    services.update_model(model, {"gates": config}, actor=actor)
    model.refresh_from_db()


def test_without_an_evaluation_set_a_version_trained_elsewhere_is_undecided_not_failed(
    scientist,
    reviewer,
    admin_user,
    model,
    candidate,
    request_for,
):
    configure(model, scientist, thresholds=[{"metric": "f1", "op": ">=", "value": 0.5}])
    promotion = request_for(candidate)

    assert promotion.status == "pending" and promotion.gates_status == "undecided"
    champion_gate = gate(promotion, "champion_challenger")
    assert champion_gate["status"] == "needs_configuration"
    assert champion_gate["message"].startswith(f"{candidate} {NOT_TRAINED_HERE}")
    assert champion_gate["message"].endswith("and re-run the gates.")
    thresholds = gate(promotion, "metric_thresholds")
    assert thresholds["status"] == "pass" and "reported by the uploader" in thresholds["message"]
    assert thresholds["details"]["source"]["kind"] == "uploader"
    assert {g["name"]: g["status"] for g in promotion.gates} | {"champion_challenger": "-"} == {
        "artifact_hash": "pass",
        "metric_thresholds": "pass",
        "signature_compatible": "pass",
        "champion_challenger": "-",
        "fairness": "skipped",
    }

    with pytest.raises(Conflict, match=r"cannot decide yet: .*configure an evaluation set"):
        services.approve(promotion, actor=reviewer, comment="looks fine")
    with pytest.raises(PermissionDenied):
        services.approve(promotion, actor=reviewer, override_reason="trust me")
    promotion.refresh_from_db()
    assert promotion.status == "pending" and not promotion.reviews.exists()
    services.approve(promotion, actor=admin_user, override_reason="measured offline, see the ticket")
    promotion.refresh_from_db()
    assert promotion.status == "approved" and promotion.overridden_by == admin_user


def test_fairness_without_an_evaluation_set_also_waits_for_one(scientist, model, candidate, request_for):
    configure(model, scientist, fairness={"column": "region", "max_gap": 0.5})
    promotion = request_for(candidate)
    assert promotion.gates_status == "undecided"
    assert gate(promotion, "fairness")["status"] == "needs_configuration"


def test_an_evaluation_set_scores_both_versions_on_the_same_rows(
    scientist,
    reviewer,
    model,
    champion,
    candidate,
    evaluation_set,
    request_for,
):
    configure(
        model,
        scientist,
        evaluation_set,
        thresholds=[{"metric": "f1", "op": ">=", "value": 0.05}, {"metric": "accuracy", "op": ">=", "value": 0.5}],
        champion={"metric": "f1", "tolerance": 1.0},
        fairness={"column": "region", "max_gap": 1.0},
    )
    promotion = request_for(candidate)
    assert promotion.gates_status == "pass", promotion.gates

    rows = experiment_services.load_frame(evaluation_set)
    rows = rows[rows["defaulted"].notna()]
    truth = rows["defaulted"].astype(int).to_numpy()
    candidate_pipeline = experiment_services.load_pipeline(candidate.artifact, candidate.signature)
    champion_pipeline = experiment_services.load_pipeline(champion.artifact, champion.signature)
    inputs = [column["name"] for column in champion.signature["inputs"]]
    candidate_predicted = candidate_pipeline.predict(rows[inputs])
    expected = {
        "candidate": f1_score(truth, candidate_predicted),
        "champion": f1_score(truth, champion_pipeline.predict(rows[inputs])),
    }
    assert expected["candidate"] != expected["champion"]

    compared = gate(promotion, "champion_challenger")
    assert compared["details"]["rows"] == len(rows)
    assert compared["details"]["candidate"] == pytest.approx(expected["candidate"])
    assert compared["details"]["champion"] == pytest.approx(expected["champion"])
    facts = {
        "dataset_version": evaluation_set.pk,
        "dataset": "credit-fresh",
        "number": evaluation_set.number,
        "sha256": evaluation_set.sha256,
        "target": "defaulted",
        "rows": len(rows),
        "scored_rows": len(rows),
        "seen_in_training": {"v1": 0},  # the champion's training rows are known, and none is here
    }
    assert promotion.evidence["evaluation"] == facts | {"compared_rows": len(rows)}
    assert compared["details"]["evaluation_set"]["sha256"] == evaluation_set.sha256
    assert (
        f"the evaluation set credit-fresh v{evaluation_set.number} (sha256 {evaluation_set.sha256[:12]}…"
        in (compared["message"])
    )

    thresholds = gate(promotion, "metric_thresholds")
    checks = {check["metric"]: check["actual"] for check in thresholds["details"]["checks"]}
    assert checks["f1"] == pytest.approx(expected["candidate"])  # computed on those rows, not the logged 0.99
    assert checks["accuracy"] == pytest.approx(float(np.mean(candidate_predicted == truth)))
    assert "computed by the platform on the evaluation set credit-fresh" in thresholds["message"]
    assert thresholds["details"]["source"]["sha256"] == evaluation_set.sha256

    fairness = gate(promotion, "fairness")
    groups = {group["group"]: group for group in fairness["details"]["groups"]}
    assert sum(group["n"] for group in groups.values()) == len(rows)
    for region, group in groups.items():
        in_group = (rows["region"].fillna("(missing)").astype(str) == region).to_numpy()
        assert group["positive_rate"] == pytest.approx(float(np.mean(candidate_predicted[in_group] == 1)))
    assert fairness["details"]["evaluation_set"]["dataset_version"] == evaluation_set.pk

    services.approve(promotion, actor=reviewer, comment="better on the shared rows")
    candidate.refresh_from_db()
    assert candidate.stage == "production"


def test_a_failing_threshold_on_the_evaluation_set_fails_although_the_uploader_reported_more(
    scientist,
    model,
    candidate,
    evaluation_set,
    request_for,
):
    configure(model, scientist, evaluation_set, thresholds=[{"metric": "f1", "op": ">=", "value": 0.98}])
    promotion = request_for(candidate)
    assert promotion.gates_status == "fail"
    assert gate(promotion, "metric_thresholds")["status"] == "fail"
    assert candidate.metrics["f1"] == 0.99  # what the uploader logged is not what the gate reads


def test_configuring_an_evaluation_set_and_rerunning_decides_the_request(
    scientist,
    reviewer,
    model,
    candidate,
    evaluation_set,
    request_for,
    django_capture_on_commit_callbacks,
):
    promotion = request_for(candidate)
    assert promotion.gates_status == "undecided"
    configure(model, scientist, evaluation_set, champion={"metric": "f1", "tolerance": 1.0})
    with django_capture_on_commit_callbacks(execute=True):
        services.rerun_gates(promotion, actor=scientist)
    promotion.refresh_from_db()
    assert promotion.gates_status == "pass", promotion.gates
    assert gate(promotion, "champion_challenger")["details"]["rows"] > 0
    services.approve(promotion, actor=reviewer)
    promotion.refresh_from_db()
    assert promotion.status == "approved"


def test_a_site_trained_candidate_without_an_evaluation_set_keeps_its_holdout(
    scientist,
    model,
    champion,
    train,
    request_for,
):
    version = services.register_version(model, train("random_forest"), actor=scientist)
    promotion = request_for(version)
    assert "evaluation" not in promotion.evidence and promotion.evidence["holdout"]["rows"] > 0
    assert gate(promotion, "champion_challenger")["status"] in ("pass", "fail")
    assert "evaluation set" not in gate(promotion, "champion_challenger")["message"]


def test_the_evaluation_set_is_checked_when_it_is_saved(scientist, model, evaluation_set):
    cases = {
        "gates.evaluation.dataset_version": {"dataset_version": 987654, "target": "defaulted"},
        "gates.evaluation.target": {"dataset_version": evaluation_set.pk, "target": "no_such_column"},
    }
    for key, evaluation in cases.items():
        with pytest.raises(ValidationError) as caught:
            services.update_model(model, {"gates": {"evaluation": evaluation}}, actor=scientist)
        assert list(caught.value.message_dict) == [key], caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.update_model(
            model,
            {"gates": {"evaluation": {"dataset_version": evaluation_set.pk}, "fairness": {"column": "nope"}}},
            actor=scientist,
        )
    assert "gates.fairness.column" in caught.value.message_dict

    answer = token_client(scientist).patch(
        f"/api/models/{model.name}/", {"gates": {"evaluation": {"dataset_version": evaluation_set.pk}}}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["gates"]["evaluation"] == {"dataset_version": evaluation_set.pk, "target": "defaulted"}
    assert (
        token_client(scientist)
        .patch(f"/api/models/{model.name}/", {"gates": {"evaluation": None}}, format="json")
        .json()["gates"]["evaluation"]
        is None
    )
    assert default()["evaluation"] is None


def test_the_gates_form_sets_and_clears_the_evaluation_set(client, scientist, model, evaluation_set):
    client.force_login(scientist)
    form = {"tolerance": "0.01", "max_gap": "0.1", "approvals_staging": "1", "approvals_production": "1"}
    answer = client.post(
        f"/models/{model.name}/gates/",
        form | {"evaluation_dataset_version": evaluation_set.pk, "evaluation_target": ""},
    )
    assert answer.status_code == 302
    model.refresh_from_db()
    assert model.gates["evaluation"] == {"dataset_version": evaluation_set.pk, "target": "defaulted"}
    page = client.get(model.get_absolute_url()).content.decode()
    assert f"dataset version #{evaluation_set.pk}" in page and "credit-fresh v1" in page
    assert GatesForm.from_config(model.gates).initial["evaluation_dataset_version"] == evaluation_set.pk
    client.post(f"/models/{model.name}/gates/", form)
    model.refresh_from_db()
    assert model.gates["evaluation"] is None


def test_rows_a_version_trained_here_learnt_from_are_left_out_of_the_evaluation_set(
    scientist, model, champion, train, credit, request_for
):
    """The evaluation set is the champion's own training data: only rows neither version was fitted on are scored."""
    _, dataset_version = credit
    candidate = services.register_version(model, train("random_forest"), actor=scientist)
    configure(model, scientist, dataset_version, champion={"metric": "f1", "tolerance": 1.0})
    promotion = request_for(candidate)
    facts = promotion.evidence["evaluation"]
    assert facts["seen_in_training"]["v1"] > 0 and facts["seen_in_training"]["v2"] > 0
    assert 0 < facts["scored_rows"] < facts["rows"]
    compared = gate(promotion, "champion_challenger")
    assert compared["details"]["rows"] == facts["scored_rows"] == facts["compared_rows"]
    assert f"{facts['scored_rows']} rows)" in compared["message"]
