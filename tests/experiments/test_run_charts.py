"""experiments.charts for run pages: figures built from real training results and sweep rows, checked trace by trace."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from experiments import charts, training

SCHEMA = [
    {"name": "income", "kind": "numeric", "dtype": "float64"},
    {"name": "age", "kind": "numeric", "dtype": "float64"},
    {"name": "city", "kind": "categorical", "dtype": "object"},
    {"name": "defaulted", "kind": "categorical", "dtype": "object"},
    {"name": "spend", "kind": "numeric", "dtype": "float64"},
]


def small_frame(rows: int = 150, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50_000, 12_000, rows)
    age = rng.integers(18, 80, rows).astype(float)
    city = rng.choice(["Paris", "Lyon", "Nice"], rows).astype(object)
    logit = -(income - 50_000) / 8_000 + (city == "Nice") * 1.5 + rng.normal(0, 0.8, rows)
    frame = pd.DataFrame(
        {
            "income": income,
            "age": age,
            "city": city,
            "defaulted": np.where(logit > 0, "yes", "no").astype(object),
            "spend": income * 0.1 + age * 20 + rng.normal(0, 300, rows),
        }
    )
    frame.loc[frame.index[::9], "income"] = np.nan
    return frame


@pytest.fixture(scope="module")
def frame():
    return small_frame()


@pytest.fixture(scope="module")
def binary(frame):
    request = {"target": "defaulted", "algorithm": "logistic_regression", "features": ["income", "age", "city"]}
    return training.train(frame, SCHEMA, request)


@pytest.fixture(scope="module")
def regression(frame):
    request = {"target": "spend", "algorithm": "ridge", "features": ["income", "age", "city"]}
    return training.train(frame, SCHEMA, request)


@pytest.fixture(scope="module")
def holdout(binary, frame):
    """The binary run's holdout scored again by the stored model, to check the charts against scikit-learn."""
    model = training.load_model(binary.model_bytes, binary.model_sha256)
    test = frame.loc[binary.split["test_index"]]
    return model, test.drop(columns=["defaulted"]), test["defaulted"]


def axis_titles(figure) -> list[str]:
    layout = figure.layout.to_plotly_json()
    return [axis["title"]["text"] for name, axis in layout.items() if name.startswith(("xaxis", "yaxis"))]


TRIALS = [
    {"run": 11, "status": "succeeded", "params": {"max_depth": "3", "learning_rate": "0.1", "criterion": "gini"}},
    {"run": 12, "status": "succeeded", "params": {"max_depth": "10", "learning_rate": "0.05", "criterion": "gini"}},
    {"run": 13, "status": "succeeded", "params": {"max_depth": "None", "learning_rate": "0.2", "criterion": "gini"}},
    {"run": 14, "status": "succeeded", "params": {"max_depth": "5", "learning_rate": "0.1", "criterion": "gini"}},
    {"run": 15, "status": "failed", "params": {"max_depth": "7", "learning_rate": "0.3", "criterion": "gini"}},
]
F1 = {11: 0.61, 12: 0.66, 13: 0.72, 14: 0.64}


@pytest.fixture
def trials():
    return [trial | {"metrics": {"f1": F1[trial["run"]]} if trial["run"] in F1 else {}} for trial in TRIALS]


@pytest.fixture
def rows(trials):
    return [trial | {"label": f"trial {trial['run']}"} for trial in trials]


# --- param_number -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", 3.0), ("0.1", 0.1), ("1e-4", 1e-4), (" 2 ", 2.0), ("-1", -1.0), (5, 5.0), (0.5, 0.5)],
)
def test_param_number_reads_numeric_texts(text, expected):
    assert charts.param_number(text) == expected


@pytest.mark.parametrize("text", ["None", "gini", "True", True, "", "nan", "inf", None, "{'a': 1}"])
def test_param_number_refuses_words_booleans_and_non_finite_values(text):
    assert charts.param_number(text) is None


