"""deployments.records: the predict body becomes the frame a fitted pipeline accepts, or precise per-row errors."""

import json
import math
import types

import numpy as np
import pandas as pd
import pytest

from deployments import records
from deployments.records import MAX_ERRORS, RecordsError, parse
from experiments import cleaning, demo_data, tabular, training

SIGNATURE = {
    "inputs": [
        {"name": "age", "kind": "numeric", "dtype": "float64"},
        {"name": "accounts", "kind": "numeric", "dtype": "int64"},
        {"name": "home", "kind": "categorical", "dtype": "str"},
        {"name": "notes", "kind": "text", "dtype": "str"},
        {"name": "cosigner", "kind": "boolean", "dtype": "str"},  # words such as "yes"/"no" in training
        {"name": "self_employed", "kind": "boolean", "dtype": "bool"},  # real booleans in training
        {"name": "has_car", "kind": "boolean", "dtype": "object"},  # real booleans with missing values
        {"name": "signup", "kind": "datetime", "dtype": "str"},
    ],
    "output": {"task": "classification", "classes": [0, 1]},
}
NAMES = [column["name"] for column in SIGNATURE["inputs"]]


def row(**overrides):
    return {
        "age": 41.5,
        "accounts": 3,
        "home": "rent",
        "notes": "first loan",
        "cosigner": "yes",
        "self_employed": False,
        "has_car": True,
        "signup": "2025-01-31",
    } | overrides


def errors_of(body, signature=SIGNATURE, max_rows=100):
    with pytest.raises(RecordsError) as caught:
        parse(body, signature, max_rows=max_rows)
    return caught.value.errors


def only_error(body, **kwargs):
    errors = errors_of(body, **kwargs)
    assert len(errors) == 1, errors
    return errors[0]


# --- the frame ------------------------------------------------------------------------------------


def test_one_row_becomes_a_frame_of_the_signature_columns_in_order_with_training_dtypes():
    body = [dict(reversed(list(row().items())))]  # key order in the request does not matter
    frame = parse(body, SIGNATURE, max_rows=10)
    assert list(frame.columns) == NAMES
    assert frame.index.equals(pd.RangeIndex(1))
    assert frame.dtypes.to_dict() == {
        "age": np.float64,
        "accounts": np.float64,
        "home": object,
        "notes": object,
        "cosigner": object,
        "self_employed": object,
        "has_car": object,
        "signup": object,
    }
    assert frame.iloc[0].to_dict() == {
        "age": 41.5,
        "accounts": 3.0,
        "home": "rent",
        "notes": "first loan",
        "cosigner": "yes",
        "self_employed": False,
        "has_car": True,
        "signup": "2025-01-31",
    }


def test_a_single_object_is_one_row():
    frame = parse(row(), SIGNATURE, max_rows=1)
    assert len(frame) == 1
    assert frame.equals(parse([row()], SIGNATURE, max_rows=1))


def test_many_rows_keep_their_order():
    body = [row(age=float(i), home=f"h{i}") for i in range(1000)]
    frame = parse(body, SIGNATURE, max_rows=1000)
    assert frame["age"].tolist() == [float(i) for i in range(1000)]
    assert frame["home"].tolist() == [f"h{i}" for i in range(1000)]


def test_null_is_missing_for_every_kind():
    frame = parse([row(**dict.fromkeys(NAMES)), row()], SIGNATURE, max_rows=10)
    assert math.isnan(frame.loc[0, "age"]) and math.isnan(frame.loc[0, "accounts"])
    assert frame.iloc[0, 2:].tolist() == [None] * 6
    assert frame.loc[1, "age"] == 41.5


def test_a_python_nan_counts_as_null():
    frame = parse([row(age=float("nan"), home=float("nan"), self_employed=np.nan)], SIGNATURE, max_rows=10)
    assert math.isnan(frame.loc[0, "age"])
    assert frame.loc[0, "home"] is None and frame.loc[0, "self_employed"] is None


def test_numbers_of_any_json_form_become_float64():
    frame = parse([row(age=40), row(age=40.25), row(age=-1e300), row(accounts=None)], SIGNATURE, max_rows=10)
    assert frame["age"].tolist() == [40.0, 40.25, -1e300, 41.5]
    assert frame["accounts"].dtype == np.float64


def test_numpy_scalars_from_python_callers_are_accepted():
    frame = parse([row(age=np.float32(2.5), accounts=np.int64(4), self_employed=np.bool_(True))], SIGNATURE, max_rows=1)
    assert frame.loc[0, "age"] == 2.5 and frame.loc[0, "accounts"] == 4.0
    assert frame.loc[0, "self_employed"] is True


