"""Cleaning recipes: each op on a crafted frame, every bad recipe as field errors, byte-identical output."""

import hashlib
import io

import numpy as np
import pandas as pd
import pytest

from experiments import cleaning
from experiments.cleaning import RecipeError, apply_recipe, describe_step, to_csv_bytes, validate_recipe

MESSY_CSV = (
    b"id,income,owns_home,city,defaulted\n"
    b"1,50000,yes, Paris,0\n"
    b"2,,Yes,paris ,1\n"
    b"3,62000,no,Lyon,0\n"
    b"3,62000, NO ,LYON,0\n"
    b"4,58000,N,Lyon,\n"
    b"5,1000000,maybe,Nice,0\n"
    b"6,51000,1,Nice,1\n"
    b"7,,off,Paris,0\n"
)


def apply(df: pd.DataFrame, *steps: dict) -> pd.DataFrame:
    return apply_recipe(df, list(steps))


def errors_of(steps: object, columns: list[str] | None = None, kinds: dict[str, str] | None = None) -> dict:
    with pytest.raises(RecipeError) as caught:
        validate_recipe(steps, columns if columns is not None else ["a", "b", "c"], kinds)
    return caught.value.errors


# --- each op --------------------------------------------------------------------------------------------------


def test_drop_columns_keeps_the_rest_in_order():
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
    out = apply(df, {"op": "drop_columns", "columns": ["b"]})
    pd.testing.assert_frame_equal(out, pd.DataFrame({"a": [1, 2], "c": [0.5, 1.5]}))


def test_drop_duplicates_keeps_first_and_resets_the_index():
    df = pd.DataFrame({"a": [1, 2, 1, np.nan, np.nan, 2], "b": ["x", "y", "x", "z", "z", "Y"]})
    out = apply(df, {"op": "drop_duplicates"})
    expected = pd.DataFrame({"a": [1.0, 2.0, np.nan, 2.0], "b": ["x", "y", "z", "Y"]})
    pd.testing.assert_frame_equal(out, expected)


def test_map_values_replaces_only_listed_values():
    df = pd.DataFrame({"city": ["paris", "NY", "Lyon", None], "flag": [0, 1, 2, 1]})
    out = apply(
        df,
        {"op": "map_values", "column": "city", "mapping": {"paris": "Paris", "NY": None}},
        {"op": "map_values", "column": "flag", "mapping": {"0": "no", "1": "yes"}},
    )
    assert out["city"].iloc[0] == "Paris" and out["city"].iloc[2] == "Lyon"
    assert out["city"].isna().tolist() == [False, True, False, True]
    assert out["flag"].tolist() == ["no", "yes", 2, "yes"]


def test_map_values_matches_whole_floats_by_their_integer_text():
    df = pd.DataFrame({"score": [1.0, 2.5, np.nan]})
    out = apply(df, {"op": "map_values", "column": "score", "mapping": {"1": 10, "2.5": 25}})
    pd.testing.assert_series_equal(out["score"], pd.Series([10.0, 25.0, np.nan], name="score"))


def test_standardize_booleans_recognises_words_and_numbers():
    words = [" YES", "n", "True", "f", "1", "0", "On", "off", "T", "y ", "maybe", None, 1, 0, 2, True]
    df = pd.DataFrame({"w": pd.Series(words, dtype=object), "x": [1.0, 0.0, np.nan, 3.0] * 4})
    out = apply(df, {"op": "standardize_booleans", "columns": ["w", "x"]})
    expected_w = [True, False, True, False, True, False, True, False, True, True, None, None, True, False, None, True]
    pd.testing.assert_series_equal(out["w"], pd.Series(expected_w, dtype="boolean", name="w"))
    pd.testing.assert_series_equal(out["x"], pd.Series([True, False, None, None] * 4, dtype="boolean", name="x"))


def test_trim_strings_defaults_to_all_text_columns_and_blanks_become_missing():
    df = pd.DataFrame({"a": [" x ", "y\t", "   ", None], "b": ["  keep", "b", "c", "d"], "n": [1, 2, 3, 4]})
    out = apply(df, {"op": "trim_strings"})
    expected = pd.DataFrame({"a": ["x", "y", None, None], "b": ["keep", "b", "c", "d"], "n": [1, 2, 3, 4]})
    pd.testing.assert_frame_equal(out, expected)