# --- metric_history ---------------------------------------------------------------------------------


def series(label, count, *, total=None):
    points = [{"step": step, "value": 1 / (step + 1)} for step in range(count)]
    return {"label": label, "points": points, "downsampled": total is not None, "total_points": total or count}


def test_metric_history_overlays_one_line_per_run_with_the_logged_points():
    figure = charts.metric_history("val_loss", [series("run a", 300, total=12_000), series("run b", 300)])

    assert [trace.type for trace in figure.data] == ["scatter", "scatter"]
    assert [trace.name for trace in figure.data] == ["run a", "run b"]
    assert list(figure.data[0].x) == list(range(300))
    assert figure.data[1].y[9] == pytest.approx(0.1)
    assert {trace.mode for trace in figure.data} == {"lines"}  # long series: no markers
    assert figure.data[0].line.color != figure.data[1].line.color
    assert all("step %{x:,}" in trace.hovertemplate for trace in figure.data)
    assert figure.layout.title.text == "val_loss by step"
    assert figure.layout.title.subtitle.text == "1 of 2 runs downsampled from up to 12,000 points, extremes kept"
    assert axis_titles(figure) == ["Step", "val_loss (value)"]
    assert figure.layout.showlegend is True


def test_metric_history_of_one_short_series_has_markers_and_says_it_was_downsampled():
    figure = charts.metric_history("loss", [series("run a", 20, total=90_000)])

    assert figure.data[0].mode == "lines+markers"
    assert figure.layout.title.subtitle.text == "Downsampled from 90,000 points, extremes kept"
    assert figure.layout.showlegend is False


def test_metric_history_shortens_long_legend_entries_but_keeps_the_full_label_on_hover():
    long_label = "a run with a very long descriptive name that keeps on going"
    figure = charts.metric_history("loss", [series(long_label, 5), *(series(f"run {i}", 5) for i in range(11))])

    assert len(figure.data[0].name) <= charts.LEGEND_CHARS and figure.data[0].name.endswith("…")
    assert figure.data[0].meta == (long_label,)
    assert figure.layout.height > charts.BASE_LAYOUT["height"]  # room for the wrapped legend
    assert figure.layout.title.subtitle.text is None


def test_metric_history_without_points_is_none():
    assert charts.metric_history("loss", []) is None
    assert charts.metric_history("loss", [{"label": "a", "points": [], "total_points": 0}]) is None


# --- evaluation: classification ---------------------------------------------------------------------


def test_confusion_matrix_matches_scikit_learn_on_the_same_holdout(binary, holdout):
    model, X_test, y_test = holdout
    figure = charts.confusion_matrix(binary.evaluation)

    (heatmap,) = figure.data
    assert heatmap.type == "heatmap"
    expected = sk_confusion_matrix(y_test, model.predict(X_test), labels=["no", "yes"])
    assert [list(row) for row in heatmap.z] == expected.tolist()
    assert list(heatmap.x) == list(heatmap.y) == ["no", "yes"]
    assert heatmap.texttemplate == "%{text:,}" and "True %{y}, predicted %{x}" in heatmap.hovertemplate
    assert figure.layout.xaxis.title.text == "Predicted class"
    assert figure.layout.yaxis.title.text == "True class"
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "category"
    assert figure.layout.title.text == f"Confusion matrix, {len(y_test)} holdout rows"


def test_confusion_matrix_keeps_numeric_labels_as_categories():
    figure = charts.confusion_matrix(
        {"confusion_matrix": {"labels": [0, 1, 2], "matrix": [[5, 1, 0], [2, 4, 0], [0, 0, 3]]}}
    )

    assert list(figure.data[0].x) == ["0", "1", "2"]
    assert figure.layout.xaxis.type == "category"  # plotly would otherwise draw 0, 1, 2 as a number line
    assert figure.data[0].customdata[1][0] == pytest.approx(2 / 6)  # share of the true class row