def test_strings_are_passed_on_exactly_as_sent():
    frame = parse([row(home=" Rent ", notes="", cosigner="Y")], SIGNATURE, max_rows=1)
    assert frame.loc[0, "home"] == " Rent " and frame.loc[0, "notes"] == "" and frame.loc[0, "cosigner"] == "Y"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (True, True),
        (False, False),
        ("yes", True),
        (" No ", False),
        ("Y", True),
        ("0", False),
        ("on", True),
        ("F", False),
    ],
)
def test_boolean_trained_on_booleans_accepts_true_false_and_boolean_words(sent, expected):
    frame = parse([row(self_employed=sent, has_car=sent)], SIGNATURE, max_rows=1)
    assert frame.loc[0, "self_employed"] is expected and frame.loc[0, "has_car"] is expected


def test_boolean_words_match_the_cleaning_step():
    assert records.TRUE_WORDS == cleaning.TRUE_WORDS
    assert records.FALSE_WORDS == cleaning.FALSE_WORDS


def test_kinds_match_the_ones_schema_inference_produces():
    assert set(records.KINDS) == set(tabular.KINDS)


@pytest.mark.parametrize("sent", ["2025-01-31", "2025-01-31T12:30:00", "2025-01-31 12:30", "2025-01-31T12:30:00Z"])
def test_datetime_accepts_iso_8601(sent):
    assert parse([row(signup=sent)], SIGNATURE, max_rows=1).loc[0, "signup"] == sent


def test_mappings_other_than_dict_are_rows_too():
    frame = parse([types.MappingProxyType(row())], SIGNATURE, max_rows=1)
    assert frame.loc[0, "home"] == "rent"


def test_the_frame_is_the_same_without_the_private_pandas_constructor(monkeypatch):
    body = [row(), row(age=None, home=None, self_employed="no")]
    fast = parse(body, SIGNATURE, max_rows=10)
    monkeypatch.delattr(pd.DataFrame, "_from_arrays")
    slow = parse(body, SIGNATURE, max_rows=10)
    pd.testing.assert_frame_equal(fast, slow)


# --- errors: the body and its rows -----------------------------------------------------------------


@pytest.mark.parametrize(("body", "named"), [("age=3", "a string"), (3, "a number"), (None, "null"), (True, "true")])
def test_a_body_that_is_not_records_is_refused(body, named):
    error = only_error(body)
    assert error["row"] is None and error["field"] is None
    assert named in error["message"] and "array of records" in error["message"]


def test_no_records_is_refused():
    assert only_error([]) == {"row": None, "field": None, "message": "No records: send at least one."}


def test_more_rows_than_the_limit_is_refused_naming_the_limit():
    error = only_error([row()] * 1001, max_rows=1000)
    assert error["row"] is None
    assert "1,001" in error["message"] and "1,000" in error["message"]
    assert len(parse([row()] * 1000, SIGNATURE, max_rows=1000)) == 1000


def test_a_row_that_is_not_an_object_names_the_row():
    error = only_error([row(), ["rent", 3]])
    assert error["row"] == 1 and error["field"] is None and "an array" in error["message"]


def test_a_missing_field_names_the_row_and_the_field():
    body = [row(), row()]
    del body[1]["accounts"]
    assert only_error(body) == {
        "row": 1,
        "field": "accounts",
        "message": "Missing: every input is required (send null if the value is unknown).",
    }


def test_an_extra_field_is_refused_and_named():
    error = only_error([row(customer_id="C1")])
    assert error["row"] == 0 and error["field"] == "customer_id"
    assert error["message"] == "Not an input of this model."


def test_a_misspelt_field_is_reported_as_missing_and_unknown_with_a_suggestion():
    body = row()
    body["agee"] = body.pop("age")  # same number of fields: the fast path must still catch it
    errors = errors_of(body)
    assert {(e["row"], e["field"]) for e in errors} == {(0, "age"), (0, "agee")}
    assert next(e for e in errors if e["field"] == "agee")["message"].endswith("Did you mean 'age'?")


def test_errors_from_several_rows_and_fields_are_reported_together():
    body = [row(), row(age="41"), row(home=3, self_employed=1), row(signup="31/01/2025")]
    errors = errors_of(body)
    assert [(e["row"], e["field"]) for e in errors] == [(1, "age"), (2, "home"), (2, "self_employed"), (3, "signup")]