def test_trim_strings_with_columns_touches_only_those():
    df = pd.DataFrame({"a": [" x "], "b": [" y "]})
    out = apply(df, {"op": "trim_strings", "columns": ["a"]})
    pd.testing.assert_frame_equal(out, pd.DataFrame({"a": ["x"], "b": [" y "]}))


def test_trim_and_casefold_leave_non_strings_alone():
    df = pd.DataFrame({"mixed": pd.Series([" A ", 1, None, 2.5], dtype=object)})
    out = apply(df, {"op": "trim_strings"}, {"op": "casefold_strings", "columns": ["mixed"]})
    assert out["mixed"].dtype == object
    assert out["mixed"].tolist()[:2] == ["a", 1] and out["mixed"].tolist()[3] == 2.5
    assert out["mixed"].isna().tolist() == [False, False, True, False]


def test_casefold_strings_uses_full_casefolding():
    df = pd.DataFrame({"w": ["ÉCOLE", "Straße", None, "MiXeD"], "n": [1, 2, 3, 4]})
    out = apply(df, {"op": "casefold_strings", "columns": ["w", "n"]})
    expected = pd.DataFrame({"w": ["école", "strasse", None, "mixed"], "n": [1, 2, 3, 4]})
    pd.testing.assert_frame_equal(out, expected)


@pytest.mark.parametrize(
    ("strategy", "filled"),
    [("median", 3.0), ("mean", 14 / 3), ("mode", 1.0)],
)
def test_impute_numeric_strategies(strategy, filled):
    df = pd.DataFrame({"v": [1.0, np.nan, 3.0, 10.0, np.nan]})
    out = apply(df, {"op": "impute", "column": "v", "strategy": strategy})
    pd.testing.assert_series_equal(out["v"], pd.Series([1.0, filled, 3.0, 10.0, filled], name="v"))


def test_impute_mode_breaks_ties_by_string_order():
    text = pd.DataFrame({"c": ["b", "a", "b", "a", None, "c"]})
    out = apply(text, {"op": "impute", "column": "c", "strategy": "mode"})
    assert out["c"].tolist() == ["b", "a", "b", "a", "a", "c"]
    # 10.0 and 9.0 tie; as text "10.0" < "9.0", so 10.0 wins even though 9.0 is the smaller number.
    numbers = pd.DataFrame({"v": [9.0, 10.0, 9.0, 10.0, np.nan]})
    out = apply(numbers, {"op": "impute", "column": "v", "strategy": "mode"})
    assert out["v"].tolist() == [9.0, 10.0, 9.0, 10.0, 10.0]


def test_impute_constant_keeps_or_widens_the_dtype():
    df = pd.DataFrame({"s": ["x", None], "f": [1.5, np.nan], "i": pd.array([1, None], dtype="Int64")})
    out = apply(
        df,
        {"op": "impute", "column": "s", "strategy": "constant", "value": "unknown"},
        {"op": "impute", "column": "f", "strategy": "constant", "value": 0},
        {"op": "impute", "column": "i", "strategy": "constant", "value": 0.5},
    )
    expected = pd.DataFrame({"s": ["x", "unknown"], "f": [1.5, 0.0], "i": pd.array([1.0, 0.5], dtype="Float64")})
    pd.testing.assert_frame_equal(out, expected)


def test_impute_constant_of_another_type_makes_the_column_object():
    df = pd.DataFrame({"f": [1.5, np.nan]})
    out = apply(df, {"op": "impute", "column": "f", "strategy": "constant", "value": "n/a"})
    assert out["f"].dtype == object and out["f"].tolist() == [1.5, "n/a"]


def test_impute_median_of_text_is_refused_at_apply_time():
    df = pd.DataFrame({"city": ["Paris", None]})
    with pytest.raises(RecipeError) as caught:
        apply(df, {"op": "drop_duplicates"}, {"op": "impute", "column": "city", "strategy": "median"})
    assert set(caught.value.errors) == {"steps[1].column"}