def test_roc_curve_plots_the_stored_points_against_the_chance_line(binary):
    figure = charts.roc_curve(binary.evaluation)

    chance, model = figure.data
    assert (list(chance.x), list(chance.y)) == ([0, 1], [0, 1])
    assert list(model.x) == binary.evaluation["roc_curve"]["fpr"]
    assert list(model.y) == binary.evaluation["roc_curve"]["tpr"]
    assert model.text[0] == "threshold above every score"  # sklearn's infinite first threshold, stored as None
    assert model.text[1].startswith("threshold ")
    # Fewer than 200 points were stored, so the area from the points is scikit-learn's AUC exactly.
    assert figure.layout.title.text == f"ROC curve (AUC {binary.metrics['roc_auc']:.3f})"
    assert axis_titles(figure) == ["False positive rate (% of negatives)", "True positive rate (% of positives)"]


def test_roc_curve_takes_the_recorded_auc_when_given(binary):
    assert charts.roc_curve(binary.evaluation, auc=0.9).layout.title.text == "ROC curve (AUC 0.900)"


def test_pr_curve_reports_scikit_learn_average_precision_and_the_positive_share(binary, holdout):
    model, X_test, y_test = holdout
    figure = charts.pr_curve(binary.evaluation)

    chance, curve = figure.data
    expected_ap = average_precision_score(y_test, model.predict_proba(X_test)[:, 1], pos_label="yes")
    assert figure.layout.title.text == f"Precision-recall curve (AP {expected_ap:.3f})"
    assert list(curve.x) == binary.evaluation["pr_curve"]["recall"]
    assert list(curve.y) == binary.evaluation["pr_curve"]["precision"]
    assert curve.text[-1] == "no threshold (end point)"
    assert chance.y[0] == pytest.approx((y_test == "yes").mean())
    assert axis_titles(figure) == ["Recall (% of positives found)", "Precision (% of predicted positives)"]


def test_feature_importance_draws_bars_top_first_with_std_error_bars(binary):
    figure = charts.feature_importance(binary.importance)

    (bars,) = figure.data
    ordered = sorted(binary.importance, key=lambda row: -row["importance_mean"])
    assert bars.type == "bar" and bars.orientation == "h"
    assert list(bars.y) == [row["feature"] for row in ordered]
    assert list(bars.x) == [row["importance_mean"] for row in ordered]
    assert list(bars.error_x.array) == [row["importance_std"] for row in ordered]
    assert figure.layout.yaxis.autorange == "reversed"  # the first bar is drawn at the top
    assert figure.layout.xaxis.title.text == "Drop in f1 when shuffled (score)"
    assert figure.layout.title.text == "Permutation importance on the holdout"


def test_regression_charts_are_none_for_a_classification_run(binary):
    assert charts.residuals(binary.evaluation) is None
    assert charts.residual_histogram(binary.evaluation) is None


# --- evaluation: regression -------------------------------------------------------------------------


def test_residuals_plot_actual_minus_predicted_against_the_prediction(regression):
    stored = regression.evaluation["residuals"]
    figure = charts.residuals(regression.evaluation)

    (points,) = figure.data
    assert points.type == "scattergl"
    assert list(points.x) == stored["predicted"]
    assert list(points.y) == pytest.approx([a - p for a, p in zip(stored["actual"], stored["predicted"], strict=True)])
    assert list(points.customdata) == stored["actual"]
    assert figure.layout.shapes[0].y0 == 0  # the zero line
    assert axis_titles(figure) == ["Predicted value (target units)", "Residual, actual − predicted (target units)"]
    assert figure.layout.title.text == f"Residuals against prediction, {regression.split['test_rows']} holdout rows"


def test_residuals_title_says_when_the_points_are_a_sample():
    evaluation = {
        "residuals": {"predicted": [1.0, 2.0], "actual": [1.5, 1.0]},
        "residual_histogram": {"edges": [-1.0, 0.0, 1.0], "counts": [600, 400]},
    }
    assert charts.residuals(evaluation).layout.title.text == "Residuals against prediction, 2 of 1,000 holdout rows"


