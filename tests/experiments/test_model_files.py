"""Model files made in the test, outside the site: skops pipelines the catalogue does not offer, ONNX exports,
untrusted types, pickle bytes. Predictions are compared with the estimator's own, computed here."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from experiments import model_files


def frame(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "income": rng.normal(50, 10, rows),
            "age": rng.integers(18, 80, rows).astype(float),
            "region": rng.choice(["north", "south", "east"], rows),
        }
    )
    label = np.where(data["income"] + rng.normal(0, 5, rows) > 50, "bad", "good")
    return data, label


def preprocess() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["income", "age"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
        ]
    )


@pytest.fixture(scope="module")
def boosted():
    X, y = frame()
    return Pipeline([("prep", preprocess()), ("model", GradientBoostingClassifier(n_estimators=20))]).fit(X, y)


def test_a_pipeline_the_catalogue_does_not_offer_loads_and_predicts_as_fitted(boosted):
    data = sio.dumps(boosted)
    assert model_files.detect(data) == "skops"
    model = model_files.load(data, expected_sha256=model_files.sha256(data))
    X, _ = frame(rows=30, seed=1)
    assert list(model.predict(X)) == list(boosted.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), boosted.predict_proba(X))
    signature = model_files.infer_signature(X, model=model)
    assert signature["output"] == {"task": "classification", "classes": ["bad", "good"]}
    assert {c["name"]: c["kind"] for c in signature["inputs"]} == {
        "income": "numeric",
        "age": "numeric",
        "region": "categorical",
    }
    assert next(c for c in signature["inputs"] if c["name"] == "region")["categories"] == ["east", "north", "south"]
    model_files.check_columns(model, signature)
    model_files.probe(model, signature)


def test_a_regressor_is_probed_for_numbers():
    X, _ = frame()
    y = X["income"] * 2
    regressor = make_pipeline(preprocess(), GradientBoostingRegressor(n_estimators=10)).fit(X, y)
    model = model_files.load(sio.dumps(regressor))
    signature = model_files.infer_signature(X, model=model)
    assert signature["output"]["task"] == "regression" and signature["output"]["classes"] is None
    model_files.probe(model, signature)


def test_the_hash_is_checked_before_anything_is_parsed(boosted):
    with pytest.raises(model_files.ModelFileError, match="hash mismatch"):
        model_files.load(sio.dumps(boosted), expected_sha256="0" * 64)


def with_ratio(X: pd.DataFrame) -> pd.DataFrame:
    """A data scientist's own feature step: an importable function, so skops can name it."""
    return X.assign(ratio=X["income"] / X["age"])


def test_an_untrusted_type_is_refused_by_name_until_an_admin_trusts_it():
    X, y = frame()
    odd = make_pipeline(FunctionTransformer(with_ratio), preprocess(), LogisticRegression()).fit(X, y)
    data = sio.dumps(odd)
    name = f"{__name__}.with_ratio"
    with pytest.raises(model_files.UntrustedTypes) as refused:
        model_files.load(data)
    assert refused.value.types == [name]
    assert "MODEL_TRUSTED_TYPES" in str(refused.value) and name in str(refused.value)
    model = model_files.load(data, extra_trusted=refused.value.types)
    assert list(model.predict(X.head())) == list(odd.predict(X.head()))


@pytest.mark.parametrize("dump", [pickle.dumps, lambda model: pickle.dumps(model, protocol=2)])
def test_pickle_bytes_are_refused_without_being_loaded(boosted, dump):
    with pytest.raises(model_files.ModelFileError, match="pickle"):
        model_files.load(dump(boosted))


@pytest.mark.parametrize("data", [b"", b"hello world", b"PK\x03\x04not a zip"])
def test_other_bytes_are_refused_with_a_sentence(data):
    with pytest.raises(model_files.ModelFileError):
        model_files.load(data)


def test_columns_that_disagree_with_the_signature_are_refused(boosted):
    X, _ = frame(rows=10)
    signature = model_files.infer_signature(X.rename(columns={"age": "years"}), task="classification")
    with pytest.raises(model_files.ModelFileError, match=r"needs age.*names years"):
        model_files.check_columns(boosted, signature)


def test_a_classifier_without_probabilities_is_refused():
    from sklearn.svm import LinearSVC

    X, y = frame()
    model = make_pipeline(preprocess(), LinearSVC()).fit(X, y)
    with pytest.raises(model_files.ModelFileError, match="probabilities"):
        model_files.probe(model, model_files.infer_signature(X, model=model))


def test_a_model_that_cannot_score_its_signature_is_refused(boosted):
    X, _ = frame(rows=10)
    signature = model_files.infer_signature(X.drop(columns=["region"]), task="classification")
    with pytest.raises(model_files.ModelFileError, match="cannot predict"):
        model_files.probe(boosted, signature)


# --- ONNX ------------------------------------------------------------------------------------------


def onnx_export(pipeline, X: pd.DataFrame, options: dict | None = None) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [
        (name, FloatTensorType([None, 1]) if pd.api.types.is_numeric_dtype(X[name]) else StringTensorType([None, 1]))
        for name in X
    ]
    return convert_sklearn(pipeline, initial_types=types, options=options).SerializeToString()


@pytest.mark.parametrize("zipmap", [True, False])
def test_an_onnx_export_predicts_like_the_pipeline_it_came_from(zipmap):
    X, y = frame()
    pipeline = make_pipeline(preprocess(), LogisticRegression()).fit(X, y)
    options = {} if zipmap else {id(pipeline.steps[-1][1]): {"zipmap": False}}
    data = onnx_export(pipeline, X, options)
    assert model_files.detect(data) == "onnx"
    model = model_files.load(data, classes=["bad", "good"], task="classification")
    test, _ = frame(rows=40, seed=3)
    assert list(model.predict(test)) == list(pipeline.predict(test))
    np.testing.assert_allclose(model.predict_proba(test), pipeline.predict_proba(test), atol=1e-5)
    signature = model_files.infer_signature(X, task="classification")
    signature["output"]["classes"] = ["bad", "good"]
    model_files.check_columns(model, signature)
    model_files.probe(model, signature)


def test_an_onnx_zipmap_in_another_class_order_is_reordered_to_the_signature():
    X, y = frame()
    pipeline = make_pipeline(preprocess(), LogisticRegression()).fit(X, y)
    model = model_files.load(onnx_export(pipeline, X), classes=["good", "bad"], task="classification")
    np.testing.assert_allclose(model.predict_proba(X.head()), pipeline.predict_proba(X.head())[:, ::-1], atol=1e-5)


def test_an_onnx_regressor_with_one_matrix_input():
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    X, _ = frame()
    numbers = X[["income", "age"]]
    regressor = GradientBoostingRegressor(n_estimators=10).fit(numbers, numbers["income"] * 3)
    data = convert_sklearn(regressor, initial_types=[("input", FloatTensorType([None, 2]))]).SerializeToString()
    model = model_files.load(data, task="regression")
    np.testing.assert_allclose(model.predict(numbers.head()), regressor.predict(numbers.head()), rtol=1e-4)
    model_files.probe(model, model_files.infer_signature(numbers, task="regression"))
