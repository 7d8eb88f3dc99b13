"""deployments.fastpath: the numpy path gives scikit-learn's answers for every algorithm training offers."""

import json

import numpy as np
import pytest
from scipy import sparse
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from deployments import fastpath, records
from deployments.serving import Scorer
from experiments import demo_data, tabular, training

CASES = [
    ("logistic_regression", "defaulted"),
    ("random_forest", "defaulted"),
    ("hist_gradient_boosting", "defaulted"),
    ("knn", "defaulted"),
    ("linear_regression", "loan_amount"),
    ("ridge", "loan_amount"),
    ("random_forest", "loan_amount"),
]


@pytest.fixture(scope="module", params=CASES, ids=[f"{a}-{t}" for a, t in CASES])
def fitted(request):
    """A pipeline trained on the demo credit table (NaNs, word and real booleans) and requests built from it."""
    algorithm, target = request.param
    frame = demo_data.credit_scoring_frame(rows=400, seed=3).drop(columns=["customer_id", "application_date"])
    schema = tabular.infer_schema(frame)
    params = {"n_estimators": 20} if algorithm == "random_forest" else {}
    result = training.train(frame, schema, {"target": target, "algorithm": algorithm, "params": params})
    pipeline = training.load_model(result.model_bytes, result.model_sha256)
    names = [column["name"] for column in result.signature["inputs"]]
    rows = json.loads(frame[names].to_json(orient="records"))  # as a client sends them: NaN becomes null
    odd = dict(rows[0]) | {name: None for name in names}  # every value missing
    unseen = dict(rows[1]) | {"region": "atlantis", "purpose": "yacht"}  # categories training never saw
    return pipeline, result.signature, [*rows, odd, unseen]


def sklearn_answers(pipeline, signature, rows):
    frame = records.parse(rows, signature, max_rows=10_000)
    probabilities = pipeline.predict_proba(frame) if hasattr(pipeline, "predict_proba") else None
    return pipeline.predict(frame), probabilities


def test_compiles_and_verifies(fitted):
    pipeline, _, _ = fitted
    fast = fastpath.compile_pipeline(pipeline)
    assert fast is not None
    assert fastpath.verify(pipeline, fast) is None


def test_answers_equal_scikit_learn_on_every_row(fitted):
    pipeline, signature, rows = fitted
    fast = fastpath.compile_pipeline(pipeline)
    columns = records.parse_columns(rows, signature, max_rows=10_000)
    predicted, probabilities = fast.score(columns, len(rows))
    expected, expected_probabilities = sklearn_answers(pipeline, signature, rows)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(predicted, expected, rtol=1e-9, atol=1e-9)
    else:
        assert list(predicted) == list(expected)
    if expected_probabilities is None:
        assert probabilities is None
    else:
        assert np.abs(probabilities - expected_probabilities).max() <= 1e-9


def test_the_features_equal_the_column_transformer_output(fitted):
    pipeline, signature, rows = fitted
    fast = fastpath.compile_pipeline(pipeline)
    expected = pipeline[:-1].transform(records.parse(rows, signature, max_rows=10_000))
    expected = expected.toarray() if sparse.issparse(expected) else expected
    got = fast.features(records.parse_columns(rows, signature, max_rows=10_000), len(rows))
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-12


def test_the_scorer_gives_the_same_json_answers_with_and_without_the_fast_path(fitted):
    pipeline, signature, rows = fitted
    columns = records.parse_columns(rows[:50], signature, max_rows=100)
    fast = Scorer(pipeline)
    assert fast.fast is not None
    slow = Scorer(pipeline)
    slow.fast = None
    assert fast.score(columns) == slow.score(columns)


def test_a_single_row_is_answered_like_a_batch(fitted):
    pipeline, signature, rows = fitted
    scorer = Scorer(pipeline)
    batch = scorer.score(records.parse_columns(rows[:5], signature, max_rows=10))
    for i in range(5):
        single = scorer.score(records.parse_columns([rows[i]], signature, max_rows=1))
        assert single[0] == pytest.approx([batch[0][i]], rel=1e-12)  # regressors: BLAS may sum in another order
        assert single[1] == (None if batch[1] is None else [batch[1][i]])


# --- what it refuses --------------------------------------------------------------------------------