def test_residual_histogram_counts_every_holdout_row(regression):
    figure = charts.residual_histogram(regression.evaluation)

    assert list(figure.data[0].y) == regression.evaluation["residual_histogram"]["counts"]
    assert sum(figure.data[0].y) == regression.split["test_rows"]
    assert axis_titles(figure) == ["Residual, actual − predicted (target units)", "Holdout rows (count)"]


def test_regression_importance_is_a_rise_in_rmse(regression):
    figure = charts.feature_importance(regression.importance)
    assert figure.layout.xaxis.title.text == "Rise in rmse when shuffled (target units)"


def test_classification_charts_are_none_for_a_regression_run(regression):
    assert charts.confusion_matrix(regression.evaluation) is None
    assert charts.roc_curve(regression.evaluation) is None
    assert charts.pr_curve(regression.evaluation) is None


@pytest.mark.parametrize(
    "builder",
    [
        charts.confusion_matrix,
        charts.roc_curve,
        charts.pr_curve,
        charts.residuals,
        charts.residual_histogram,
        charts.feature_importance,
    ],
)
@pytest.mark.parametrize("empty", [None, {}, []])
def test_evaluation_charts_of_nothing_are_none(builder, empty):
    assert builder(empty) is None


def test_multiclass_evaluation_has_a_matrix_but_no_curves():
    evaluation = {"confusion_matrix": {"labels": ["a", "b", "c"], "matrix": [[3, 0, 0], [0, 3, 1], [1, 0, 2]]}}
    assert charts.confusion_matrix(evaluation) is not None
    assert charts.roc_curve(evaluation) is None
    assert charts.pr_curve(evaluation) is None


# --- sweeps -----------------------------------------------------------------------------------------


def test_sweep_has_one_subplot_per_varying_hyperparameter(trials):
    figure = charts.sweep_metric_vs_params(trials, "f1", best_run=13)

    # criterion is "gini" everywhere, so it gets no subplot; the failed trial has no f1 and is left out.
    assert [annotation.text for annotation in figure.layout.annotations] == ["learning_rate", "max_depth"]
    assert figure.layout.title.text == "f1 against each hyperparameter"
    assert figure.layout.title.subtitle.text == "4 trials; 1 without f1 left out"
    assert figure.layout.xaxis.title.text == "learning_rate (param value)"
    assert figure.layout.xaxis2.title.text == "max_depth (param value)"
    assert figure.layout.yaxis.title.text == "f1 (value)"


def test_sweep_axis_is_numeric_only_when_every_value_parses(trials):
    figure = charts.sweep_metric_vs_params(trials, "f1", best_run=13)

    assert figure.layout.xaxis.type == "linear"  # learning_rate: 0.1, 0.05, 0.2
    assert figure.layout.xaxis2.type == "category"  # max_depth has "None"
    assert list(figure.layout.xaxis2.categoryarray) == ["3", "5", "10", "None"]  # numbers in numeric order first
    learning_rate = [trace for trace in figure.data if trace.xaxis == "x"]
    assert sorted(x for trace in learning_rate for x in trace.x) == [0.05, 0.1, 0.1, 0.2]


def test_sweep_highlights_the_best_trial(trials):
    figure = charts.sweep_metric_vs_params(trials, "f1", best_run=13)

    best = [trace for trace in figure.data if trace.name == "Best trial"]
    others = [trace for trace in figure.data if trace.name == "Trial"]
    assert len(best) == len(others) == 2  # one of each per subplot
    assert [list(trace.y) for trace in best] == [[0.72], [0.72]]
    assert best[0].customdata[0][0] == 13 and list(best[1].x) == ["None"]
    assert best[0].marker.color == charts.BEST_COLOUR != others[0].marker.color
    assert best[0].marker.symbol == "star"
    assert sorted(others[0].y) == [0.61, 0.64, 0.66]
    assert [trace.showlegend for trace in figure.data] == [True, True, False, False]
    assert "%{meta[0]} = %{customdata[1]}" in others[0].hovertemplate