def test_impute_of_an_all_missing_column_is_refused():
    df = pd.DataFrame({"v": [np.nan, np.nan]})
    with pytest.raises(RecipeError, match=r"steps\[0\]\.column: 'v' has no values"):
        apply(df, {"op": "impute", "column": "v", "strategy": "mean"})


def test_drop_missing_target_keeps_order_and_resets_the_index():
    df = pd.DataFrame({"x": [1, 2, 3, 4], "y": [0.0, np.nan, 1.0, np.nan]})
    out = apply(df, {"op": "drop_missing_target", "column": "y"})
    pd.testing.assert_frame_equal(out, pd.DataFrame({"x": [1, 3], "y": [0.0, 1.0]}))


def test_clip_iqr_uses_quartiles_of_present_values():
    # Present values sorted: -50, 2, 3, 4, 100, so Q1 = 2, Q3 = 4, IQR = 2 and with k = 3 the bounds are -4 and 10.
    df = pd.DataFrame({"v": [2.0, np.nan, 3.0, 100.0, -50.0, 4.0]})
    out = apply(df, {"op": "clip_outliers", "column": "v", "method": "iqr"})
    expected = [2.0, np.nan, 3.0, 10.0, -4.0, 4.0]
    pd.testing.assert_series_equal(out["v"], pd.Series(expected, name="v"))


def test_clip_keeps_integer_columns_integer_by_rounding_bounds_inwards():
    # Q1 = 2, Q3 = 4, k = 1.25: upper bound 6.5, so 100 becomes 6.
    df = pd.DataFrame({"v": [1, 2, 3, 4, 100]})
    out = apply(df, {"op": "clip_outliers", "column": "v", "method": "iqr", "k": 1.25})
    pd.testing.assert_series_equal(out["v"], pd.Series([1, 2, 3, 4, 6], name="v"))


def test_clip_bounds_with_one_side():
    df = pd.DataFrame({"v": [-5.0, 0.5, 7.0]})
    out = apply(df, {"op": "clip_outliers", "column": "v", "method": "bounds", "lower": 0})
    pd.testing.assert_series_equal(out["v"], pd.Series([0.0, 0.5, 7.0], name="v"))
    out = apply(df, {"op": "clip_outliers", "column": "v", "method": "bounds", "lower": -1, "upper": 1})
    pd.testing.assert_series_equal(out["v"], pd.Series([-1.0, 0.5, 1.0], name="v"))


def test_clip_of_text_is_refused_at_apply_time():
    df = pd.DataFrame({"v": ["a", "b"]})
    with pytest.raises(RecipeError) as caught:
        apply(df, {"op": "clip_outliers", "column": "v", "method": "iqr"})
    assert set(caught.value.errors) == {"steps[0].column"}


# --- validation -----------------------------------------------------------------------------------------------


def test_validate_normalises_defaults_and_sorts_keys():
    steps = [
        {"op": "trim_strings"},
        {"method": "iqr", "column": "a", "op": "clip_outliers"},
        {"op": "clip_outliers", "column": "a", "method": "bounds", "upper": 5},
        {"op": "map_values", "column": "b", "mapping": {"z": 1, "a": None}},
        {"op": "impute", "column": "c", "strategy": "constant", "value": 0},
    ]
    assert validate_recipe(steps, ["a", "b", "c"]) == [
        {"columns": None, "op": "trim_strings"},
        {"column": "a", "k": 3.0, "method": "iqr", "op": "clip_outliers"},
        {"column": "a", "lower": None, "method": "bounds", "op": "clip_outliers", "upper": 5.0},
        {"column": "b", "mapping": {"a": None, "z": 1}, "op": "map_values"},
        {"column": "c", "op": "impute", "strategy": "constant", "value": 0},
    ]
    normalised = validate_recipe(steps, ["a", "b", "c"])
    assert all(list(step) == sorted(step) for step in normalised)
    assert list(normalised[3]["mapping"]) == ["a", "z"]


def test_validate_does_not_modify_the_given_steps():
    steps = [{"op": "clip_outliers", "column": "a", "method": "iqr"}]
    validate_recipe(steps, ["a"])
    assert steps == [{"op": "clip_outliers", "column": "a", "method": "iqr"}]


