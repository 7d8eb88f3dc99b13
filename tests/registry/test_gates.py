"""Promotion gates: crafted inputs whose answers are worked out by hand and checked against scikit-learn."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from registry import gates
from registry.gates import (
    GateResult,
    artifact_hash,
    champion_challenger,
    fairness,
    metric_thresholds,
    overall,
    signature_compatible,
)

pytestmark = []  # pure module: no database

EXACT = 1e-12


def json_safe(result: GateResult) -> GateResult:
    json.dumps(result.to_dict(), allow_nan=False)
    return result


# metric thresholds


@pytest.mark.parametrize(
    ("metric", "op", "value", "status"),
    [
        ("f1", ">=", 0.8, "pass"),  # equality holds for >=
        ("f1", ">", 0.8, "fail"),  # ...but not for >
        ("f1", ">", 0.79, "pass"),
        ("rmse", "<=", 1.2, "pass"),
        ("rmse", "<", 1.2, "fail"),
        ("rmse", "<", 1.3, "pass"),
    ],
)
def test_threshold_operators(metric, op, value, status):
    result = metric_thresholds({"f1": 0.8, "rmse": 1.2}, [{"metric": metric, "op": op, "value": value}])
    assert result.status == status
    [check] = json_safe(result).details["checks"]
    assert check == {
        "metric": metric,
        "op": op,
        "value": value,
        "actual": {"f1": 0.8, "rmse": 1.2}[metric],
        "outcome": status,
    }


def test_thresholds_fail_naming_missing_and_nan_metrics_and_report_every_check():
    thresholds = [
        {"metric": "f1", "op": ">=", "value": 0.8},
        {"metric": "roc_auc", "op": ">=", "value": 0.9},
        {"metric": "accuracy", "op": ">=", "value": 0.7},
        {"metric": "precision", "op": ">=", "value": 0.5},
    ]
    result = json_safe(metric_thresholds({"f1": 0.85, "accuracy": 0.6, "precision": float("nan")}, thresholds))
    assert result.status == "fail"
    assert [c["outcome"] for c in result.details["checks"]] == ["pass", "missing", "fail", "missing"]
    assert result.details["missing"] == ["roc_auc", "precision"]
    assert result.details["failed"] == ["accuracy"]
    assert "1 of 4" in result.message and "roc_auc is missing" in result.message
    assert "accuracy is 0.6, needs >= 0.7" in result.message


def test_no_thresholds_is_skipped_and_unknown_operator_is_a_caller_error():
    assert metric_thresholds({"f1": 0.9}, []).status == "skipped"
    with pytest.raises(ValueError, match="=>"):
        metric_thresholds({"f1": 0.9}, [{"metric": "f1", "op": "=>", "value": 0.5}])


# champion / challenger: classification

Y = [1, 1, 1, 1, 0, 0, 0, 0]
CANDIDATE = [1, 1, 1, 0, 0, 0, 0, 1]  # TP 3, FP 1, FN 1: precision = recall = f1 = 0.75; accuracy 6/8
CHAMPION = [1, 1, 1, 1, 0, 0, 1, 1]  # TP 4, FP 2, FN 0: precision 2/3, recall 1, f1 0.8; accuracy 6/8


def test_hand_computed_classification_metrics_agree_with_sklearn():
    assert f1_score(Y, CANDIDATE) == pytest.approx(0.75, abs=EXACT)
    assert f1_score(Y, CHAMPION) == pytest.approx(0.8, abs=EXACT)
    assert accuracy_score(Y, CANDIDATE) == accuracy_score(Y, CHAMPION) == 0.75


@pytest.mark.parametrize(("tolerance", "status"), [(0.05, "pass"), (0.06, "pass"), (0.0499, "fail"), (0.0, "fail")])
def test_f1_candidate_worse_by_exactly_the_tolerance_passes(tolerance, status):
    # 0.8 - 0.75 is 0.05000000000000004 in floats: the boundary must still pass.
    result = json_safe(
        champion_challenger(Y, CANDIDATE, CHAMPION, metric="f1", tolerance=tolerance, task="classification")
    )
    assert result.status == status
    d = result.details
    assert d["candidate"] == pytest.approx(f1_score(Y, CANDIDATE), abs=EXACT)
    assert d["champion"] == pytest.approx(f1_score(Y, CHAMPION), abs=EXACT)
    assert d["difference"] == pytest.approx(-0.05, abs=EXACT)
    assert d["direction"] == "higher_is_better" and d["positive_label"] == 1 and d["rows"] == 8
    assert "0.75" in result.message and "0.8" in result.message


def test_equal_accuracy_passes_with_zero_tolerance():
    result = champion_challenger(Y, CANDIDATE, CHAMPION, metric="accuracy", tolerance=0.0, task="classification")
    assert result.status == "pass" and "equal" in result.message
    assert result.details["candidate"] == pytest.approx(accuracy_score(Y, CANDIDATE), abs=EXACT)
    assert result.details["difference"] == 0


def test_binary_f1_with_text_labels_uses_the_larger_label_as_positive():
    y = ["good", "good", "bad", "bad", "bad"]
    candidate = ["good", "bad", "bad", "bad", "bad"]  # positive "good": TP 1, FN 1, FP 0 -> f1 2/3
    champion = ["good", "good", "good", "bad", "bad"]  # TP 2, FP 1 -> precision 2/3, recall 1, f1 0.8
    result = champion_challenger(y, candidate, champion, metric="f1", tolerance=0.2, task="classification")
    assert result.details["positive_label"] == "good"
    assert result.details["candidate"] == pytest.approx(2 / 3, abs=EXACT)
    assert result.details["candidate"] == pytest.approx(f1_score(y, candidate, pos_label="good"), abs=EXACT)
    assert result.details["champion"] == pytest.approx(f1_score(y, champion, pos_label="good"), abs=EXACT)
    assert result.status == "pass"  # 0.8 - 2/3 = 0.1333 <= 0.2
    # With "bad" as positive the candidate would be the better model: the choice of label matters.
    assert f1_score(y, candidate, pos_label="bad") > f1_score(y, champion, pos_label="bad")


def test_multiclass_f1_is_macro_averaged():
    y = [0, 1, 2, 0, 1, 2]
    candidate = [0, 1, 1, 0, 2, 2]  # per class f1: 1, 0.5, 0.5 -> macro 2/3
    result = champion_challenger(y, candidate, y, metric="f1", tolerance=0.3, task="classification")
    assert result.details["averaging"] == "macro" and "positive_label" not in result.details
    assert result.details["candidate"] == pytest.approx(2 / 3, abs=EXACT)
    assert result.details["candidate"] == pytest.approx(f1_score(y, candidate, average="macro"), abs=EXACT)
    assert result.status == "fail"  # 1/3 worse than a perfect champion


@pytest.mark.parametrize(("tolerance", "status"), [(0.25, "pass"), (0.2, "fail")])
def test_roc_auc_on_positive_class_probabilities(tolerance, status):
    y = ["n", "n", "y", "y"]
    candidate = [0.1, 0.4, 0.35, 0.8]  # of the 4 (neg, pos) pairs only (0.4, 0.35) is misordered: AUC 0.75
    champion = [0.1, 0.2, 0.3, 0.4]  # perfect ranking: AUC 1
    result = champion_challenger(y, candidate, champion, metric="roc_auc", tolerance=tolerance, task="classification")
    positive = np.array(y) == "y"
    assert result.details["candidate"] == pytest.approx(0.75, abs=EXACT)
    assert result.details["candidate"] == pytest.approx(roc_auc_score(positive, candidate), abs=EXACT)
    assert result.details["champion"] == pytest.approx(roc_auc_score(positive, champion), abs=EXACT)
    assert result.details["positive_label"] == "y"
    assert result.status == status


def test_roc_auc_on_a_single_class_holdout_is_skipped():
    result = champion_challenger(
        [1, 1, 1], [0.2, 0.5, 0.9], [0.1, 0.2, 0.3], metric="roc_auc", tolerance=0.0, task="classification"
    )
    assert json_safe(result).status == "skipped" and "single class" in result.message


# champion / challenger: regression

YR = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, total sum of squares 5
CANDIDATE_R = [1.0, 2.0, 3.0, 7.0]  # errors 0, 0, 0, 3: rmse 1.5, mae 0.75, r2 1 - 9/5 = -0.8
CHAMPION_R = [2.0, 3.0, 4.0, 5.0]  # errors 1, 1, 1, 1: rmse 1, mae 1, r2 1 - 4/5 = 0.2


@pytest.mark.parametrize(
    ("metric", "sklearn_metric", "candidate", "champion"),
    [
        ("rmse", root_mean_squared_error, 1.5, 1.0),
        ("mae", mean_absolute_error, 0.75, 1.0),
        ("r2", r2_score, -0.8, 0.2),
    ],
)
def test_hand_computed_regression_metrics_agree_with_sklearn(metric, sklearn_metric, candidate, champion):
    result = champion_challenger(YR, CANDIDATE_R, CHAMPION_R, metric=metric, tolerance=10, task="regression")
    assert result.details["candidate"] == pytest.approx(candidate, abs=EXACT)
    assert result.details["candidate"] == pytest.approx(sklearn_metric(YR, CANDIDATE_R), abs=EXACT)
    assert result.details["champion"] == pytest.approx(champion, abs=EXACT)
    assert result.details["champion"] == pytest.approx(sklearn_metric(YR, CHAMPION_R), abs=EXACT)


@pytest.mark.parametrize(("tolerance", "status"), [(0.5, "pass"), (0.49, "fail")])
def test_higher_rmse_is_worse_and_the_tolerance_boundary_passes(tolerance, status):
    result = json_safe(
        champion_challenger(YR, CANDIDATE_R, CHAMPION_R, metric="rmse", tolerance=tolerance, task="regression")
    )
    assert result.status == status
    assert result.details["direction"] == "lower_is_better"
    assert result.details["difference"] == pytest.approx(0.5, abs=EXACT)  # candidate - champion
    assert result.details["shortfall"] == pytest.approx(0.5, abs=EXACT)
    assert "0.5 worse" in result.message


def test_lower_mae_is_better_even_with_zero_tolerance_and_r2_drop_fails():
    mae = champion_challenger(YR, CANDIDATE_R, CHAMPION_R, metric="mae", tolerance=0.0, task="regression")
    assert mae.status == "pass" and "0.25 better" in mae.message
    assert mae.details["difference"] == pytest.approx(-0.25, abs=EXACT)
    # Swapping the roles makes the lower-is-better candidate the worse one.
    swapped = champion_challenger(YR, CHAMPION_R, CANDIDATE_R, metric="mae", tolerance=0.2, task="regression")
    assert swapped.status == "fail"
    r2 = champion_challenger(YR, CANDIDATE_R, CHAMPION_R, metric="r2", tolerance=0.99, task="regression")
    assert r2.status == "fail" and r2.details["shortfall"] == pytest.approx(1.0, abs=EXACT)


def test_no_champion_is_skipped():
    result = champion_challenger(YR, CANDIDATE_R, None, metric="rmse", tolerance=0.1, task="regression")
    assert json_safe(result).status == "skipped"
    assert "no production version to compare with" in result.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"metric": "rmse", "task": "classification"}, "not a classification metric"),
        ({"metric": "f1", "task": "clustering"}, "Unknown task"),
        ({"metric": "mae", "task": "regression", "tolerance": -0.1}, "zero or more"),
    ],
)
def test_champion_challenger_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        champion_challenger(YR, CANDIDATE_R, CHAMPION_R, **{"tolerance": 0.1, **kwargs})


def test_champion_challenger_rejects_rows_that_do_not_line_up():
    with pytest.raises(ValueError, match="same rows"):
        champion_challenger(YR, CANDIDATE_R[:3], CHAMPION_R, metric="mae", tolerance=0.1, task="regression")


# signature compatibility

PRODUCTION = {
    "inputs": [
        {"name": "age", "kind": "numeric", "dtype": "int64"},
        {"name": "city", "kind": "categorical", "dtype": "object"},
        {"name": "income", "kind": "numeric", "dtype": "float64"},
    ],
    "output": {"task": "classification", "classes": [0, 1]},
}


def signature(*columns: tuple[str, str]) -> dict:
    return {"inputs": [{"name": n, "kind": k, "dtype": "float64"} for n, k in columns], "output": PRODUCTION["output"]}


def test_same_columns_in_another_order_and_dtype_are_compatible():
    candidate = signature(("income", "numeric"), ("age", "numeric"), ("city", "categorical"))
    result = json_safe(signature_compatible(candidate, PRODUCTION))
    assert result.status == "pass"
    assert result.details == {
        "missing": [],
        "extra": [],
        "kind_changes": [],
        "production_inputs": 3,
        "candidate_inputs": 3,
    }


def test_missing_extra_and_kind_changed_columns_are_each_reported():
    candidate = signature(("age", "numeric"), ("city", "text"), ("score", "numeric"), ("region", "categorical"))
    result = json_safe(signature_compatible(candidate, PRODUCTION))
    assert result.status == "fail"
    assert result.details["missing"] == ["income"]
    assert result.details["extra"] == ["score", "region"]
    assert result.details["kind_changes"] == [{"name": "city", "production": "categorical", "candidate": "text"}]
    assert "income" in result.message and "score, region" in result.message
    assert "city categorical → text" in result.message


@pytest.mark.parametrize(
    ("columns", "reason"),
    [
        ((("age", "numeric"), ("city", "categorical")), "missing"),
        ((("age", "numeric"), ("city", "categorical"), ("income", "numeric"), ("zip", "categorical")), "extra"),
        ((("age", "categorical"), ("city", "categorical"), ("income", "numeric")), "kind_changes"),
    ],
)
def test_any_single_incompatibility_fails(columns, reason):
    result = signature_compatible(signature(*columns), PRODUCTION)
    assert result.status == "fail"
    assert [key for key in ("missing", "extra", "kind_changes") if result.details[key]] == [reason]


def test_no_production_signature_is_skipped():
    assert signature_compatible(PRODUCTION, None).status == "skipped"


# fairness

# Group A: y_true 1 1 0 0, y_pred 1 1 1 0 -> positive rate 3/4, recall 2/2 = 1
# Group B: y_true 1 1 0 0, y_pred 1 0 0 0 -> positive rate 1/4, recall 1/2
FAIR_Y = [1, 1, 0, 0, 1, 1, 0, 0]
FAIR_PRED = [1, 1, 1, 0, 1, 0, 0, 0]
FAIR_GROUPS = ["A", "A", "A", "A", "B", "B", "B", "B"]


def by_group(result: GateResult) -> dict[str, dict]:
    return {row["group"]: row for row in result.details["groups"]}


@pytest.mark.parametrize(("max_gap", "status"), [(0.5, "pass"), (0.6, "pass"), (0.49, "fail")])
def test_gaps_exactly_at_the_limit_pass_and_above_fail(max_gap, status):
    result = json_safe(fairness(FAIR_Y, FAIR_PRED, FAIR_GROUPS, max_gap=max_gap))
    assert result.status == status
    groups = by_group(result)
    assert groups["A"] == {"group": "A", "n": 4, "positives": 2, "positive_rate": 0.75, "recall": 1.0}
    assert groups["B"] == {"group": "B", "n": 4, "positives": 2, "positive_rate": 0.25, "recall": 0.5}
    for name, rows in (("A", slice(0, 4)), ("B", slice(4, 8))):
        assert groups[name]["recall"] == pytest.approx(recall_score(FAIR_Y[rows], FAIR_PRED[rows]), abs=EXACT)
        assert groups[name]["positive_rate"] == pytest.approx(np.mean(FAIR_PRED[rows]), abs=EXACT)
    assert result.details["positive_rate_gap"] == pytest.approx(0.5, abs=EXACT)
    assert result.details["recall_gap"] == pytest.approx(0.5, abs=EXACT)
    assert "A 0.75 vs B 0.25" in result.message and "A 1 vs B 0.5" in result.message


def test_a_recall_gap_alone_fails():
    # Both groups predict positive half the time, but B finds none of its positives.
    y, pred, groups = [1, 0, 1, 0], [1, 0, 0, 1], ["A", "A", "B", "B"]
    result = fairness(y, pred, groups, max_gap=0.2)
    assert result.details["positive_rate_gap"] == 0
    assert result.details["recall_gap"] == pytest.approx(1.0, abs=EXACT)
    assert result.status == "fail"


def test_groups_without_positives_are_left_out_of_the_recall_gap():
    y = [*FAIR_Y, 0, 0]
    pred = [*FAIR_PRED, 1, 0]
    groups = [*FAIR_GROUPS, "C", "C"]
    result = json_safe(fairness(y, pred, groups, max_gap=0.5))
    assert by_group(result)["C"] == {"group": "C", "n": 2, "positives": 0, "positive_rate": 0.5, "recall": None}
    assert result.details["excluded_from_recall"] == ["C"]
    assert "C" in result.details["recall_note"]
    assert result.details["recall_gap"] == pytest.approx(0.5, abs=EXACT)  # A and B only
    assert result.status == "pass"


def test_missing_group_values_form_their_own_group():
    y = [1, 0, 1, 0, 1, 1]
    pred = [1, 0, 1, 1, 0, 1]
    groups = np.array(["A", "A", None, np.nan, "B", "B"], dtype=object)
    result = json_safe(fairness(y, pred, groups, max_gap=1.0))
    groups_found = by_group(result)
    assert list(groups_found) == ["A", "B", "(missing)"]
    assert groups_found["(missing)"] == {
        "group": "(missing)",
        "n": 2,
        "positives": 1,
        "positive_rate": 1.0,
        "recall": 1.0,
    }
    assert groups_found["B"]["recall"] == pytest.approx(recall_score([1, 1], [0, 1]), abs=EXACT)


def test_fairness_positive_label_defaults_to_the_larger_label_and_can_be_given():
    y = ["approved", "denied", "approved", "denied"]
    pred = ["approved", "approved", "denied", "denied"]
    groups = ["A", "A", "B", "B"]
    default = fairness(y, pred, groups, max_gap=0.0)
    assert default.details["positive"] == "denied"
    explicit = fairness(y, pred, groups, max_gap=0.0, positive="approved")
    assert by_group(explicit)["A"]["recall"] == 1.0 and by_group(explicit)["B"]["recall"] == 0.0
    assert explicit.status == "fail"


def test_fairness_with_a_single_group_is_skipped():
    assert fairness([1, 0], [1, 1], ["A", "A"], max_gap=0.1).status == "skipped"


# artifact hash and overall


def test_artifact_hash_match_and_mismatch():
    data = b"model bytes"
    digest = hashlib.sha256(data).hexdigest()
    assert artifact_hash(data, digest).status == "pass"
    assert artifact_hash(data, digest.upper()).status == "pass"
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    result = json_safe(artifact_hash(data, wrong))
    assert result.status == "fail"
    assert digest[:12] in result.message and wrong[:12] in result.message
    assert digest[:13] not in result.message
    assert result.details == {"actual": digest, "expected": wrong, "size_bytes": len(data)}


def test_overall_fails_on_any_failure_and_lets_skipped_through():
    passed, failed, skipped = (GateResult("g", status, "m") for status in ("pass", "fail", "skipped"))
    assert overall([passed, skipped]) == "pass"
    assert overall([passed, failed, skipped]) == "fail"
    assert overall([]) == "pass"


def test_gate_result_is_frozen():
    result = GateResult("g", "pass", "m")
    with pytest.raises(AttributeError):
        result.status = "fail"  # type: ignore[misc]


def test_champion_challenger_gives_a_paired_bootstrap_interval_of_the_difference():
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 400)
    candidate = np.where(rng.random(400) < 0.85, y, 1 - y)
    champion = np.where(rng.random(400) < 0.80, y, 1 - y)
    result = champion_challenger(y, candidate, champion, metric="accuracy", tolerance=0.0, task="classification")

    # Independently: the same seeded resamples, accuracy difference as a mean of per-row differences.
    draw = np.random.default_rng(gates.BOOTSTRAP_SEED)
    per_row = (candidate == y).astype(float) - (champion == y).astype(float)
    differences = [per_row[draw.integers(0, 400, 400)].mean() for _ in range(gates.BOOTSTRAP_ROUNDS)]
    low, high = result.details["difference_ci95"]
    assert (low, high) == pytest.approx(tuple(np.percentile(differences, [2.5, 97.5])), abs=1e-12)
    assert low < result.details["difference"] < high
    assert "95% bootstrap interval" in result.message

    same = champion_challenger(y, champion, champion, metric="f1", tolerance=0.0, task="classification")
    assert same.details["difference_ci95"] == [0.0, 0.0]
    again = champion_challenger(y, candidate, champion, metric="accuracy", tolerance=0.0, task="classification")
    assert again.details["difference_ci95"] == [low, high]


def test_r2_of_a_constant_truth_is_finite_as_scikit_learn_gives_it():
    from registry.gates import _score

    truth = np.array([2.0, 2.0, 2.0])
    assert _score("r2", truth, np.array([2.0, 2.0, 2.0]), []) == 1.0
    assert _score("r2", truth, np.array([1.0, 2.0, 3.0]), []) == 0.0
