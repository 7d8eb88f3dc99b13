"""experiments.metrics, checked against scikit-learn computed here independently."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, log_loss, mean_absolute_error, roc_auc_score

from experiments import metrics


def test_direction_of_built_in_and_user_metrics():
    assert metrics.lower_is_better("rmse") and metrics.lower_is_better("log_loss")
    assert metrics.lower_is_better("holdout_log_loss") and metrics.lower_is_better("val_loss")
    assert not metrics.lower_is_better("f1") and not metrics.lower_is_better("my_score")
    # What MLflow scripts log most: a bare `loss`, `train_mse`.
    assert metrics.lower_is_better("loss") and metrics.lower_is_better("train_mse") and metrics.lower_is_better("error")
    assert metrics.best("rmse", [3.0, None, 1.5]) == 1.5
    assert metrics.best("f1", [0.2, 0.9, None]) == 0.9
    assert metrics.best("f1", [None]) is None
    assert metrics.improvement("mae", 1.0, 3.0) == 2.0 and metrics.improvement("f1", 0.5, 0.75) == -0.25


def test_binary_scores_match_sklearn():
    truth = ["no", "yes", "yes", "no", "yes", "no"]
    predicted = ["no", "yes", "no", "no", "yes", "yes"]
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    got = metrics.score(metrics.CLASSIFICATION, truth, predicted, proba, classes=["no", "yes"])
    assert got["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert got["f1"] == pytest.approx(f1_score(truth, predicted, pos_label="yes"))
    assert got["log_loss"] == pytest.approx(log_loss(truth, proba, labels=["no", "yes"]))
    assert got["roc_auc"] == pytest.approx(roc_auc_score([t == "yes" for t in truth], proba[:, 1]))


def test_auc_is_left_out_when_a_class_is_missing_and_regression_needs_spread_for_r2():
    got = metrics.score(metrics.CLASSIFICATION, [1, 1], [1, 0], np.array([[0.1, 0.9], [0.6, 0.4]]), classes=[0, 1])
    assert "roc_auc" not in got and "log_loss" in got
    one_row = metrics.score(metrics.REGRESSION, [2.0], [3.5])
    assert one_row == {"rmse": 1.5, "mae": 1.5}
    rows = metrics.score(metrics.REGRESSION, [1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    assert rows["mae"] == pytest.approx(mean_absolute_error([1, 2, 4], [1.5, 2, 3])) and "r2" in rows


def test_task_from_signature_and_gate_metrics():
    assert metrics.task_from_signature({"output": {"task": "regression"}}) == "regression"
    assert metrics.task_from_signature({"output": {"task": "ranking"}}) is None
    assert metrics.task_from_signature(None) is None
    metrics.check_gate_metric("classification", "f1")
    with pytest.raises(ValueError, match="rmse"):
        metrics.check_gate_metric("regression", "f1")
    with pytest.raises(ValueError):
        metrics.score("ranking", [1], [1])


def test_only_computes_the_named_metrics_with_the_same_values():
    truth, predicted = ["a", "b", "b", "a", "b"], ["a", "b", "a", "a", "b"]
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8]])
    every = metrics.score("classification", truth, predicted, proba=proba, classes=["a", "b"])
    some = metrics.score("classification", truth, predicted, proba=proba, classes=["a", "b"], only=("f1", "roc_auc"))
    assert some == {"f1": every["f1"], "roc_auc": every["roc_auc"]}
    assert metrics.score("regression", [1.0, 2.0, 4.0], [1.5, 2.0, 3.0], only=("mae",)) == {"mae": pytest.approx(0.5)}


def test_the_preference_order_picks_each_tasks_headline_metric_from_what_a_run_logged():
    truth, predicted = ["no", "yes", "yes", "no"], ["no", "yes", "no", "no"]
    proba = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    binary = metrics.score(metrics.CLASSIFICATION, truth, predicted, proba, classes=["no", "yes"])
    regression = metrics.score(metrics.REGRESSION, [1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    assert metrics.preferred(binary) == "f1" == metrics.PRIMARY[metrics.CLASSIFICATION]
    assert metrics.preferred(regression) == "rmse" == metrics.PRIMARY[metrics.REGRESSION]
    assert metrics.preferred({"accuracy": 0.9, "roc_auc": 0.8}) == "roc_auc"
    assert metrics.preferred(["val_loss", "my_score"]) == "my_score"  # no built-in one: the first by name
    assert metrics.preferred([]) is None


def test_headline_preference_and_threshold_orders():
    assert metrics.HEADLINE == {
        metrics.CLASSIFICATION: ("f1", "roc_auc", "accuracy"),
        metrics.REGRESSION: ("rmse", "mae", "r2"),
    }
    assert metrics.HEADLINES == ("f1", "roc_auc", "accuracy", "rmse", "mae", "r2")
    assert metrics.PREFERENCE == ("f1", "roc_auc", "accuracy", "precision", "recall", "log_loss", "rmse", "mae", "r2")
    gated_first = ["f1", "accuracy", "roc_auc", "precision", "recall", "log_loss", "rmse", "mae", "r2"]
    assert list(metrics.THRESHOLD_METRICS) == gated_first
    assert set(metrics.PREFERENCE) == set(metrics.THRESHOLD_METRICS) == set(metrics.METRICS)
