"""monitoring.performance: metrics of labelled predictions, recomputed with scikit-learn."""

import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from monitoring import performance


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "1"), (1.0, "1"), ("1", "1"), ("1.0", "1"), (True, "True"), ("true", "True"), (" yes ", "yes"), (0.5, "0.5")],
)
def test_labels_have_one_spelling(value, expected):
    assert performance.label(value) == expected


def test_binary_metrics_match_scikit_learn_and_odd_labels_are_left_out():
    truth = [1, 0, 1.0, "1", 0, 0, "maybe", 1]
    predicted = [1, 0, 0, 1, 1, 0, 1, 1]
    probabilities = [{"0.0": 1 - p, "1.0": p} for p in (0.9, 0.2, 0.4, 0.8, 0.6, 0.1, 0.7, 0.95)]
    metrics = performance.classification(truth, predicted, probabilities)
    kept = [0, 1, 2, 3, 4, 5, 7]  # "maybe" is none of the model's classes
    y_true = [int(float(truth[i])) for i in kept]
    y_pred = [predicted[i] for i in kept]
    assert metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert metrics["f1"] == pytest.approx(f1_score(y_true, y_pred))
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y_true, [probabilities[i]["1.0"] for i in kept]))


def test_boolean_classes_and_no_usable_labels():
    probabilities = [{"False": 0.3, "True": 0.7}, {"False": 0.8, "True": 0.2}]
    metrics = performance.classification(["true", False], [True, False], probabilities)
    assert metrics["accuracy"] == 1.0
    assert performance.classification(["x", "y"], [True, False], probabilities) == {}
    assert performance.classification([], [], []) == {}


def test_regression_metrics_skip_labels_that_are_not_numbers():
    metrics = performance.regression([1.0, 2.0, "n/a", 4.0], [1.5, 2.0, 3.0, 3.0])
    assert metrics["mae"] == pytest.approx((0.5 + 0 + 1) / 3)


def test_labels_are_spelled_as_ground_truth_stores_them_even_for_huge_numbers():
    from deployments import labels
    from monitoring import performance

    assert performance.label(1) == performance.label("1.0") == performance.label(1.0) == labels.key("1") == "1"
    assert performance.label(True) == labels.key("true") == "True"
    assert performance.label(10**400) == str(10**400)  # float() of it used to raise OverflowError