def test_errors_stop_after_the_limit():
    errors = errors_of([row(age="x")] * 500, max_rows=1000)
    assert len(errors) == MAX_ERRORS + 1
    assert [e["row"] for e in errors[:MAX_ERRORS]] == list(range(MAX_ERRORS))
    assert errors[-1] == {
        "row": None,
        "field": None,
        "message": f"Stopped after {MAX_ERRORS} errors; fix these and retry.",
    }


def test_exactly_the_limit_of_errors_is_listed_without_the_stop_note():
    errors = errors_of([row(age="x")] * MAX_ERRORS, max_rows=1000)
    assert len(errors) == MAX_ERRORS
    assert all(e["field"] == "age" for e in errors)


def test_records_error_is_a_value_error_with_a_readable_summary():
    with pytest.raises(ValueError, match=r"row 1, field age: Expected a number or null.*\(and 1 more\)"):
        parse([row(), row(age="x"), row(age="y")], SIGNATURE, max_rows=10)


# --- errors: values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("12", 'got a string ("12"). Send numbers without quotes.'),
        (True, "got true."),
        ([1], "got an array."),
        ({"value": 1}, "got an object."),
        (float("inf"), "Infinity is not allowed"),
        (float("-inf"), "Infinity is not allowed"),
        (10**400, "too large"),
    ],
)
def test_numeric_refuses_everything_but_finite_numbers_and_null(value, fragment):
    error = only_error([row(age=value)])
    assert (error["row"], error["field"]) == (0, "age")
    assert fragment in error["message"]


@pytest.mark.parametrize("field", ["home", "notes"])
@pytest.mark.parametrize(
    ("value", "fragment"),
    [(3, 'got a number (3). The model compares text: send "3"'), (True, "got true."), (["a"], "got an array.")],
)
def test_categorical_and_text_refuse_non_strings(field, value, fragment):
    error = only_error([row(**{field: value})])
    assert error["field"] == field
    assert error["message"].startswith("Expected a string or null;") and fragment in error["message"]


@pytest.mark.parametrize("value", [1, 0, "maybe", "", ["yes"]])
def test_boolean_trained_on_booleans_refuses_numbers_and_other_words(value):
    errors = errors_of([row(self_employed=value, has_car=value)])
    assert [e["field"] for e in errors] == ["self_employed", "has_car"]
    assert errors[0]["message"].startswith("Expected true, false or null")


@pytest.mark.parametrize("value", [True, False, 1])
def test_boolean_trained_on_words_refuses_json_booleans_and_numbers(value):
    error = only_error([row(cosigner=value)])
    assert error["field"] == "cosigner" and "learnt this column from text" in error["message"]


@pytest.mark.parametrize("value", ["31/01/2025", "yesterday", 20250131, True])
def test_datetime_refuses_anything_but_iso_strings(value):
    error = only_error([row(signup=value)])
    assert error["field"] == "signup" and "ISO 8601" in error["message"]


def test_long_values_are_shortened_in_messages():
    error = only_error([row(age="x" * 1000)])
    assert len(error["message"]) < 120


# --- the signature and the limit are the platform's, not the caller's ---------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        {},
        {"inputs": []},
        {"inputs": "age"},
        {"inputs": [{"name": "age", "kind": "image"}]},
        {"inputs": [{"kind": "numeric"}]},
        {"inputs": ["age"]},
        {"inputs": [{"name": "age", "kind": "numeric"}, {"name": "age", "kind": "numeric"}]},
    ],
)
def test_a_broken_signature_is_a_server_error_not_a_records_error(signature):
    with pytest.raises(ValueError) as caught:
        parse([{"age": 1}], signature, max_rows=10)
    assert not isinstance(caught.value, RecordsError)


@pytest.mark.parametrize("max_rows", [0, -1, 1.5, True, None])
def test_max_rows_must_be_a_positive_integer(max_rows):
    with pytest.raises(ValueError, match="max_rows"):
        parse([row()], SIGNATURE, max_rows=max_rows)


# --- against a real fitted pipeline ------------------------------------------------------------------


@pytest.fixture(scope="module", params=["logistic_regression", "hist_gradient_boosting"])
def fitted(request):
    """The demo credit table (with its NaNs, word booleans and real booleans) and a pipeline trained on it."""
    frame = demo_data.credit_scoring_frame(rows=400, seed=1).drop(columns=["customer_id"])
    schema = tabular.infer_schema(frame)
    result = training.train(frame, schema, {"target": "defaulted", "algorithm": request.param})
    pipeline = training.load_model(result.model_bytes, result.model_sha256)
    columns = [column["name"] for column in result.signature["inputs"]]
    return frame[columns], result.signature, pipeline


