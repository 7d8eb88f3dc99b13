"""The version diff is pure: two snapshots (plain dicts) in, the page's rows out, no database."""

from registry import diff

A = {
    "params": {"max_depth": "3", "n_estimators": "100"},
    "metrics": {"f1": 0.80, "rmse": 2.0, "holdout_log_loss": 0.5, "note": "x"},
    "signature": {
        "inputs": [
            {"name": "age", "kind": "numeric", "dtype": "int64"},
            {"name": "city", "kind": "categorical", "dtype": "object"},
            {"name": "income", "kind": "numeric", "dtype": "float64"},
        ],
        "output": {"task": "classification", "classes": [0, 1]},
    },
    "lineage": {
        "inputs": [
            {"dataset": "loans", "version": 7, "chain": [{"number": 2, "sha256": "aaa", "recipe": []}]},
            {"dataset": "gone", "version": 3, "chain": []},
        ]
    },
}
B = {
    "params": {"max_depth": "5", "n_estimators": "100", "seed": "1"},
    "metrics": {"f1": 0.85, "rmse": 2.5, "holdout_log_loss": 0.4, "note": "y"},
    "signature": {
        "inputs": [
            {"name": "age", "kind": "numeric", "dtype": "float64"},
            {"name": "city", "kind": "numeric", "dtype": "float64"},
            {"name": "region", "kind": "categorical", "dtype": "object"},
        ],
        "output": {"task": "classification", "classes": [0, 1, 2]},
    },
    "lineage": {
        "inputs": [{"dataset": "loans", "version": 8, "chain": [{"number": 3, "sha256": "aaa", "recipe": []}]}]
    },
}


def test_params_are_split_into_changed_and_same():
    rows = diff.compare(A, B)
    assert [row["name"] for row in rows["params_changed"]] == ["max_depth", "seed"]
    assert [row["name"] for row in rows["params_same"]] == ["n_estimators"]
    assert rows["params_changed"][1] == {"name": "seed", "a": None, "b": "1", "differs": True}


def test_metrics_say_which_side_is_better_by_the_metric_direction():
    rows = {row["name"]: row for row in diff.compare(A, B)["metrics"]}
    assert rows["f1"]["better"] == "b" and abs(rows["f1"]["delta"] - 0.05) < 1e-9 and not rows["f1"]["lower"]
    assert rows["rmse"]["better"] == "a" and rows["rmse"]["lower"]  # an error: lower is better
    assert rows["holdout_log_loss"]["better"] == "b"
    assert rows["note"]["delta"] is None and rows["note"]["better"] is None  # not a number


def test_signature_rows_name_each_change_in_order():
    rows = diff.compare(A, B)["signature"]
    assert [(row["name"], row["change"]) for row in rows] == [
        ("age", "dtype changed"),
        ("city", "kind changed"),
        ("income", "removed"),
        ("region", "added"),
    ]
    output = {row["name"]: row for row in diff.compare(A, B)["output"]}
    assert output["Task"]["differs"] is False
    assert output["Classes"] == {"name": "Classes", "a": "0, 1", "b": "0, 1, 2", "differs": True}


def test_lineage_compares_the_bytes_each_side_trained_on():
    rows = {row["dataset"]: row for row in diff.compare(A, B)["lineage"]}
    assert rows["loans"]["same"] is True and rows["loans"]["a"]["number"] == 2 and rows["loans"]["b"]["number"] == 3
    assert rows["gone"]["b"] is None and rows["gone"]["same"] is False


def test_empty_snapshots_give_empty_tables():
    rows = diff.compare({}, {})
    assert rows["params"] == rows["metrics"] == rows["signature"] == rows["lineage"] == []
    assert [row["differs"] for row in rows["output"]] == [False, False]