@pytest.mark.parametrize(
    ("steps", "keys"),
    [
        ({"op": "drop_duplicates"}, {"steps"}),
        ("drop_duplicates", {"steps"}),
        ([], {"steps"}),
        ([{"op": "drop_duplicates"}] * 51, {"steps"}),
        (["drop_duplicates"], {"steps[0]"}),
        ([{"op": "drop_duplicates"}, None], {"steps[1]"}),
        ([{"column": "a"}], {"steps[0].op"}),
        ([{"op": "explode"}], {"steps[0].op"}),
        ([{"op": 3}], {"steps[0].op"}),
        ([{"op": "impute", "column": "a"}], {"steps[0].strategy"}),
        ([{"op": "map_values", "column": "a"}], {"steps[0].mapping"}),
        ([{"op": "casefold_strings"}], {"steps[0].columns"}),
        ([{"op": "impute", "column": "a", "strategy": "constant"}], {"steps[0].value"}),
        ([{"op": "drop_duplicates", "subset": ["a"]}], {"steps[0].subset"}),
        ([{"op": "impute", "column": "a", "strategy": "median", "value": 1}], {"steps[0].value"}),
        ([{"op": "clip_outliers", "column": "a", "method": "bounds", "k": 2, "upper": 1}], {"steps[0].k"}),
        ([{"op": "clip_outliers", "column": "a", "method": "iqr", "lower": 0}], {"steps[0].lower"}),
        ([{"op": "drop_columns", "columns": "a"}], {"steps[0].columns"}),
        ([{"op": "drop_columns", "columns": []}], {"steps[0].columns"}),
        ([{"op": "drop_columns", "columns": ["a", "a"]}], {"steps[0].columns"}),
        ([{"op": "standardize_booleans", "columns": [1]}], {"steps[0].columns"}),
        ([{"op": "drop_missing_target", "column": 3}], {"steps[0].column"}),
        ([{"op": "map_values", "column": "a", "mapping": [["x", "y"]]}], {"steps[0].mapping"}),
        ([{"op": "map_values", "column": "a", "mapping": {}}], {"steps[0].mapping"}),
        ([{"op": "map_values", "column": "a", "mapping": {"x": {"nested": 1}}}], {"steps[0].mapping"}),
        ([{"op": "impute", "column": "a", "strategy": "max"}], {"steps[0].strategy"}),
        ([{"op": "impute", "column": "a", "strategy": "constant", "value": None}], {"steps[0].value"}),
        ([{"op": "impute", "column": "a", "strategy": "constant", "value": [1]}], {"steps[0].value"}),
        ([{"op": "clip_outliers", "column": "a", "method": "zscore", "k": 2}], {"steps[0].method"}),
        ([{"op": "clip_outliers", "column": "a", "method": "iqr", "k": -1}], {"steps[0].k"}),
        ([{"op": "clip_outliers", "column": "a", "method": "iqr", "k": True}], {"steps[0].k"}),
        ([{"op": "clip_outliers", "column": "a", "method": "iqr", "k": float("inf")}], {"steps[0].k"}),
        ([{"op": "clip_outliers", "column": "a", "method": "bounds", "lower": "0"}], {"steps[0].lower"}),
        ([{"op": "clip_outliers", "column": "a", "method": "bounds", "lower": 5, "upper": 1}], {"steps[0].lower"}),
        ([{"op": "clip_outliers", "column": "a", "method": "bounds"}], {"steps[0].lower"}),
        ([{"op": "impute", "column": "zzz", "strategy": "mode"}], {"steps[0].column"}),
        ([{"op": "trim_strings", "columns": ["a", "zzz"]}], {"steps[0].columns"}),
        ([{"op": "drop_columns", "columns": ["a", "b", "c"]}], {"steps[0].columns"}),
        (
            [{"op": "drop_columns", "columns": ["b"]}, {"op": "drop_missing_target", "column": "b"}],
            {"steps[1].column"},
        ),
        (
            [{"op": "explode"}, {"op": "drop_duplicates"}, {"op": "impute", "column": "q", "strategy": "mode"}],
            {"steps[0].op", "steps[2].column"},
        ),
    ],
    ids=[
        "dict-not-list",
        "string-not-list",
        "empty",
        "too-many",
        "step-not-object",
        "null-step",
        "missing-op",
        "unknown-op",
        "op-not-string",
        "missing-strategy",
        "missing-mapping",
        "missing-columns",
        "constant-without-value",
        "extra-param",
        "value-without-constant",
        "k-with-bounds",
        "lower-with-iqr",
        "columns-not-list",
        "columns-empty",
        "columns-repeated",
        "columns-not-strings",
        "column-not-string",
        "mapping-not-object",
        "mapping-empty",
        "mapping-nested-value",
        "bad-strategy",
        "constant-null",
        "constant-list",
        "bad-method",
        "negative-k",
        "bool-k",
        "infinite-k",
        "string-bound",
        "lower-above-upper",
        "no-bounds",
        "unknown-column",
        "unknown-column-in-list",
        "drop-every-column",
        "column-dropped-earlier",
        "errors-from-several-steps",
    ],
)
def test_validate_refuses(steps, keys):
    errors = errors_of(steps)
    assert set(errors) == keys
    assert all(messages and all(isinstance(m, str) and m for m in messages) for messages in errors.values())