def test_sweep_without_a_best_run_has_no_highlight_or_legend(trials):
    figure = charts.sweep_metric_vs_params(trials, "f1", best_run=None)
    assert {trace.name for trace in figure.data} == {"Trial"}
    assert figure.layout.showlegend is False


def test_sweep_wraps_many_hyperparameters_into_rows():
    trials = [
        {"run": run, "params": {name: str(run * k) for k, name in enumerate("abcde", 1)}, "metrics": {"f1": run / 10}}
        for run in (1, 2, 3)
    ]
    figure = charts.sweep_metric_vs_params(trials, "f1", best_run=3)
    assert len(figure.layout.annotations) == 5
    assert figure.layout.xaxis4.domain[0] == figure.layout.xaxis.domain[0]  # the fourth plot starts a second row
    assert figure.layout.yaxis4.title.text == "f1 (value)"


def test_sweep_with_nothing_to_compare_is_none(trials):
    same = [trial | {"params": {"criterion": "gini"}} for trial in trials]
    assert charts.sweep_metric_vs_params(same, "f1", best_run=13) is None
    assert charts.sweep_metric_vs_params(trials, "rmse", best_run=None) is None
    assert charts.sweep_metric_vs_params([], "f1", best_run=None) is None


# --- comparison: parallel coordinates, scatter, final metrics ---------------------------------------


def test_parallel_coordinates_has_one_axis_per_param_and_the_metric_last(rows):
    figure = charts.parallel_coordinates(rows, ["max_depth", "learning_rate", "criterion"], "f1")

    (parcoords,) = figure.data
    assert parcoords.type == "parcoords"
    labels = [dimension.label for dimension in parcoords.dimensions]
    assert labels == ["max_depth", "learning_rate", "criterion", "f1"]
    max_depth, learning_rate, criterion, f1 = parcoords.dimensions
    assert list(max_depth.ticktext) == ["3", "5", "10", "None"]
    assert list(max_depth.tickvals) == [0, 1, 2, 3]
    assert list(max_depth.values) == [0, 2, 3, 1]  # runs 11..14: "3", "10", "None", "5"
    assert learning_rate.ticktext is None and list(learning_rate.values) == [0.1, 0.05, 0.2, 0.1]
    assert list(criterion.ticktext) == ["gini"]
    assert list(f1.values) == list(parcoords.line.color) == [0.61, 0.66, 0.72, 0.64]
    assert parcoords.line.colorbar.title.text == "f1 (value)"
    assert figure.layout.title.text == "f1 across hyperparameters, 4 runs"


def test_parallel_coordinates_marks_a_missing_param_as_unset(rows):
    rows[0] = rows[0] | {"params": {"learning_rate": "0.1"}}
    figure = charts.parallel_coordinates(rows, ["max_depth", "learning_rate"], "f1")
    assert charts.UNSET in figure.data[0].dimensions[0].ticktext


def test_parallel_coordinates_needs_two_runs_with_the_metric(rows):
    assert charts.parallel_coordinates(rows[:1], ["max_depth"], "f1") is None
    assert charts.parallel_coordinates(rows, ["max_depth"], "rmse") is None


def test_scatter_places_runs_by_two_fields_and_names_them_on_hover(rows):
    figure = charts.scatter(rows, "params.learning_rate", "metrics.f1")

    (points,) = figure.data
    assert list(points.x) == [0.1, 0.05, 0.2, 0.1]  # the failed run has no f1
    assert list(points.y) == [0.61, 0.66, 0.72, 0.64]
    assert list(points.hovertext) == ["trial 11", "trial 12", "trial 13", "trial 14"]
    assert figure.layout.xaxis.type == figure.layout.yaxis.type == "linear"
    assert axis_titles(figure) == ["learning_rate (param value)", "f1 (metric value)"]
    assert figure.layout.title.text == "f1 against learning_rate, 4 runs"


