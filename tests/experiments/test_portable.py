"""A model file trained here loads and predicts in a clean Python that cannot import this site (issue 16).

The subprocess is the venv's interpreter in isolated mode (`-I`: no PYTHONPATH, no script directory) run
from /tmp, so only the installed packages (scikit-learn, skops, numpy, pandas) are importable, never the
repository's `experiments` package the pipelines trained before issue 16 referenced.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from experiments import demo_data, model_files, tabular, training

# What the platform trusts besides skops' defaults, minus the two converters only the site can import.
PORTABLE_TYPES = {name for name in model_files.PLATFORM_TRUSTED_TYPES if not name.startswith("experiments.")}

CLEAN_PYTHON = textwrap.dedent(
    """
    import importlib.util, pickle, sys
    import skops.io as sio
    assert importlib.util.find_spec("experiments") is None, "the site's code is importable"
    with open(sys.argv[1], "rb") as handle:
        data = handle.read()
    with open(sys.argv[2], "rb") as handle:
        frame = pickle.load(handle)
    model = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    answer = {"predicted": list(model.predict(frame))}
    if hasattr(model, "predict_proba"):
        answer["proba"] = model.predict_proba(frame).tolist()
    with open(sys.argv[3], "wb") as handle:
        pickle.dump(answer, handle)
    """
)


def load_elsewhere(data: bytes, frame: pd.DataFrame, tmp_path) -> subprocess.CompletedProcess:
    (tmp_path / "model.skops").write_bytes(data)
    (tmp_path / "rows.pickle").write_bytes(pickle.dumps(frame))
    return subprocess.run(
        [sys.executable, "-I", "-c", CLEAN_PYTHON, "model.skops", "rows.pickle", "answer.pickle"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def credit() -> tuple[pd.DataFrame, list[dict]]:
    """The demo credit table (NaNs, word booleans, real booleans) plus nullable columns as Parquet reads them."""
    frame = demo_data.credit_scoring_frame(rows=300, seed=3).drop(columns=["customer_id"])
    frame["num_open_accounts"] = frame["num_open_accounts"].astype("Int64")
    frame.loc[frame.index[::17], "num_open_accounts"] = pd.NA
    frame["is_self_employed"] = frame["is_self_employed"].astype("boolean")
    frame.loc[frame.index[::19], "is_self_employed"] = pd.NA
    frame["region"] = frame["region"].astype(object)
    frame.loc[frame.index[::23], "region"] = None
    return frame, tabular.infer_schema(frame)


@pytest.fixture(scope="module")
def table():
    return credit()


@pytest.mark.parametrize(
    ("algorithm", "target"),
    [
        ("logistic_regression", "defaulted"),
        ("random_forest", "defaulted"),
        ("hist_gradient_boosting", "defaulted"),
        ("knn", "defaulted"),
        ("ridge", "loan_amount"),
        ("linear_regression", "loan_amount"),
    ],
)
def test_a_trained_model_file_loads_and_predicts_where_the_site_is_not_installed(table, algorithm, target, tmp_path):
    frame, schema = table
    result = training.train(frame, schema, {"target": target, "algorithm": algorithm})
    found = set(sio.get_untrusted_types(data=result.model_bytes))
    assert found <= PORTABLE_TYPES, found - PORTABLE_TYPES  # nothing from experiments.*, nothing unknown
    here = training.load_model(result.model_bytes, result.model_sha256)
    rows = frame.loc[result.split["test_index"], [column["name"] for column in result.signature["inputs"]]]

    run = load_elsewhere(result.model_bytes, rows, tmp_path)

    assert run.returncode == 0, run.stderr
    answer = pickle.loads((tmp_path / "answer.pickle").read_bytes())
    expected = here.predict(rows)
    if result.task == "classification":
        assert answer["predicted"] == list(expected)
        np.testing.assert_allclose(answer["proba"], here.predict_proba(rows), rtol=0, atol=1e-12)
    else:
        np.testing.assert_allclose(answer["predicted"], expected, rtol=0, atol=1e-9)


def test_a_pipeline_made_with_the_sites_converters_does_not_load_there(tmp_path):
    """Why the change: the old shape (kept loadable here) names experiments.training, which is not installed."""
    X = pd.DataFrame({"x": [1.0, 2.0, None, 4.0, 5.0, 6.0]})
    old = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        (
                            "numeric",
                            Pipeline(
                                [("to_float", FunctionTransformer(training.as_float)), ("impute", SimpleImputer())]
                            ),
                            ["x"],
                        )
                    ]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    ).fit(X, [0, 0, 0, 1, 1, 1])
    data = sio.dumps(old)
    assert "experiments.training.as_float" in sio.get_untrusted_types(data=data)
    assert list(model_files.load(data).predict(X)) == list(old.predict(X))  # still loads on the site

    run = load_elsewhere(data, X, tmp_path)

    assert run.returncode != 0 and "No module named 'experiments'" in run.stderr


def test_nullable_and_object_values_predict_as_their_plain_equivalents(table):
    """The pipeline takes what a dataset reads back as and what serving hands on, without a converter of ours."""
    frame, schema = table
    result = training.train(frame, schema, {"target": "defaulted", "algorithm": "logistic_regression"})
    model = training.load_model(result.model_bytes, result.model_sha256)
    columns = [column["name"] for column in result.signature["inputs"]]
    rows = frame[columns].head(60)
    plain = rows.copy()
    plain["num_open_accounts"] = plain["num_open_accounts"].astype(float)  # pd.NA -> NaN
    plain["is_self_employed"] = rows["is_self_employed"].astype(object).where(rows["is_self_employed"].notna(), None)
    as_objects = rows.astype(object).where(rows.notna(), None)  # every missing value None, every column object
    for variant in (plain, as_objects):
        np.testing.assert_allclose(model.predict_proba(variant), model.predict_proba(rows), rtol=0, atol=1e-12)


def test_a_column_mixing_text_and_booleans_is_refused_with_the_cleaning_step_to_use():
    frame = pd.DataFrame(
        {
            "x": np.arange(40, dtype=float),
            "flag": pd.Series([True, "yes", False, "no"] * 10, dtype=object),
            "y": ["a", "b"] * 20,
        }
    )
    with pytest.raises(training.TrainingError) as error:
        training.train(frame, tabular.infer_schema(frame), {"target": "y", "algorithm": "logistic_regression"})
    assert "flag" in error.value.errors["features"][0] and "standardize_booleans" in error.value.errors["features"][0]