def json_records(frame):
    """The rows as a client would send them: NaN becomes null on the way through JSON."""
    return json.loads(frame.to_json(orient="records"))


def test_the_demo_signature_covers_numeric_categorical_and_both_boolean_forms(fitted):
    _, signature, _ = fitted
    kinds = {(column["kind"], column["dtype"]) for column in signature["inputs"]}
    assert {("numeric", "float64"), ("numeric", "int64"), ("categorical", "str")} <= kinds
    assert {("boolean", "str"), ("boolean", "bool")} <= kinds


def test_parsed_json_records_predict_exactly_as_the_training_frame(fitted):
    frame, signature, pipeline = fitted
    body = json_records(frame)
    assert any(value is None for record in body for value in record.values())  # nulls are exercised
    parsed = parse(body, signature, max_rows=len(body))
    np.testing.assert_array_equal(pipeline.predict(parsed), pipeline.predict(frame))
    np.testing.assert_allclose(pipeline.predict_proba(parsed), pipeline.predict_proba(frame), rtol=0, atol=1e-12)


def test_one_row_requests_predict_as_the_batch(fitted):
    frame, signature, pipeline = fitted
    body = json_records(frame.head(25))
    batch = pipeline.predict_proba(parse(body, signature, max_rows=25))
    singles = np.vstack([pipeline.predict_proba(parse(record, signature, max_rows=1)) for record in body])
    np.testing.assert_allclose(singles, batch, rtol=0, atol=1e-12)


def test_boolean_words_for_a_boolean_trained_column_predict_as_true_and_false(fitted):
    frame, signature, pipeline = fitted
    body = json_records(frame.head(20))
    words = [record | {"is_self_employed": "yes" if record["is_self_employed"] else "No"} for record in body]
    np.testing.assert_array_equal(
        pipeline.predict_proba(parse(words, signature, max_rows=20)),
        pipeline.predict_proba(parse(body, signature, max_rows=20)),
    )


def test_true_is_refused_for_a_word_trained_column_because_the_encoder_never_saw_it(fitted):
    frame, signature, pipeline = fitted
    prepare = pipeline.named_steps["prepare"]
    seen = {}
    for _, block, columns in prepare.transformers_:
        if hasattr(block, "named_steps") and "encode" in block.named_steps:
            seen |= dict(zip(columns, block.named_steps["encode"].categories_, strict=True))
    assert not {"True", True} & set(seen["has_cosigner"])  # True would be an unknown, silently ignored category
    assert {True, False} == set(seen["is_self_employed"])  # real booleans, encoded as 1.0/0.0
    record = json_records(frame.head(1))[0] | {"has_cosigner": True}
    error = only_error(record, signature=signature)
    assert (error["row"], error["field"]) == (0, "has_cosigner")


def test_a_numeric_string_is_refused_where_the_pipeline_would_silently_impute(fitted):
    frame, signature, _ = fitted
    record = json_records(frame.head(1))[0] | {"credit_score": "7O0"}  # as_float would make this NaN
    error = only_error(record, signature=signature)
    assert (error["row"], error["field"]) == (0, "credit_score")


def test_logged_rows_are_what_the_model_scored_as_json():
    """The log holds the parsed values: words for booleans as true/false, numbers as floats, NaN as null."""
    signature = {
        "inputs": [
            {"name": "n", "kind": "numeric", "dtype": "float64"},
            {"name": "b", "kind": "boolean", "dtype": "bool"},
            {"name": "w", "kind": "boolean", "dtype": "str"},
            {"name": "c", "kind": "categorical", "dtype": "str"},
        ]
    }
    sent = [{"n": 3, "b": "Y", "w": "Yes", "c": "x"}, {"n": None, "b": "false", "w": None, "c": None}]
    logged = records.logged_rows(records.parse_columns(sent, signature, max_rows=10))
    assert logged == [{"n": 3.0, "b": True, "w": "Yes", "c": "x"}, {"n": None, "b": False, "w": None, "c": None}]
    assert type(logged[0]["n"]) is float and json.loads(json.dumps(logged)) == logged


def test_prepare_changes_copies_of_the_values_before_they_are_checked():
    signature = {"inputs": [{"name": "c", "kind": "categorical", "dtype": "str"}]}
    sent = [{"c": " X "}]
    columns = records.parse_columns(sent, signature, max_rows=10, prepare=lambda cols: cols["c"].__setitem__(0, "x"))
    assert columns["c"].tolist() == ["x"] and sent == [{"c": " X "}]