def test_scatter_uses_a_category_axis_for_non_numeric_params(rows):
    figure = charts.scatter(rows, "params.max_depth", "metrics.f1")
    assert figure.layout.xaxis.type == "category"
    assert list(figure.data[0].x) == ["3", "10", "None", "5"]
    assert "%{x}<br>" in figure.data[0].hovertemplate and "%{y:.4g}" in figure.data[0].hovertemplate


def test_scatter_tells_runs_with_the_same_label_apart(rows):
    same = [row | {"label": "baseline"} for row in rows[:2]]
    assert list(charts.scatter(same, "params.max_depth", "metrics.f1").data[0].hovertext) == [
        "baseline (run 11)",
        "baseline (run 12)",
    ]


def test_scatter_of_absent_fields_is_none(rows):
    assert charts.scatter(rows, "params.nope", "metrics.f1") is None
    assert charts.scatter([], "params.max_depth", "metrics.f1") is None


def test_final_metric_bars_have_a_subplot_per_metric_and_one_colour_per_run(rows):
    for row, accuracy in zip(rows, [0.8, 0.82, 0.85, 0.81, None], strict=True):
        row["metrics"] = row["metrics"] | ({"accuracy": accuracy} if accuracy is not None else {})
    figure = charts.final_metric_bars(rows, ["f1", "accuracy", "never_logged"])

    assert figure.layout.title.text == "Final metrics"
    assert [annotation.text for annotation in figure.layout.annotations] == ["f1", "accuracy"]
    assert [trace.type for trace in figure.data] == ["bar", "bar"]  # one trace per metric
    colour_of = {}
    for trace in figure.data:
        for run, colour in zip(trace.x, trace.marker.color, strict=True):
            colour_of.setdefault(run, set()).add(colour)
    assert all(len(found) == 1 for found in colour_of.values())  # same colour in every subplot
    assert len({colour for found in colour_of.values() for colour in found}) == 4
    f1, accuracy = figure.data
    assert dict(zip(f1.x, f1.y, strict=True)) == {"#11": 0.61, "#12": 0.66, "#13": 0.72, "#14": 0.64}
    assert list(f1.customdata) == [f"trial {run}" for run in (11, 12, 13, 14)]
    assert figure.layout.yaxis.title.text == "f1 (value)" and figure.layout.yaxis2.title.text == "accuracy (value)"
    assert figure.layout.xaxis.title.text == "Run"


def test_final_metric_bars_without_values_is_none(rows):
    assert charts.final_metric_bars(rows, ["never_logged"]) is None
    assert charts.final_metric_bars([], ["f1"]) is None


# --- every figure serialises for the template tag -----------------------------------------------------


def test_every_run_figure_serialises_with_a_title(binary, regression, trials, rows):
    figures = [
        charts.metric_history("loss", [series("a", 3)]),
        charts.confusion_matrix(binary.evaluation),
        charts.roc_curve(binary.evaluation),
        charts.pr_curve(binary.evaluation),
        charts.residuals(regression.evaluation),
        charts.residual_histogram(regression.evaluation),
        charts.feature_importance(binary.importance),
        charts.sweep_metric_vs_params(trials, "f1", 13),
        charts.parallel_coordinates(rows, ["max_depth"], "f1"),
        charts.scatter(rows, "params.max_depth", "metrics.f1"),
        charts.final_metric_bars(rows, ["f1"]),
    ]
    for figure in figures:
        assert figure.layout.title.text and figure.layout.title.x == 0.0
        assert figure.to_json()
        assert all(
            trace.type == "parcoords" or trace.hovertemplate or trace.hoverinfo == "skip" for trace in figure.data
        )
