"""`training.refit`: a model made anywhere, fitted again on new data with `train`'s split and evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.metrics import f1_score, root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from experiments import training
from tests.experiments.test_model_files import boosted, frame  # noqa: F401 (a fixture)


def test_refit_fits_a_copy_on_the_seeded_split_and_scores_its_holdout(boosted):  # noqa: F811
    X, y = frame(rows=300, seed=5)
    data = X.assign(label=y)
    inputs = [{"name": "income", "kind": "numeric", "dtype": "float64", "note": "kept as the version had it"}]

    result = training.refit(
        boosted, data, target="label", features=["income", "age", "region"], inputs=inputs, holdout=0.25, seed=3
    )

    refit = training.load_model(result.model_bytes, result.model_sha256)
    assert type(refit.named_steps["model"]) is type(boosted.named_steps["model"])
    assert refit.named_steps["model"].get_params() == boosted.named_steps["model"].get_params()
    _, X_test, _, y_test = train_test_split(
        data[["income", "age", "region"]], data["label"], test_size=0.25, random_state=3, stratify=data["label"]
    )
    assert result.split["test_index"] == list(X_test.index) and result.split["stratified"]
    assert result.metrics["f1"] == pytest.approx(f1_score(y_test, refit.predict(X_test), pos_label="good"))
    assert result.task == "classification" and result.signature["output"]["classes"] == ["bad", "good"]
    assert result.signature["inputs"][0] == inputs[0]  # the version's own description of its inputs
    assert result.signature["inputs"][2] == {"name": "region", "kind": "categorical", "dtype": "str"}
    assert result.algorithm == "GradientBoostingClassifier" and result.params["n_estimators"] == 20
    assert {row["feature"] for row in result.importance} == {"income", "age", "region"}


def test_refit_of_a_regressor_that_is_not_a_pipeline_step_named_model():
    rng = np.random.default_rng(0)
    data = pd.DataFrame({"x": rng.normal(size=120), "c": rng.choice(["a", "b"], 120)})
    data["y"] = 3 * data["x"] + (data["c"] == "a") + rng.normal(0, 0.1, 120)
    model = Pipeline(
        [
            ("encode", ColumnTransformer([("c", OneHotEncoder(), ["c"])], remainder="passthrough")),
            ("boost", GradientBoostingRegressor(n_estimators=30)),
        ]
    ).fit(data[["x", "c"]], data["y"])

    result = training.refit(model, data, target="y", features=["x", "c"])

    refit = training.load_model(result.model_bytes, result.model_sha256)
    test = data.loc[result.split["test_index"]]
    assert result.task == "regression" and result.curves == {}
    assert result.metrics["rmse"] == pytest.approx(root_mean_squared_error(test["y"], refit.predict(test[["x", "c"]])))


def test_refit_names_what_it_cannot_do(boosted):  # noqa: F811
    X, y = frame(rows=60, seed=2)
    with pytest.raises(training.TrainingError) as missing:
        training.refit(boosted, X.drop(columns=["region"]).assign(label=y), target="label", features=list(X))
    assert "region" in missing.value.errors["features"][0]
    unusable = X.assign(label=y, income="lots")  # the model's own code refuses it
    with pytest.raises(training.TrainingError, match="could not be refitted"):
        training.refit(boosted, unusable, target="label", features=list(X))
