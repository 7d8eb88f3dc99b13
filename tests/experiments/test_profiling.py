"""profile_frame: every statistic checked against an independent computation (numpy, statistics, by hand)."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pandas as pd
import pytest

from experiments.profiling import profile_frame


def schema_of(df: pd.DataFrame, **kinds: str) -> list[dict[str, str]]:
    return [{"name": c, "kind": kinds.get(c, "numeric"), "dtype": str(df[c].dtype)} for c in df.columns]


def profile_one(values, kind: str, **options) -> dict:
    df = pd.DataFrame({"x": values})
    return profile_frame(df, schema_of(df, x=kind), **options)["columns"][0]


def test_numeric_statistics_match_numpy_and_statistics():
    rng = np.random.default_rng(7)
    values = rng.normal(50, 12, 501).round(2)
    values[[3, 40, 41]] = np.nan
    values[[5, 6]] = 0.0
    present = values[~np.isnan(values)]

    column = profile_one(values, "numeric")

    assert column["nulls"] == 3
    assert column["null_fraction"] == pytest.approx(3 / 501)
    assert column["distinct"] == len(set(present.tolist()))
    assert column["zeros"] == 2
    assert column["min"] == present.min()
    assert column["max"] == present.max()
    assert column["mean"] == pytest.approx(statistics.mean(present.tolist()))
    assert column["std"] == pytest.approx(statistics.stdev(present.tolist()))
    for key, q in {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}.items():
        assert column["quantiles"][key] == pytest.approx(np.quantile(present, q)), key
    counts, edges = np.histogram(present, bins=20)
    assert column["histogram"]["counts"] == counts.tolist()
    assert column["histogram"]["edges"] == pytest.approx(edges.tolist())


def test_histogram_bins_option_and_values_on_edges():
    column = profile_one([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "numeric", histogram_bins=5)

    assert column["histogram"]["edges"] == [0, 2, 4, 6, 8, 10]
    assert column["histogram"]["counts"] == [2, 2, 2, 2, 3]  # the last bin includes its right edge
    assert column["quantiles"]["p25"] == 2.5


def test_integer_column_with_missing_values_becomes_float_and_keeps_counts():
    column = profile_one(pd.array([3, None, 3, 1], dtype="Int64"), "numeric")

    assert column["nulls"] == 1
    assert column["distinct"] == 2
    assert (column["min"], column["max"], column["mean"]) == (1.0, 3.0, pytest.approx(7 / 3))


def test_all_null_numeric_column_has_none_statistics():
    column = profile_one([np.nan, np.nan, np.nan], "numeric")

    assert column["nulls"] == 3 and column["null_fraction"] == 1.0
    assert column["distinct"] == 0
    assert column["min"] is None and column["max"] is None and column["mean"] is None and column["std"] is None
    assert set(column["quantiles"].values()) == {None}
    assert column["histogram"] == {"edges": [], "counts": []}


def test_single_value_column_has_one_bin_and_zero_spread():
    column = profile_one([4.5, 4.5, np.nan, 4.5], "numeric")

    assert column["distinct"] == 1
    assert column["std"] == 0.0
    assert set(column["quantiles"].values()) == {4.5}
    assert column["histogram"] == {"edges": [4.5, 4.5], "counts": [3]}


def test_one_value_has_no_sample_std():
    assert profile_one([2.0], "numeric")["std"] is None


def test_infinities_are_counted_apart_and_result_is_json_safe():
    column = profile_one([1.0, np.inf, -np.inf, 3.0, np.nan], "numeric")

    assert column["infinite"] == 2
    assert (column["min"], column["max"], column["mean"]) == (1.0, 3.0, 2.0)
    assert column["distinct"] == 4
    json.dumps(column, allow_nan=False)


def test_categorical_empty_string_is_a_value_and_nan_is_missing():
    column = profile_one(pd.Series(["a", "", None, "a", "", np.nan, "b"], dtype=object), "categorical")

    assert column["nulls"] == 2
    assert column["distinct"] == 3
    assert column["top_values"] == [["", 2], ["a", 2], ["b", 1]]  # ties broken by value, "" first


def test_top_values_keep_top_k_by_count_then_value():
    values = ["d"] * 5 + ["c"] * 3 + ["b"] * 3 + ["a"] * 3 + ["e"] * 1
    column = profile_one(pd.Series(values, dtype="str"), "categorical", top_k=3)

    assert column["top_values"] == [["d", 5], ["a", 3], ["b", 3]]
    assert column["distinct"] == 5


@pytest.mark.parametrize("dtype", ["str", object])
def test_top_values_among_many_unique_values_are_the_smallest(dtype):
    values = [f"v{i:03d}" for i in range(200, 0, -1)] + ["zz", "zz"]
    column = profile_one(pd.Series(values, dtype=dtype), "text", top_k=4)

    assert column["top_values"] == [["zz", 2], ["v001", 1], ["v002", 1], ["v003", 1]]
    assert column["distinct"] == 201


def test_text_lengths_are_over_rows_not_distinct_values():
    column = profile_one(pd.Series(["ab", "ab", "ab", "abcdef", None], dtype="str"), "text")

    assert (column["min_length"], column["max_length"]) == (2, 6)
    assert column["mean_length"] == pytest.approx((2 * 3 + 6) / 4)


def test_mixed_object_values_are_shown_as_text():
    column = profile_one(pd.Series(["x", 7, 7, 2.5, None], dtype=object), "categorical")

    assert column["top_values"] == [["7", 2], ["2.5", 1], ["x", 1]]


def test_boolean_dtype_and_boolean_words():
    flags = profile_one([True, False, True, True], "boolean")
    words = profile_one(pd.Series(["yes", "no", None, "yes"], dtype="str"), "boolean")

    assert flags["top_values"] == [["True", 3], ["False", 1]]
    assert flags["distinct"] == 2 and flags["nulls"] == 0
    assert words["top_values"] == [["yes", 2], ["no", 1]]
    assert words["nulls"] == 1


def test_all_null_categorical_column():
    column = profile_one(pd.Series([None, None], dtype=object), "categorical")

    assert column["nulls"] == 2 and column["distinct"] == 0 and column["top_values"] == []


def test_datetime_column_range_and_time_histogram():
    stamps = pd.to_datetime(["2024-01-01", "2024-01-03", None, "2024-01-05", "2024-01-05"])
    column = profile_one(stamps, "datetime", histogram_bins=4)

    assert column["nulls"] == 1
    assert column["distinct"] == 3
    assert column["min"] == "2024-01-01T00:00:00"
    assert column["max"] == "2024-01-05T00:00:00"
    assert column["histogram"]["edges"] == [f"2024-01-0{d}T00:00:00" for d in (1, 2, 3, 4, 5)]
    assert column["histogram"]["counts"] == [1, 0, 1, 2]


def test_datetime_strings_are_parsed_and_failures_counted():
    column = profile_one(pd.Series(["2024-03-01", "not a date", None, "2024-03-02 12:00"], dtype=object), "datetime")

    assert column["nulls"] == 1
    assert column["unparsed"] == 1
    assert (column["min"], column["max"]) == ("2024-03-01T00:00:00", "2024-03-02T12:00:00")
    assert sum(column["histogram"]["counts"]) == 2


def test_time_zone_aware_datetimes_keep_their_zone():
    stamps = pd.Series(pd.to_datetime(["2024-06-01 10:00", "2024-06-02 10:00"]).tz_localize("Europe/Paris"))
    column = profile_one(stamps, "datetime", histogram_bins=2)

    assert column["min"] == "2024-06-01T10:00:00+02:00"
    assert column["histogram"]["edges"][1] == "2024-06-01T22:00:00+02:00"


def test_frame_shape_order_and_progress_reports():
    df = pd.DataFrame({f"c{i}": [i, i + 1] for i in range(12)})
    calls = []

    result = profile_frame(df, schema_of(df), progress=lambda percent, message: calls.append((percent, message)))

    assert (result["row_count"], result["column_count"]) == (2, 12)
    assert [c["name"] for c in result["columns"]] == list(df.columns)
    assert [round(p, 1) for p, _ in calls] == [41.7, 83.3, 100.0]
    assert calls[-1][1] == "Profiled 12 of 12 columns"


def test_whole_profile_is_json_serialisable_without_nan():
    df = pd.DataFrame(
        {
            "n": [1.5, np.nan, np.inf, 2.0],
            "empty": [np.nan] * 4,
            "c": pd.Series(["a", None, "", "a"], dtype="str"),
            "b": [True, False, True, False],
            "d": pd.to_datetime(["2024-01-01", None, None, "2024-02-01"]),
            "t": pd.Series(["long text", None, None, None], dtype=object),
        }
    )
    schema = schema_of(df, c="categorical", b="boolean", d="datetime", t="text")

    result = profile_frame(df, schema)

    assert json.loads(json.dumps(result, allow_nan=False))["row_count"] == 4


def test_empty_frame():
    df = pd.DataFrame({"n": pd.Series([], dtype="float64"), "c": pd.Series([], dtype="str")})

    result = profile_frame(df, schema_of(df, c="categorical"))

    assert result["row_count"] == 0
    assert result["columns"][0]["null_fraction"] == 0.0 and result["columns"][0]["min"] is None
    assert result["columns"][1]["top_values"] == []
    json.dumps(result, allow_nan=False)
