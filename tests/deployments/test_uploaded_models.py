"""Versions trained outside the site serve like trained ones: an ONNX export and a skops pipeline the catalogue
does not offer answer over the REST API with their own predictions, validate against their signature, take
part in canary and shadow, are logged and take ground truth. Models are made in the tests (uploaded.py)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from deployments import fastpath, services, serving
from deployments.models import Prediction
from experiments import model_files
from experiments import services as experiment_services
from experiments.training import as_float
from tests.builders import token_client
from tests.deployments import uploaded

pytestmark = pytest.mark.django_db
URL = f"/api/deployments/production/{uploaded.MODEL}/predict"


def ask(scientist, batch, **extra):
    response = token_client(scientist).post(URL, {"records": batch, **extra}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["predictions"]


def test_both_files_register_as_versions_of_their_format(made):
    assert (made.onnx.number, made.onnx.format) == (1, "onnx")
    assert (made.skops.number, made.skops.format) == (2, "skops")
    model = experiment_services.load_pipeline(made.onnx.artifact, made.onnx.signature)
    assert isinstance(model, model_files.OnnxModel) and list(model.classes_) == uploaded.CLASSES


def test_an_onnx_version_predicts_over_the_api_like_the_pipeline_it_was_exported_from(made, scientist, admin_user):
    deployment = made.deploy(made.onnx, admin_user)
    test = uploaded.frame(rows=30, seed=5)
    answers = ask(scientist, uploaded.records(test))
    assert [a["version"] for a in answers] == [1] * 30
    assert [a["prediction"] for a in answers] == made.linear.predict(test[uploaded.COLUMNS]).tolist()
    assert all(set(a["probabilities"]) == {"bad", "good"} for a in answers)  # the signature's class labels
    expected = made.linear.predict_proba(test[uploaded.COLUMNS])
    got = np.array([[a["probabilities"]["bad"], a["probabilities"]["good"]] for a in answers])
    np.testing.assert_allclose(got, expected, atol=1e-5)  # onnxruntime computes in float32

    scorer = serving.cache.get(made.onnx)
    assert isinstance(scorer.pipeline, model_files.OnnxModel) and isinstance(scorer.fast, serving._OnnxColumns)
    logged = Prediction.objects.filter(deployment=deployment, version=made.onnx)
    assert logged.count() == 30
    first = logged.get(id=answers[0]["prediction_id"])
    assert first.inputs == uploaded.records(test)[0] and first.prediction == answers[0]["prediction"]
    assert first.probabilities == answers[0]["probabilities"]


def test_a_skops_pipeline_the_catalogue_does_not_offer_predicts_its_own_answers(made, scientist, admin_user):
    made.deploy(made.skops, admin_user)
    test = uploaded.frame(rows=30, seed=6)
    test.loc[3, "income"] = None  # the pipeline's own imputer fills it
    answers = ask(scientist, uploaded.records(test))
    assert [a["version"] for a in answers] == [2] * 30
    assert [a["prediction"] for a in answers] == made.boosted.predict(test[uploaded.COLUMNS]).tolist()
    got = np.array([[a["probabilities"]["bad"], a["probabilities"]["good"]] for a in answers])
    np.testing.assert_allclose(got, made.boosted.predict_proba(test[uploaded.COLUMNS]), atol=1e-6)
    scorer = serving.cache.get(made.skops)
    assert scorer.fast is None and isinstance(scorer.pipeline[-1], GradientBoostingClassifier)


@pytest.mark.parametrize("which", ["onnx", "skops"])
def test_requests_are_validated_against_an_uploaded_versions_signature(made, scientist, admin_user, which):
    made.deploy(getattr(made, which), admin_user)
    good = uploaded.records(uploaded.frame(rows=2, seed=7))
    client = token_client(scientist)
    cases = {
        "missing column": [good[0], {k: v for k, v in good[1].items() if k != "age"}],
        "extra column": [{**good[0], "shoe_size": 42}],
        "wrong type": [{**good[0], "income": "rich"}],
    }
    for name, batch in cases.items():
        response = client.post(URL, {"records": batch}, format="json")
        assert response.status_code == 400, (name, response.json())
    missing = client.post(URL, {"records": cases["missing column"]}, format="json").json()
    assert "age" in str(missing) and "row 1" in str(missing)
    assert not Prediction.objects.exists()


def test_a_canary_splits_traffic_between_the_onnx_and_the_skops_version_and_a_shadow_is_logged(
    made, scientist, admin_user
):
    deployment = made.deploy(made.onnx, admin_user)
    services.set_traffic(
        deployment, actor=admin_user, canary=made.skops, canary_percent=50, override=True, reason="uploaded canary"
    )
    test = uploaded.frame(rows=1, seed=8)
    batch = uploaded.records(test)
    seen = {}
    for key in [f"customer-{i}" for i in range(40)]:
        answers = [ask(scientist, batch, entity_key=key)[0] for _ in range(2)]
        assert answers[0]["version"] == answers[1]["version"]  # sticky per caller
        seen[key] = answers[0]
    assert {a["version"] for a in seen.values()} == {1, 2}
    by_version = {a["version"]: a for a in seen.values()}
    row = test[uploaded.COLUMNS]
    assert by_version[1]["prediction"] == made.linear.predict(row)[0]
    assert by_version[2]["prediction"] == made.boosted.predict(row)[0]
    assert by_version[2]["probabilities"]["good"] == pytest.approx(made.boosted.predict_proba(row)[0, 1], abs=1e-6)
    roles = set(Prediction.objects.values_list("role", "version__number"))
    assert roles == {("primary", 1), ("canary", 2)}

    deployment.refresh_from_db()
    services.set_traffic(deployment, actor=admin_user, canary=None, shadow=made.skops)
    Prediction.objects.all().delete()
    answers = ask(scientist, uploaded.records(uploaded.frame(rows=3, seed=9)))
    assert [a["version"] for a in answers] == [1, 1, 1]  # the shadow answers nobody
    assert (
        sorted(Prediction.objects.values_list("role", "version__number")) == [("primary", 1)] * 3 + [("shadow", 2)] * 3
    )
    shadowed = Prediction.objects.filter(role="shadow").order_by("pk")
    assert all(set(p.probabilities) == {"bad", "good"} for p in shadowed)

    deployment.refresh_from_db()  # and the other way round: the skops primary, the ONNX shadow
    services.deploy(made.environment, made.skops, actor=admin_user, override=True, reason="swap")
    deployment.refresh_from_db()
    services.set_traffic(deployment, actor=admin_user, shadow=made.onnx)
    Prediction.objects.all().delete()
    assert [a["version"] for a in ask(scientist, batch)] == [2]
    assert sorted(Prediction.objects.values_list("role", "version__number")) == [("primary", 2), ("shadow", 1)]


@pytest.mark.parametrize("which", ["onnx", "skops"])
def test_ground_truth_attaches_to_an_uploaded_versions_predictions(made, scientist, admin_user, which):
    deployment = made.deploy(getattr(made, which), admin_user)
    test = uploaded.frame(rows=6, seed=10)
    answers = ask(scientist, uploaded.records(test))
    labels = [
        {"prediction_id": a["prediction_id"], "label": label} for a, label in zip(answers, test["outcome"], strict=True)
    ]
    response = token_client(scientist).post("/api/ground-truth/", labels, format="json")
    assert response.status_code == 200 and response.json() == {"updated": 6}
    stored = Prediction.objects.filter(deployment=deployment).order_by("created_at", "pk")
    assert sorted(p.ground_truth for p in stored) == sorted(test["outcome"])
    refused = token_client(scientist).post(
        "/api/ground-truth/", [{"prediction_id": answers[0]["prediction_id"], "label": "maybe"}], format="json"
    )
    assert refused.status_code == 400  # not one of the signature's classes


def test_an_onnx_version_serves_concurrent_requests_from_one_cached_session(made):
    scorer = serving.cache.get(made.onnx)
    assert serving.cache.get(made.onnx) is scorer  # cached as loaded, never copied
    rows = [uploaded.records(uploaded.frame(rows=1, seed=seed)) for seed in range(32)]
    expected = [scorer.score(scorer.parse(batch, made.onnx.signature)) for batch in rows]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda batch: scorer.score(scorer.parse(batch, made.onnx.signature)), rows * 4))
    assert got == expected * 4


def test_the_fast_path_never_compiles_or_raises_on_a_model_it_does_not_know(made):
    onnx = experiment_services.load_pipeline(made.onnx.artifact, made.onnx.signature)
    assert fastpath.compile_pipeline(onnx) is None and fastpath.categories(onnx) == {}
    assert fastpath.compile_pipeline(made.boosted) is None

    # A platform-shaped pipeline (so it compiles) whose probe rows then fail in scikit-learn: served as it is.
    data = uploaded.frame(rows=60, seed=11)
    block = Pipeline([("float", FunctionTransformer(as_float)), ("fill", SimpleImputer()), ("scale", StandardScaler())])
    strict = Pipeline(
        [
            ("prep", ColumnTransformer([("num", block, ["income", "age"])])),
            ("model", GradientBoostingClassifier(n_estimators=5, random_state=0)),
        ]
    ).fit(data[["income", "age"]], data["outcome"])

    class Refusing:
        """An estimator-shaped step whose predictions fail on the probe rows."""

        def __init__(self, inner):
            self.inner, self.classes_, self.n_features_in_ = inner, inner.classes_, inner.n_features_in_

        def predict(self, X):
            raise RuntimeError("not on these rows")

        def predict_proba(self, X):
            raise RuntimeError("not on these rows")

    strict.steps[-1] = ("model", Refusing(strict.steps[-1][1]))
    assert fastpath.compile_pipeline(strict) is not None
    scorer = serving.Scorer(strict)
    assert scorer.fast is None and scorer.pipeline is strict


def test_probabilities_use_the_signatures_labels_for_integer_classes(made):
    data = uploaded.frame(rows=120, seed=12)
    data["outcome"] = (data["outcome"] == "good").astype(int)
    pipeline = uploaded.linear_pipeline(data)
    onnx = model_files.load(
        uploaded.onnx_export(pipeline, data[uploaded.COLUMNS]), classes=[0, 1], task="classification"
    )
    predicted, probabilities = serving.Scorer(onnx).score(
        {
            "income": np.array([40.0, 70.0]),
            "age": np.array([30.0, 60.0]),
            "region": np.array(["north", "east"], dtype=object),
        }
    )
    frame = pd.DataFrame({"income": [40.0, 70.0], "age": [30.0, 60.0], "region": ["north", "east"]})
    assert predicted == pipeline.predict(frame).tolist() and all(type(p) is int for p in predicted)
    assert [set(row) for row in probabilities] == [{"0", "1"}] * 2
    np.testing.assert_allclose([row["1"] for row in probabilities], pipeline.predict_proba(frame)[:, 1], atol=1e-5)


@pytest.mark.parametrize("zipmap", [True, False])
def test_the_onnx_column_feed_answers_as_the_onnx_model_does_or_steps_aside(made, zipmap):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [("income", FloatTensorType([None, 1])), ("age", FloatTensorType([None, 1]))]
    types.append(("region", StringTensorType([None, 1])))
    options = {} if zipmap else {id(made.linear.steps[-1][1]): {"zipmap": False}}
    data = convert_sklearn(made.linear, initial_types=types, options=options).SerializeToString()
    onnx = model_files.load(data, classes=uploaded.CLASSES, task="classification")
    scorer = serving.Scorer(onnx)
    assert isinstance(scorer.fast, serving._OnnxColumns)
    test = uploaded.frame(rows=25, seed=13)
    test.loc[2, "income"], test.loc[4, "region"], test.loc[5, "region"] = None, None, "west"  # missing, unseen
    columns = scorer.parse(uploaded.records(test), uploaded.SIGNATURE)
    predicted, probabilities = scorer.score(columns)
    frame = test[uploaded.COLUMNS]
    assert predicted == onnx.predict(frame).tolist() == made.linear.predict(frame).tolist()
    got = np.array([[row["bad"], row["good"]] for row in probabilities])
    np.testing.assert_allclose(got, np.round(onnx.predict_proba(frame), 6), atol=1e-6)
    np.testing.assert_allclose(got, made.linear.predict_proba(frame), atol=1e-5)
    scorer.fast = None  # through OnnxModel's DataFrame face: the same answers
    assert scorer.score(columns) == (predicted, probabilities)

    # Booleans or numbers as objects are fed as floats (1/0/NaN); anything else is OnnxModel's turn.
    as_objects = serving._OnnxColumns(onnx).score({**columns, "income": columns["income"].astype(object)}, 25)
    np.testing.assert_allclose(as_objects[1], got, atol=1e-6)
    with pytest.raises(fastpath.NotFast):
        serving._OnnxColumns(onnx).score({**columns, "income": np.array(["rich"] * 25, dtype=object)}, 25)


def test_an_onnx_model_with_one_matrix_input_is_served_through_its_dataframe_face():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.linear_model import LinearRegression

    data = uploaded.frame(rows=80, seed=14)
    regressor = LinearRegression().fit(data[["income", "age"]], data["income"] * 2 + data["age"])
    onnx_bytes = convert_sklearn(regressor, initial_types=[("X", FloatTensorType([None, 2]))]).SerializeToString()
    onnx = model_files.load(onnx_bytes, task="regression")
    scorer = serving.Scorer(onnx)
    assert scorer.fast is None
    predicted, probabilities = scorer.score({"income": np.array([40.0, 60.0]), "age": np.array([20.0, 50.0])})
    assert probabilities is None
    np.testing.assert_allclose(predicted, [100.0, 170.0], rtol=1e-4)