def test_dropped_column_message_names_the_step_that_dropped_it():
    errors = errors_of([{"op": "drop_columns", "columns": ["b"]}, {"op": "casefold_strings", "columns": ["b"]}])
    assert errors == {"steps[1].columns": ["Unknown column at this step: 'b' was dropped by steps[0]."]}


def test_missing_parameter_message():
    assert errors_of([{"op": "drop_missing_target"}]) == {"steps[0].column": ["This field is required."]}


def test_recipe_error_is_a_readable_value_error():
    error = RecipeError({"steps[0].op": ["Unknown operation 'x'."], "steps[2].column": ["This field is required."]})
    assert isinstance(error, ValueError)
    assert str(error) == "steps[0].op: Unknown operation 'x'.; steps[2].column: This field is required."


@pytest.mark.parametrize(
    ("steps", "kinds", "keys"),
    [
        ([{"op": "impute", "column": "b", "strategy": "median"}], {"b": "categorical"}, {"steps[0].column"}),
        ([{"op": "impute", "column": "b", "strategy": "mean"}], {"b": "text"}, {"steps[0].column"}),
        ([{"op": "clip_outliers", "column": "b", "method": "iqr"}], {"b": "datetime"}, {"steps[0].column"}),
        (
            [{"op": "impute", "column": "a", "strategy": "constant", "value": "none"}],
            {"a": "numeric"},
            {"steps[0].value"},
        ),
    ],
    ids=["median-categorical", "mean-text", "clip-datetime", "text-constant-in-numeric"],
)
def test_validate_checks_kinds_when_given(steps, kinds, keys):
    assert set(errors_of(steps, kinds=kinds)) == keys
    assert validate_recipe(steps, ["a", "b", "c"])  # without kinds the same recipe is accepted


def test_columns_made_boolean_by_the_recipe_cannot_be_clipped_even_without_kinds():
    steps = [
        {"op": "standardize_booleans", "columns": ["a"]},
        {"op": "clip_outliers", "column": "a", "method": "bounds", "lower": 0},
    ]
    assert set(errors_of(steps)) == {"steps[1].column"}


def test_kinds_allow_numeric_strategies_on_numeric_columns_and_forget_mapped_columns():
    steps = [
        {"op": "impute", "column": "a", "strategy": "median"},
        {"op": "map_values", "column": "b", "mapping": {"low": 1, "high": 2}},
        {"op": "clip_outliers", "column": "b", "method": "iqr"},
    ]
    assert len(validate_recipe(steps, ["a", "b"], {"a": "numeric", "b": "categorical"})) == 3


# --- determinism, purity, serialisation ------------------------------------------------------------------------

REALISTIC_RECIPE = [
    {"op": "trim_strings"},
    {"op": "casefold_strings", "columns": ["city"]},
    {"op": "standardize_booleans", "columns": ["owns_home"]},
    {"op": "drop_duplicates"},
    {"op": "drop_missing_target", "column": "defaulted"},
    {"op": "impute", "column": "income", "strategy": "median"},
    {"op": "clip_outliers", "column": "income", "method": "iqr"},
]


def messy() -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(MESSY_CSV))