def pipeline_with(encoder=None, imputer=None):
    """A small pipeline of the platform's shape, with one step swapped."""
    rng = np.random.default_rng(0)
    frame = records.frame(
        {
            "x": rng.normal(size=60),
            "c": np.array(rng.choice(["a", "b", "c"], 60), dtype=object),
        }
    )
    y = (frame["x"] > 0).astype(int)
    categorical = Pipeline(
        [
            ("to_text", FunctionTransformer(training.as_text, feature_names_out="one-to-one")),
            ("impute", imputer or SimpleImputer(strategy="most_frequent")),
            ("encode", encoder or OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    numeric = Pipeline(
        [
            ("to_float", FunctionTransformer(training.as_float, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(strategy="median")),
        ]
    )
    prepare = ColumnTransformer([("numeric", numeric, ["x"]), ("categorical", categorical, ["c"])])
    return Pipeline([("prepare", prepare), ("model", LogisticRegression())]).fit(frame, y)


def test_the_platform_shape_compiles():
    assert fastpath.compile_pipeline(pipeline_with()) is not None


@pytest.mark.parametrize(
    "swap",
    [
        {"encoder": OneHotEncoder(handle_unknown="ignore", drop="first")},
        {"encoder": OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=25)},
        {"encoder": OneHotEncoder(handle_unknown="error")},
        {"imputer": SimpleImputer(strategy="most_frequent", add_indicator=True)},
    ],
    ids=["drop-first", "infrequent", "unknown-error", "indicator"],
)
def test_steps_it_does_not_know_exactly_leave_the_pipeline_to_scikit_learn(swap):
    assert fastpath.compile_pipeline(pipeline_with(**swap)) is None


def test_other_pipelines_are_left_to_scikit_learn():
    assert fastpath.compile_pipeline(LogisticRegression()) is None
    assert fastpath.compile_pipeline(Pipeline([("model", LogisticRegression())])) is None


def test_verify_catches_a_fast_path_that_disagrees():
    pipeline = pipeline_with()
    fast = fastpath.compile_pipeline(pipeline)
    numeric = fast.blocks[0]
    numeric.fill[0] += 1.0  # impute another value than scikit-learn does
    assert fastpath.verify(pipeline, fast) == "features differ"


def test_a_scorer_whose_fast_path_disagrees_serves_through_scikit_learn(monkeypatch):
    monkeypatch.setattr(fastpath, "verify", lambda pipeline, fast: "features differ")
    assert Scorer(pipeline_with()).fast is None


def test_inputs_of_another_type_fall_back_to_scikit_learn_for_that_request():
    pipeline = pipeline_with()
    scorer = Scorer(pipeline)
    columns = {"x": np.array([0.5, -0.5], dtype=object), "c": np.array(["a", None], dtype=object)}
    with pytest.raises(fastpath.NotFast):
        scorer.fast.score(columns, 2)
    predicted, probabilities = scorer.score(columns)
    expected = pipeline.predict(records.frame(columns))
    assert predicted == list(expected) and len(probabilities) == 2


def test_the_known_categories_are_the_encoders_and_only_other_values_are_unseen(fitted):
    """Every pipeline tells which values its training never had, fast path or not (the monitor counts them)."""
    pipeline, signature, rows = fitted
    rows = rows[:-2]  # the training rows, without the fixture's all-missing and unseen rows
    known = fastpath.categories(pipeline)
    encoded = {c["name"] for c in signature["inputs"] if c["kind"] != "numeric"}
    assert set(known) == encoded
    prepare = pipeline.steps[0][1]
    for _, block, columns in prepare.transformers_:
        if hasattr(block, "steps") and isinstance(block.steps[-1][1], OneHotEncoder):
            boolean = isinstance(block.steps[0][1], StandardScaler)  # True/False encoded as 1.0/0.0
            for name, categories in zip(columns, block.steps[-1][1].categories_, strict=True):
                assert known[name] == {str(bool(c)) if boolean else str(c) for c in categories}
    columns = records.parse_columns(rows, signature, max_rows=10_000)
    found = records.unseen(columns, known)  # holdout rows may hold a spelling only they have
    expected = [
        (row, name, value)
        for row, record in enumerate(rows)
        for name in known
        if (value := columns[name][row]) is not None and str(value) not in known[name]
    ]
    assert sorted(found) == sorted(expected) and len(found) < len(rows) * 0.01
    odd = [dict(rows[0]) | {"home_ownership": "castle"}, dict(rows[1]) | {"region": None}]
    assert records.unseen(records.parse_columns(odd, signature, max_rows=10), known) == [
        (0, "home_ownership", "castle")
    ]
