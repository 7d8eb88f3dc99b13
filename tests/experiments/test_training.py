"""experiments.training: request validation, metrics re-checked with scikit-learn, determinism, safe loading."""

import builtins
import hashlib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from django.core.exceptions import ValidationError
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from experiments import schemas, training
from mlops_site import schemas as mlops_schemas

SCHEMA = [
    {"name": "income", "kind": "numeric", "dtype": "float64"},
    {"name": "age", "kind": "numeric", "dtype": "float64"},
    {"name": "city", "kind": "categorical", "dtype": "object"},
    {"name": "owns_home", "kind": "boolean", "dtype": "object"},
    {"name": "signup", "kind": "datetime", "dtype": "datetime64[ns]"},
    {"name": "notes", "kind": "text", "dtype": "object"},
    {"name": "defaulted", "kind": "categorical", "dtype": "object"},
    {"name": "spend", "kind": "numeric", "dtype": "float64"},
    {"name": "segment", "kind": "categorical", "dtype": "object"},
]


def credit_frame(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    """Default depends on income, age and city; some values missing and mixed types, as in real uploads."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 12_000, rows)
    age = rng.integers(18, 80, rows).astype(float)
    city = rng.choice(["Paris", "Lyon", "Nice"], rows).astype(object)
    owns = rng.choice([True, False, "yes"], rows).astype(object)
    logit = -(income - 50_000) / 8_000 + (city == "Nice") * 1.5 + rng.normal(0, 0.7, rows)
    frame = pd.DataFrame(
        {
            "income": income,
            "age": age,
            "city": city,
            "owns_home": owns,
            "signup": pd.date_range("2020-01-01", periods=rows, freq="D"),
            "notes": [f"note {i}" for i in range(rows)],
            "defaulted": np.where(logit > 0, "yes", "no").astype(object),
            "spend": income * 0.1 + age * 20 + rng.normal(0, 300, rows),
            "segment": rng.choice(["a", "b", "c"], rows).astype(object),
        },
        index=pd.RangeIndex(1000, 1000 + rows),
    )
    frame.loc[frame.index[::9], "income"] = np.nan
    frame.loc[frame.index[::11], "city"] = None
    frame.loc[frame.index[::13], "owns_home"] = None
    return frame


def validate(**overrides):
    """A request checked as the service checks it: its fields (schemas), then against the table (training)."""
    request = {"target": "defaulted", "algorithm": "logistic_regression", "params": {}} | overrides
    version = SimpleNamespace(schema=SCHEMA, row_count=400)
    return mlops_schemas.validate(schemas.TrainingSettings, request, context={"version": version})


def holdout_of(result, frame, target):
    model = training.load_model(result.model_bytes, result.model_sha256)
    test = frame.loc[result.split["test_index"]]
    return model, test.drop(columns=[target]), test[target]


# --- validate_request -------------------------------------------------------------------------------


def test_valid_request_is_normalised_with_default_features():
    request = validate(params={"C": 0.5}, holdout=0.25, seed=3)
    assert request["features"] == ["income", "age", "city", "owns_home", "spend", "segment"]
    assert request["task"] == "classification" and request["params"] == {"C": 0.5} and request["cv_folds"] is None


def test_numeric_target_on_a_two_task_algorithm_leaves_the_task_to_train():
    assert validate(target="spend", algorithm="random_forest")["task"] is None
    assert validate(target="spend", algorithm="ridge")["task"] == "regression"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"algorithm": "telepathy"}, "algorithm"),
        ({"algorithm": "random_forest", "params": {"max_depth": -3}}, "params.max_depth"),
        ({"params": {"C": "abc"}}, "params.C"),
        ({"params": {"n_jobs": 4}}, "params.n_jobs"),
        ({"params": {"no_such_thing": 1}}, "params.no_such_thing"),
        ({"algorithm": "linear_regression"}, "algorithm"),
        ({"target": "spend", "task": "classification", "algorithm": "ridge"}, "algorithm"),
        ({"task": "regression", "algorithm": "random_forest"}, "task"),
        ({"task": "clustering"}, "task"),
        ({"target": "nope"}, "target"),
        ({"target": "signup"}, "target"),
        ({"features": ["income", "ghost"]}, "features"),
        ({"features": ["income", "defaulted"]}, "features"),
        ({"features": []}, "features"),
        ({"features": ["signup"]}, "features"),
        ({"holdout": 0.0}, "holdout"),
        ({"holdout": 0.95}, "holdout"),
        ({"holdout": "a lot"}, "holdout"),
        ({"cv_folds": 1}, "cv_folds"),
        ({"cv_folds": 21}, "cv_folds"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_requests_name_the_field(overrides, field):
    with pytest.raises(ValidationError) as caught:
        validate(**overrides)
    assert field in caught.value.message_dict, caught.value.message_dict


def test_invalid_hyperparameter_carries_scikit_learns_message():
    with pytest.raises(ValidationError) as caught:
        validate(algorithm="random_forest", params={"max_depth": -3})
    (message,) = caught.value.message_dict["params.max_depth"]
    assert "max_depth" in message and "RandomForest" in message and "Got -3" in message


def test_too_few_rows_for_the_table_the_holdout_or_the_folds():
    with pytest.raises(training.TrainingError) as caught:
        training.validate_request(SCHEMA, 9, target="defaulted", algorithm="knn", params={})
    assert "non_field_errors" in caught.value.errors
    with pytest.raises(training.TrainingError) as caught:
        training.validate_request(SCHEMA, 10, target="defaulted", algorithm="knn", params={}, holdout=0.1)
    assert "holdout" in caught.value.errors
    with pytest.raises(training.TrainingError) as caught:
        training.validate_request(SCHEMA, 30, target="defaulted", algorithm="knn", params={}, cv_folds=20)
    assert "cv_folds" in caught.value.errors


def test_catalogue_exposes_estimator_params_minus_platform_controlled_ones():
    forest = training.ALGORITHMS["random_forest"]
    assert forest.tasks == ("classification", "regression")
    assert "max_depth" in forest.allowed_params() and "n_jobs" not in forest.allowed_params()
    assert "random_state" not in training.ALGORITHMS["hist_gradient_boosting"].allowed_params("classification")
    assert training.ALGORITHMS["knn"].needs_scaling and training.ALGORITHMS["hist_gradient_boosting"].iterative


# --- train ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def credit():
    return credit_frame()


@pytest.fixture(scope="module")
def classified(credit):
    request = {"target": "defaulted", "algorithm": "logistic_regression", "params": {"C": 0.5}, "holdout": 0.25}
    return training.train(credit, SCHEMA, request | {"seed": 7, "cv_folds": 4})


def test_binary_metrics_match_scikit_learn_on_the_recorded_split(credit, classified):
    model, X, truth = holdout_of(classified, credit, "defaulted")
    predicted, proba = model.predict(X), model.predict_proba(X)
    assert list(model.classes_) == ["no", "yes"] and classified.signature["output"]["classes"] == ["no", "yes"]
    expected = {
        "accuracy": accuracy_score(truth, predicted),
        "precision": precision_score(truth, predicted, pos_label="yes", zero_division=0),
        "recall": recall_score(truth, predicted, pos_label="yes", zero_division=0),
        "f1": f1_score(truth, predicted, pos_label="yes", zero_division=0),
        "roc_auc": roc_auc_score(truth == "yes", proba[:, 1]),
        "log_loss": log_loss(truth, proba),
    }
    assert classified.metrics == pytest.approx(expected, abs=1e-12)
    assert all(type(value) is float for value in classified.metrics.values())
    assert len(truth) == 100 and classified.metrics["accuracy"] > 0.7


def test_classification_result_has_everything_the_run_records(classified):
    assert classified.task == "classification" and classified.params["C"] == 0.5
    assert len(classified.cv_scores["f1"]) == 4 and all(0 <= score <= 1 for score in classified.cv_scores["f1"])
    assert classified.curves == {}  # logistic regression exposes no per-iteration loss
    matrix = classified.evaluation["confusion_matrix"]
    assert matrix["labels"] == ["no", "yes"] and sum(map(sum, matrix["matrix"])) == 100
    roc = classified.evaluation["roc_curve"]
    assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0 and len(roc["fpr"]) <= 200
    assert len(classified.evaluation["pr_curve"]["precision"]) <= 200
    importance = [row["feature"] for row in classified.importance]
    assert set(importance) == {"income", "age", "city", "owns_home", "spend", "segment"}
    assert importance[0] in {"income", "spend"}  # the columns default is built from
    means = [row["importance_mean"] for row in classified.importance]
    assert means == sorted(means, reverse=True)
    assert [field["name"] for field in classified.signature["inputs"]][:2] == ["income", "age"]
    assert set(classified.library_versions) >= {"sklearn", "numpy", "pandas", "skops", "python"}
    assert classified.split["seed"] == 7 and classified.split["holdout"] == 0.25
    assert classified.model_sha256 == hashlib.sha256(classified.model_bytes).hexdigest()


def test_same_inputs_and_seed_give_identical_results(credit):
    request = {"target": "defaulted", "algorithm": "random_forest", "params": {"n_estimators": 30}, "seed": 3}
    first = training.train(credit, SCHEMA, request | {"cv_folds": 3})
    second = training.train(credit, SCHEMA, request | {"cv_folds": 3})
    assert first.metrics == second.metrics and first.cv_scores == second.cv_scores
    assert first.split == second.split and first.importance == second.importance
    other = training.train(credit, SCHEMA, request | {"seed": 4})
    assert other.split["test_index"] != first.split["test_index"]


def test_multiclass_uses_macro_averages(credit):
    result = training.train(credit, SCHEMA, {"target": "segment", "algorithm": "knn", "params": {}, "cv_folds": 3})
    model, X, truth = holdout_of(result, credit, "segment")
    predicted = model.predict(X)
    assert result.metrics["f1"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=1e-12)
    expected_auc = roc_auc_score(truth, model.predict_proba(X), multi_class="ovr", average="macro")
    assert result.metrics["roc_auc"] == pytest.approx(expected_auc, abs=1e-12)
    assert "f1_macro" in result.cv_scores and "roc_curve" not in result.evaluation


def test_regression_metrics_and_plots(credit):
    request = {"target": "spend", "algorithm": "hist_gradient_boosting", "params": {"max_iter": 50}, "seed": 2}
    result = training.train(credit, SCHEMA, request | {"cv_folds": 3})
    assert result.task == "regression" and result.signature["output"] == {"task": "regression", "classes": None}
    model, X, truth = holdout_of(result, credit, "spend")
    predicted = model.predict(X)
    assert result.metrics == pytest.approx(
        {
            "rmse": root_mean_squared_error(truth, predicted),
            "mae": mean_absolute_error(truth, predicted),
            "r2": r2_score(truth, predicted),
        },
        abs=1e-9,
    )
    assert result.metrics["r2"] > 0.5 and len(result.cv_scores["rmse"]) == 3
    assert all(score > 0 for score in result.cv_scores["rmse"])
    steps = [step for step, _ in result.curves["holdout_rmse"]]
    assert steps == list(range(1, 51))
    assert result.curves["holdout_rmse"][-1][1] == pytest.approx(result.metrics["rmse"])
    assert len(result.evaluation["residuals"]["predicted"]) == len(truth)
    assert sum(result.evaluation["residual_histogram"]["counts"]) == len(truth)


def test_task_is_inferred_from_the_data_when_left_open():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=200), "grade": rng.integers(1, 4, 200)})
    schema = [
        {"name": "x", "kind": "numeric", "dtype": "float64"},
        {"name": "grade", "kind": "numeric", "dtype": "int64"},
    ]
    result = training.train(frame, schema, {"target": "grade", "algorithm": "random_forest", "params": {}})
    assert result.task == "classification" and result.signature["output"]["classes"] == [1, 2, 3]
    frame["level"] = frame["x"] * 2.5 + rng.normal(size=200)
    schema.append({"name": "level", "kind": "numeric", "dtype": "float64"})
    request = {"target": "level", "algorithm": "random_forest", "params": {}, "features": ["x"]}
    assert training.train(frame, schema, request).task == "regression"


def test_rows_without_a_target_are_dropped_and_missing_features_imputed(credit):
    frame = credit.copy()
    frame.loc[frame.index[:40], "defaulted"] = None
    request = {"target": "defaulted", "algorithm": "hist_gradient_boosting", "params": {}, "holdout": 0.2}
    result = training.train(frame, SCHEMA, request)
    assert result.split["train_rows"] + result.split["test_rows"] == 360
    assert not set(result.split["test_index"]) & set(frame.index[:40])
    assert "holdout_log_loss" in result.curves
    model = training.load_model(result.model_bytes, result.model_sha256)
    unseen = frame.head(3).assign(city=["Berlin", None, "Paris"], owns_home=[None, 1, "no"], income=np.nan)
    assert len(model.predict(unseen.drop(columns=["defaulted"]))) == 3  # unknown and missing values are handled


def test_single_class_target_is_refused():
    frame = pd.DataFrame({"x": range(40), "y": ["yes"] * 40})
    schema = [{"name": "x", "kind": "numeric", "dtype": "int64"}, {"name": "y", "kind": "categorical", "dtype": "str"}]
    with pytest.raises(training.TrainingError) as caught:
        training.train(frame, schema, {"target": "y", "algorithm": "logistic_regression", "params": {}})
    assert "target" in caught.value.errors


def test_progress_is_reported_in_increasing_steps(credit):
    seen = []
    request = {"target": "spend", "algorithm": "ridge", "params": {"alpha": 2.0}}
    training.train(credit, SCHEMA, request, progress=lambda percent, message: seen.append(percent))
    assert seen == sorted(seen) and len(seen) >= 4 and seen[-1] < 96


# --- load_model -------------------------------------------------------------------------------------


def test_load_model_checks_the_hash(classified):
    with pytest.raises(ValueError, match="hash"):
        training.load_model(classified.model_bytes, "0" * 64)


def test_load_model_refuses_types_outside_the_allow_list():
    evil = Pipeline([("run", FunctionTransformer(builtins.eval))])
    data = sio.dumps(evil)
    with pytest.raises(ValueError, match="allow-list"):
        training.load_model(data, hashlib.sha256(data).hexdigest())