def test_realistic_recipe_on_a_messy_frame():
    # Row 4 duplicates row 3 once trimmed, casefolded and standardised; id 4 has no target;
    # the median of 50000, 62000, 1000000, 51000 is 56500; then Q1 = 52375, Q3 = 60625, so the cap is 85375.
    out = apply_recipe(messy(), REALISTIC_RECIPE)
    assert to_csv_bytes(out) == (
        b"id,income,owns_home,city,defaulted\n"
        b"1,50000.0,True,paris,0.0\n"
        b"2,56500.0,True,paris,1.0\n"
        b"3,62000.0,False,lyon,0.0\n"
        b"5,85375.0,,nice,0.0\n"
        b"6,51000.0,True,nice,1.0\n"
        b"7,56500.0,False,paris,0.0\n"
    )
    assert out.index.tolist() == list(range(6))
    assert str(out["owns_home"].dtype) == "boolean"


def test_apply_is_deterministic():
    first = to_csv_bytes(apply_recipe(messy(), REALISTIC_RECIPE))
    second = to_csv_bytes(apply_recipe(messy(), REALISTIC_RECIPE))
    assert first == second
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_apply_never_mutates_its_input():
    df = messy()
    before = df.copy(deep=True)
    steps = [*REALISTIC_RECIPE, {"op": "map_values", "column": "city", "mapping": {"nice": "Nice"}}]
    apply_recipe(df, steps)
    pd.testing.assert_frame_equal(df, before)


def test_apply_validates_stored_recipes_against_the_frame():
    with pytest.raises(RecipeError) as caught:
        apply_recipe(messy(), [{"op": "drop_missing_target", "column": "label"}])
    assert set(caught.value.errors) == {"steps[0].column"}


def test_progress_reports_each_step_then_100():
    calls = []
    apply_recipe(messy(), REALISTIC_RECIPE[:2], progress=lambda percent, message: calls.append((percent, message)))
    assert calls == [
        (0, "Step 1 of 2: Trim surrounding whitespace in all text columns (blank cells become missing)"),
        (50, "Step 2 of 2: Lowercase city"),
        (100, "Cleaning finished"),
    ]


def test_to_csv_bytes_is_canonical_and_round_trips_numbers():
    df = pd.DataFrame(
        {
            "f": [0.1 + 0.2, 1e-300, 1 / 3, 123456789.123456789, np.nan],
            "i": [1, -2, 3, 2**53, 0],
            "s": ["café", "a,b", 'say "hi"', None, "line\nbreak"],
        }
    )
    data = to_csv_bytes(df)
    assert data == to_csv_bytes(df.copy())
    assert b"\r" not in data and data.endswith(b"\n")
    assert data.splitlines()[0] == b"f,i,s"
    data.decode("utf-8")
    back = pd.read_csv(io.BytesIO(data))
    np.testing.assert_array_equal(back["f"].to_numpy(), df["f"].to_numpy())
    np.testing.assert_array_equal(back["i"].to_numpy(), df["i"].to_numpy())
    assert back["s"].tolist()[:3] == ["café", "a,b", 'say "hi"'] and back["s"].iloc[4] == "line\nbreak"


