"""run_checks: crafted tables with known answers for every check, passing and not."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.quality import Thresholds, run_checks


def schema_of(df: pd.DataFrame, **kinds: str) -> list[dict[str, str]]:
    return [{"name": c, "kind": kinds.get(c, "numeric"), "dtype": str(df[c].dtype)} for c in df.columns]


def check(results: list[dict], name: str, column: str | None = None) -> dict:
    [found] = [r for r in results if r["check"] == name and r["column"] == column]
    return found


def run(df: pd.DataFrame, **kinds: str) -> list[dict]:
    return run_checks(df, schema_of(df, **kinds))


# missing values


def test_missing_values_pass_warn_and_fail_by_fraction():
    df = pd.DataFrame(
        {
            "full": range(20),
            "one": [np.nan, *range(19)],  # 5 %: not above the warning threshold
            "two": [np.nan, np.nan, *range(18)],  # 10 %
            "seven": [None] * 7 + ["a"] * 13,  # 35 %
        }
    )
    results = run(df, seven="categorical")

    assert check(results, "missing_values", "full")["status"] == "pass"
    assert check(results, "missing_values", "full")["message"] == "Column 'full' has no missing values."
    assert check(results, "missing_values", "one")["status"] == "pass"
    two = check(results, "missing_values", "two")
    assert (two["status"], two["count"], two["fraction"]) == ("warn", 2, 0.1)
    assert two["message"] == "Column 'two' is missing 2 of 20 rows (10%), more than the 5% warning threshold."
    assert two["examples"] == [{"two": None, "_row": 0}, {"two": None, "_row": 1}]
    seven = check(results, "missing_values", "seven")
    assert (seven["status"], seven["count"]) == ("fail", 7)
    assert "more than the 30% failure threshold" in seven["message"]
    assert len(seven["examples"]) == 5


def test_custom_thresholds_and_max_examples():
    df = pd.DataFrame({"x": [np.nan, 1.0, 2.0, 3.0]})

    results = run_checks(df, schema_of(df), thresholds=Thresholds(missing_warn=0.5, missing_fail=0.9), max_examples=0)

    assert check(results, "missing_values", "x")["status"] == "pass"
    assert check(results, "missing_values", "x")["examples"] == []


def test_unknown_outlier_method_is_refused():
    with pytest.raises(ValueError, match="only 'iqr'"):
        Thresholds(outlier_method="zscore")


# duplicate rows


def test_duplicate_rows_counts_repeats_of_earlier_rows_with_nan_equal():
    df = pd.DataFrame({"a": [1, 2, 1, 1, 3, 2.0], "b": ["x", None, "x", "y", "z", None]})

    result = check(run(df, b="categorical"), "duplicate_rows")

    assert (result["count"], result["status"]) == (2, "fail")  # rows 2 and 5; 2 of 6 is above 5 %
    assert result["fraction"] == pytest.approx(2 / 6)
    assert result["examples"] == [{"a": 1.0, "b": "x", "_row": 2}, {"a": 2.0, "b": None, "_row": 5}]
    assert result["message"].startswith("2 of 6 rows (33.3%) are exact copies of an earlier row")


def test_one_duplicate_in_many_rows_warns_and_none_passes():
    df = pd.DataFrame({"a": [*range(100), 0]})

    assert check(run(df), "duplicate_rows")["status"] == "warn"
    assert check(run(df.head(100)), "duplicate_rows")["status"] == "pass"
    assert check(run(df.head(100)), "duplicate_rows")["count"] == 0


# constant columns


def test_constant_columns_warn_including_all_missing():
    df = pd.DataFrame(
        {
            "same": [5, 5, np.nan, 5],
            "varies": [1, 2, 3, 4],
            "empty": [np.nan] * 4,
            "label": ["a", "a", "a", None],
        }
    )
    results = run(df, label="categorical")

    same = check(results, "constant_column", "same")
    assert (same["status"], same["count"]) == ("warn", 3)
    assert same["message"] == "Column 'same' has the single value \"5.0\" in every non-missing row."
    assert check(results, "constant_column", "varies")["status"] == "pass"
    empty = check(results, "constant_column", "empty")
    assert empty["status"] == "warn" and "every row is missing" in empty["message"]
    assert check(results, "constant_column", "label")["status"] == "warn"


# mixed types


def test_mixed_types_flags_the_minority_kind():
    df = pd.DataFrame(
        {
            "codes": pd.Series(["12", "13", "abc", " 14 ", "1.5e3", None], dtype="str"),
            "words": pd.Series(["a", "b", "42", "c", "d", ""], dtype=object),
            "clean": pd.Series(["a", "b", "", None], dtype="str").reindex(range(6)),
        }
    )
    results = run(df, codes="categorical", words="text", clean="categorical")

    codes = check(results, "mixed_types", "codes")
    assert (codes["status"], codes["count"]) == ("warn", 1)
    assert codes["examples"] == [{"codes": "abc", "_row": 2}]
    assert codes["message"].startswith("Column 'codes' is mostly numbers (4 rows) but 1 of 6 rows")
    words = check(results, "mixed_types", "words")
    assert (words["status"], words["count"], words["examples"]) == ("warn", 1, [{"words": "42", "_row": 2}])
    assert check(results, "mixed_types", "clean")["status"] == "pass"


def test_mixed_types_sees_python_numbers_in_object_columns_and_skips_other_columns():
    df = pd.DataFrame(
        {
            "obj": pd.Series([1, 2, 3, "n/a"], dtype=object),
            "num": [1.0, 2.0, 3.0, 4.0],
            "flag": pd.Series(["yes", "no", "1", "0"], dtype="str"),
        }
    )
    results = run(df, obj="categorical", flag="boolean")

    assert check(results, "mixed_types", "obj")["count"] == 1
    assert [r["column"] for r in results if r["check"] == "mixed_types"] == ["obj"]


# inconsistent spellings


def test_boolean_spellings_group_under_the_most_common():
    values = ["yes", "yes", "yes", "Yes", "Y", "1", " yes", "no", "no", "No", None]
    df = pd.DataFrame({"owns_home": pd.Series(values, dtype="str")})

    result = check(run(df, owns_home="boolean"), "inconsistent_spellings", "owns_home")

    assert result["status"] == "warn"
    assert result["groups"] == [["yes", [" yes", "1", "Y", "Yes"]], ["no", ["No"]]]
    assert result["count"] == 5
    assert result["fraction"] == pytest.approx(5 / 11)
    assert '"yes" written as " yes", "1", "Y", "Yes"; "no" written as "No"' in result["message"]
    assert [e["_row"] for e in result["examples"]] == [3, 4, 5, 6, 9]


def test_case_and_whitespace_variants_group_and_nan_is_ignored():
    values = ["New York", "New York", "new  york", "NEW YORK ", "Boston", np.nan, "Straße", "STRASSE"]
    df = pd.DataFrame({"city": pd.Series(values, dtype=object)})

    result = check(run(df, city="categorical"), "inconsistent_spellings", "city")

    assert result["groups"] == [["New York", ["NEW YORK ", "new  york"]], ["STRASSE", ["Straße"]]]
    assert result["count"] == 3
    assert result["examples"] == [
        {"city": "new  york", "_row": 2},
        {"city": "NEW YORK ", "_row": 3},
        {"city": "Straße", "_row": 6},
    ]


def test_yes_no_words_are_not_merged_in_a_column_of_other_codes():
    df = pd.DataFrame({"grade": pd.Series(["1", "2", "3", "yes", "t"], dtype="str")})

    result = check(run(df, grade="categorical"), "inconsistent_spellings", "grade")

    assert (result["status"], result["count"], result["groups"]) == ("pass", 0, [])


def test_numbers_and_bools_in_object_columns_group_with_their_text():
    df = pd.DataFrame({"flag": pd.Series([True, True, "true", "False", False], dtype=object)})

    result = check(run(df, flag="boolean"), "inconsistent_spellings", "flag")

    assert result["groups"] == [["True", ["true"]], ["False", ["False"]]]
    assert result["count"] == 2


def test_spelling_check_applies_only_to_label_kinds_and_passes_when_clean():
    df = pd.DataFrame({"n": [1, 2], "b": [True, False], "c": pd.Series(["a", "b"], dtype="str")})
    results = run(df, b="boolean", c="categorical")

    assert [(r["column"], r["status"]) for r in results if r["check"] == "inconsistent_spellings"] == [
        ("b", "pass"),
        ("c", "pass"),
    ]


# outliers


def test_outliers_use_iqr_fences_from_numpy_quartiles():
    values = np.array([*range(1, 21), 1000, -500, np.nan], dtype=float)
    df = pd.DataFrame({"x": values})
    q1, q3 = np.nanquantile(values, [0.25, 0.75])
    low, high = q1 - 3 * (q3 - q1), q3 + 3 * (q3 - q1)

    result = check(run(df), "outliers", "x")

    assert result["bounds"] == [pytest.approx(low), pytest.approx(high)]
    assert (result["status"], result["count"]) == ("warn", 2)
    assert result["examples"] == [{"x": 1000.0, "_row": 20}, {"x": -500.0, "_row": 21}]
    assert "IQR method" in result["message"] and f"{high:.6g}" in result["message"]


def test_few_outliers_pass_and_custom_k():
    values = [*range(200), 10_000]
    df = pd.DataFrame({"x": values})

    assert check(run(df), "outliers", "x")["status"] == "pass"  # 1 of 201 is under 1 %
    assert check(run(df), "outliers", "x")["count"] == 1
    wide = run_checks(df, schema_of(df), thresholds=Thresholds(iqr_k=100))
    assert check(wide, "outliers", "x")["count"] == 0


def test_zero_interquartile_range_is_not_flagged():
    df = pd.DataFrame({"x": [0] * 90 + list(range(1, 11))})

    result = check(run(df), "outliers", "x")

    assert (result["status"], result["count"], result["bounds"]) == ("pass", 0, None)
    assert "interquartile range is zero" in result["message"]


# target checks


def test_missing_target_fails_on_any_missing_label_and_passes_without():
    df = pd.DataFrame({"f": range(6), "y": [0, 1, None, 0, 1, 0]})
    schema = schema_of(df)

    result = check(run_checks(df, schema, target="y"), "missing_target", "y")
    assert (result["status"], result["count"], result["examples"]) == ("fail", 1, [{"y": None, "_row": 2}])
    assert check(run_checks(df.dropna(), schema, target="y"), "missing_target", "y")["status"] == "pass"


@pytest.mark.parametrize(
    ("minority", "status"),
    [(30, "pass"), (20, "pass"), (10, "warn"), (4, "fail")],
)
def test_class_imbalance_grades_the_rarest_share(minority, status):
    labels = ["no"] * (100 - minority) + ["yes"] * minority
    df = pd.DataFrame({"y": pd.Series(labels, dtype="str")})

    result = check(run_checks(df, schema_of(df, y="categorical"), target="y"), "class_imbalance", "y")

    assert result["status"] == status
    assert result["classes"] == {"no": 100 - minority, "yes": minority}
    assert (result["count"], result["fraction"]) == (minority, minority / 100)
    assert f'"yes" with {minority} of 100 labelled rows' in result["message"]


def test_class_imbalance_uses_labelled_rows_and_whole_number_labels():
    df = pd.DataFrame({"y": [0, 0, 0, 1, np.nan, 2, 2, 0]})

    result = check(run_checks(df, schema_of(df), target="y"), "class_imbalance", "y")

    assert result["classes"] == {"0": 4, "2": 2, "1": 1}
    assert result["fraction"] == pytest.approx(1 / 7)
    assert result["status"] == "warn"


def test_single_class_fails_and_regression_target_is_skipped():
    single = pd.DataFrame({"y": ["a"] * 5})
    regression = pd.DataFrame({"y": np.linspace(0, 1, 50)})

    assert (
        check(run_checks(single, schema_of(single, y="categorical"), target="y"), "class_imbalance", "y")["status"]
        == "fail"
    )
    assert not [r for r in run_checks(regression, schema_of(regression), target="y") if r["check"] == "class_imbalance"]


def test_unknown_target_is_refused():
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(ValueError, match="not in the table"):
        run_checks(df, schema_of(df), target="b")


# the report as a whole


def test_results_are_ordered_by_check_then_column():
    df = pd.DataFrame(
        {
            "n": [1.0, 2.0, 3.0],
            "c": pd.Series(["a", "b", "a"], dtype="str"),
            "m": [3, 2, 1],
            "y": pd.Series(["p", "q", "p"], dtype="str"),
        }
    )
    results = run_checks(df, schema_of(df, c="categorical", y="categorical"), target="y")

    assert [(r["check"], r["column"]) for r in results] == [
        ("missing_values", "n"),
        ("missing_values", "c"),
        ("missing_values", "m"),
        ("missing_values", "y"),
        ("duplicate_rows", None),
        ("constant_column", "n"),
        ("constant_column", "c"),
        ("constant_column", "m"),
        ("constant_column", "y"),
        ("mixed_types", "c"),
        ("mixed_types", "y"),
        ("inconsistent_spellings", "c"),
        ("inconsistent_spellings", "y"),
        ("outliers", "n"),
        ("outliers", "m"),
        ("missing_target", "y"),
        ("class_imbalance", "y"),
    ]
    assert results == run_checks(df, schema_of(df, c="categorical", y="categorical"), target="y")


def test_report_is_json_serialisable_without_nan():
    df = pd.DataFrame(
        {
            "n": [1.0, np.nan, np.inf, 1.0, 2.0, 1.0],
            "i": np.array([1, 1, 2, 1, 5, 1], dtype="int64"),
            "d": pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-01", None, "2024-01-01"]),
            "c": pd.Series(["a", None, "A ", "a", "12", "a"], dtype=object),
            "y": [0, 1, None, 0, 1, 0],
        }
    )
    results = run_checks(df, schema_of(df, d="datetime", c="categorical"), target="y")

    assert check(results, "duplicate_rows")["examples"][0] == {
        "n": 1.0,
        "i": 1,
        "d": "2024-01-01T00:00:00",
        "c": "a",
        "y": 0.0,
        "_row": 3,
    }
    decoded = json.loads(json.dumps(results, allow_nan=False))
    assert all(set(r) >= {"check", "column", "status", "count", "fraction", "message", "examples"} for r in decoded)
    assert {r["status"] for r in decoded} <= {"pass", "warn", "fail"}


def test_empty_table_passes_without_dividing_by_zero():
    df = pd.DataFrame({"n": pd.Series([], dtype="float64"), "c": pd.Series([], dtype="str")})

    results = run(df, c="categorical")

    assert check(results, "missing_values", "n")["fraction"] == 0.0
    assert check(results, "duplicate_rows")["status"] == "pass"
    json.dumps(results, allow_nan=False)
