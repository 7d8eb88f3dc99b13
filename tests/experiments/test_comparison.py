from experiments.comparison import compare


def version(schema, columns, rows):
    return {"schema": schema, "profile": {"columns": columns} if columns is not None else None, "row_count": rows}


def test_schema_changes_and_statistics_side_by_side():
    a = version(
        [
            {"name": "x", "kind": "numeric", "dtype": "float64"},
            {"name": "y", "kind": "categorical", "dtype": "str"},
            {"name": "gone", "kind": "text", "dtype": "str"},
        ],
        [
            {
                "name": "x",
                "nulls": 3,
                "null_fraction": 0.3,
                "distinct": 7,
                "min": 1.0,
                "max": 9.0,
                "mean": 5.0,
                "std": 2.0,
                "quantiles": {"p50": 5.0},
            },
            {"name": "y", "nulls": 0, "null_fraction": 0.0, "distinct": 4},
        ],
        10,
    )
    b = version(
        [
            {"name": "x", "kind": "numeric", "dtype": "float64"},
            {"name": "y", "kind": "boolean", "dtype": "bool"},
            {"name": "new", "kind": "numeric", "dtype": "int64"},
        ],
        [
            {
                "name": "x",
                "nulls": 0,
                "null_fraction": 0.0,
                "distinct": 7,
                "min": 1.0,
                "max": 9.0,
                "mean": 5.5,
                "std": 2.0,
                "quantiles": {"p50": 5.0},
            },
            {"name": "y", "nulls": 0, "null_fraction": 0.0, "distinct": 2},
        ],
        8,
    )
    result = compare(a, b)
    assert result["rows"] == {"a": 10, "b": 8, "delta": -2}
    assert result["added"] == ["new"] and result["removed"] == ["gone"]
    assert result["retyped"] == [{"column": "y", "from": "categorical (str)", "to": "boolean (bool)"}]
    x = {row["stat"]: row for row in next(c for c in result["columns"] if c["column"] == "x")["stats"]}
    assert x["nulls"] == {"stat": "nulls", "a": 3, "b": 0, "delta": -3, "changed": True}
    assert x["mean"]["delta"] == 0.5 and not x["p50"]["changed"] and not x["max"]["changed"]
    assert result["profiles_ready"]


def test_missing_profile_is_reported_not_guessed():
    schema = [{"name": "x", "kind": "numeric", "dtype": "float64"}]
    result = compare(version(schema, None, 5), version(schema, [], 5))
    assert not result["profiles_ready"] and result["columns"][0]["stats"] == []


# --- run comparison helpers -------------------------------------------------------------------------


def test_run_metric_rows_pick_the_best_by_the_metrics_direction():
    from experiments.comparison import metric_rows

    metrics = {1: {"f1": 0.7, "rmse": 2.0, "holdout_rmse": 1.0, "cv_f1": 0.1}, 2: {"f1": 0.9, "rmse": 1.5}}
    rows = {row["key"]: row for row in metric_rows([1, 2], metrics)}
    assert rows["f1"]["best"] == 0.9 and rows["rmse"]["best"] == 1.5
    assert rows["holdout_rmse"]["best"] is None and "cv_f1" not in rows  # one value: nothing to pick


def test_run_ids_and_axes():
    from experiments.comparison import param_rows, run_ids, varying_axes

    assert run_ids(["3,1", "3"], 20) == ([3, 1], None)
    assert run_ids(["x"], 20)[1] == "Run ids are whole numbers."
    assert "Select 2 to 20" in run_ids(["1"], 20)[1]
    rows = param_rows([1, 2], {1: {"C": "1", "target": "y", "only": "a"}, 2: {"C": "2", "target": "z"}})
    assert varying_axes(rows, 8) == ["C"]