# --- descriptions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "sentence"),
    [
        ({"op": "drop_columns", "columns": ["a"]}, "Drop column a"),
        ({"op": "drop_columns", "columns": ["a", "b"]}, "Drop columns a, b"),
        ({"op": "drop_duplicates"}, "Drop exact duplicate rows, keeping the first"),
        (
            {"op": "map_values", "column": "c", "mapping": {"NY": "New York", "x": None}},
            'Replace values in c: "NY" → "New York", "x" → missing',
        ),
        (
            {"op": "map_values", "column": "c", "mapping": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}},
            'Replace values in c: "a" → 1, "b" → 2, "c" → 3 and 2 more',
        ),
        (
            {"op": "standardize_booleans", "columns": ["owns"]},
            "Convert owns to true/false (unrecognised values become missing)",
        ),
        (
            {"op": "trim_strings", "columns": None},
            "Trim surrounding whitespace in all text columns (blank cells become missing)",
        ),
        (
            {"op": "trim_strings", "columns": ["a", "b"]},
            "Trim surrounding whitespace in a, b (blank cells become missing)",
        ),
        ({"op": "casefold_strings", "columns": ["city"]}, "Lowercase city"),
        ({"op": "impute", "column": "income", "strategy": "median"}, "Impute income with the median"),
        ({"op": "impute", "column": "income", "strategy": "mean"}, "Impute income with the mean"),
        ({"op": "impute", "column": "city", "strategy": "mode"}, "Impute city with the most frequent value"),
        ({"op": "impute", "column": "city", "strategy": "constant", "value": "?"}, 'Impute city with the constant "?"'),
        ({"op": "drop_missing_target", "column": "y"}, "Drop rows where y is missing"),
        ({"op": "clip_outliers", "column": "v", "method": "iqr", "k": 3.0}, "Clip v to 3 × IQR beyond the quartiles"),
        ({"op": "clip_outliers", "column": "v", "method": "iqr", "k": 1.5}, "Clip v to 1.5 × IQR beyond the quartiles"),
        (
            {"op": "clip_outliers", "column": "v", "method": "bounds", "lower": 0.0, "upper": 1e6},
            "Clip v to between 0 and 1000000",
        ),
        (
            {"op": "clip_outliers", "column": "v", "method": "bounds", "lower": None, "upper": 2.5},
            "Clip v to at most 2.5",
        ),
        (
            {"op": "clip_outliers", "column": "v", "method": "bounds", "lower": -1.0, "upper": None},
            "Clip v to at least -1",
        ),
    ],
)
def test_describe_step(step, sentence):
    assert describe_step(step) == sentence


def test_every_op_has_an_apply_function_and_a_description():
    assert set(cleaning.OPS) == set(cleaning._APPLY)
    for step in validate_recipe(REALISTIC_RECIPE, list(messy().columns)):
        assert not describe_step(step).startswith("Unknown")


def test_fixed_row_steps_on_one_record_give_what_the_recipe_gives_that_row():
    """fit_row_steps + apply_row_steps on each record, one at a time, equal apply_recipe on the whole frame."""
    frame = pd.DataFrame(
        {
            "income": [50_000.0, None, 62_000.0, 58_000.0, 1_000_000.0, 51_000.0, None],
            "owns_home": ["yes", "Yes", " no", "N", "no", "1", None],
            "city": ["Paris", "paris ", "Lyon", "  ", "Nice", "NICE", "Lyon"],
            "grade": [1, 2, 3, 2, 40, 1, 2],
            "code": ["a", "b", "zz", "a", None, "b", "a"],
        }
    )
    recipe = [
        {"op": "trim_strings"},
        {"op": "casefold_strings", "columns": ["city"]},
        {"op": "standardize_booleans", "columns": ["owns_home"]},
        {"op": "map_values", "column": "code", "mapping": {"zz": "z"}},
        {"op": "impute", "column": "income", "strategy": "median"},
        {"op": "impute", "column": "city", "strategy": "mode"},
        {"op": "impute", "column": "code", "strategy": "constant", "value": "none"},
        {"op": "clip_outliers", "column": "grade", "method": "iqr", "k": 1.5},
    ]
    expected = cleaning.apply_recipe(frame, recipe)
    fitted = cleaning.fit_row_steps(frame, recipe)
    assert [step["step"] for step in fitted] == list(range(len(recipe)))
    assert fitted[4]["value"] == pytest.approx(frame["income"].median())
    for index, row in frame.iterrows():
        record = {name: [None if pd.isna(value) else value] for name, value in row.items()}
        cleaning.apply_row_steps(fitted, record)
        for name, values in record.items():
            want = expected.loc[index, name]
            got = values[0]
            assert (got is None and pd.isna(want)) or got == want, (index, name, got, want)


def test_row_steps_that_need_no_data_are_fixed_without_it_and_others_refuse():
    steps = [{"op": "trim_strings", "columns": None}, {"op": "drop_duplicates"}]
    assert cleaning.fit_row_steps(None, steps) == [{"op": "trim_strings", "columns": None, "step": 0}]
    with pytest.raises(ValueError):
        cleaning.fit_row_steps(None, [{"op": "impute", "column": "x", "strategy": "median"}])
