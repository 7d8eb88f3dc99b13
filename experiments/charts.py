"""Plotly figures for dataset and run pages: profile, evaluation and sweep dicts in, figures out."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from plotly.colors import qualitative

from experiments.metrics import lower_is_better, unit
from mlops_site import figures
from mlops_site.charts import BASE_LAYOUT
from mlops_site.figures import go

SMALL = {**BASE_LAYOUT, "height": 260, "margin": dict(l=55, r=15, t=45, b=55), "showlegend": False}
COLOUR = "#2d6aa3"


def missing_by_column(profile: dict) -> go.Figure:
    """Share of missing values per column, worst first."""
    columns = sorted(profile["columns"], key=lambda c: (-c["null_fraction"], c["name"]))
    figure = go.Figure(
        go.Bar(
            x=[c["name"] for c in columns],
            y=[100 * c["null_fraction"] for c in columns],
            marker_color=[
                "#c62828" if c["null_fraction"] > 0.3 else "#f9a825" if c["null_fraction"] > 0.05 else COLOUR
                for c in columns
            ],
            customdata=[c["nulls"] for c in columns],
            hovertemplate="%{x}: %{y:.1f}% missing (%{customdata:,} rows)<extra></extra>",
        )
    )
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=dict(text="Missing values by column", x=0.0),
        xaxis=dict(title="Column"),
        yaxis=dict(title="Missing (% of rows)", rangemode="tozero", ticksuffix="%"),
    )
    return figure


def column_distribution(column: dict) -> go.Figure | None:
    """Histogram for a numeric or datetime column, top values for the others."""
    if column.get("histogram") and column["histogram"].get("counts"):
        edges, counts = column["histogram"]["edges"], column["histogram"]["counts"]
        if column["kind"] == "numeric":
            centres = [(float(a) + float(b)) / 2 for a, b in itertools.pairwise(edges)]
            widths = [float(b) - float(a) for a, b in itertools.pairwise(edges)]
            bar = go.Bar(
                x=centres,
                y=counts,
                width=widths,
                marker_color=COLOUR,
                customdata=list(itertools.pairwise(edges)),
                hovertemplate="%{customdata[0]:.4g} to %{customdata[1]:.4g}: %{y:,} rows<extra></extra>",
            )
        else:
            bar = go.Bar(x=edges[:-1], y=counts, marker_color=COLOUR, hovertemplate="%{x}: %{y:,} rows<extra></extra>")
        figure = go.Figure(bar)
        figure.update_layout(
            **SMALL,
            bargap=0.02,
            title=dict(text=f"{column['name']}: distribution", x=0.0),
            xaxis=dict(title=f"{column['name']} (value)"),
            yaxis=dict(title="Rows (count)"),
        )
        return figure
    top = column.get("top_values") or []
    if not top:
        return None
    # Quote values with edge whitespace, so "yes" and "yes " are told apart.
    labels = [f'"{value}"' if value != str(value).strip() else (str(value) or "(empty)") for value, _ in top][::-1]
    figure = go.Figure(
        go.Bar(
            y=labels,
            x=[count for _, count in top][::-1],
            orientation="h",
            marker_color=COLOUR,
            hovertemplate="%{y}: %{x:,} rows<extra></extra>",
        )
    )
    figure.update_layout(
        **SMALL,
        title=dict(text=f"{column['name']}: most frequent values", x=0.0),
        xaxis=dict(title="Rows (count)"),
        yaxis=dict(title=None, automargin=True),
    )
    return figure


# ---------------------------------------------------------------------------------------------------
# Run pages: metric histories, holdout evaluation, sweeps and run comparison
# ---------------------------------------------------------------------------------------------------

BEST_COLOUR = "#e65100"
NEUTRAL_COLOUR = "#9e9e9e"
UNSET = "(unset)"  # a hyperparameter a trial did not record
MARKER_POINTS = 50  # lines get markers only while every series is at most this long
LEGEND_CHARS = 40
# experiments.training.MAX_CURVE_POINTS: a curve this long may have been thinned, so an area computed
# from its points is approximate. Not imported, because training.py loads scikit-learn.
THINNED_CURVE_POINTS = 200


def param_number(text: Any) -> float | None:
    """A stored parameter text ("3", "0.1", "1e-4") as a finite float; None for "None", "gini", "True", "nan"."""
    if text is None or isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        value = float(text)
    else:
        try:
            value = float(str(text).strip())
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def _axis_for(values: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Values to plot and their axis: numeric when every value parses, else categories (numbers first, in order)."""
    numbers = [param_number(value) for value in values]
    if values and all(number is not None for number in numbers):
        return numbers, {"type": "linear"}
    texts = [str(value) for value in values]
    order = sorted(set(texts), key=_category_key)
    return texts, {"type": "category", "categoryorder": "array", "categoryarray": order}


def _category_key(text: str) -> tuple[int, float, str]:
    """Numbers in numeric order ("3" before "10"), then the words ("None", "gini") alphabetically."""
    number = param_number(text)
    return (0, number, "") if number is not None else (1, 0.0, text)


def _title(text: str, subtitle: str | None = None) -> dict[str, Any]:
    title: dict[str, Any] = {"text": text, "x": 0.0}
    if subtitle:
        title["subtitle"] = {"text": subtitle}
    return title


def _short(label: str, limit: int = LEGEND_CHARS) -> str:
    """A legend entry that cannot squeeze the plot; hovers keep the full text."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _colours(count: int) -> list[str]:
    palette = qualitative.Plotly if count <= len(qualitative.Plotly) else qualitative.Dark24
    return [palette[index % len(palette)] for index in range(count)]


def _legend_room(entries: int) -> int:
    """Extra pixels for a horizontal legend below the plot, which plotly wraps at about three entries a line."""
    return 22 * max(0, math.ceil(entries / 3) - 1)


def _labels(rows: Sequence[dict]) -> list[str]:
    """One distinct label per run: its label (or "run N"), with the run id added where two runs share one."""
    labels = [str(row.get("label") or f"run {row.get('run')}") for row in rows]
    repeated = {label for label in labels if labels.count(label) > 1}
    return [
        f"{label} (run {row.get('run')})" if label in repeated else label
        for label, row in zip(labels, rows, strict=True)
    ]


def _param_text(row: dict, name: str) -> str:
    value = (row.get("params") or {}).get(name)
    return UNSET if value is None else str(value)


def _metric(row: dict, name: str) -> float | None:
    return param_number((row.get("metrics") or {}).get(name))


def _grid(count: int) -> tuple[int, int]:
    """(rows, columns) for `count` small multiples: one row up to three, then three (or two for four) a row."""
    columns = 2 if count == 4 else min(count, 3)
    return math.ceil(count / columns), columns


def _series_arrays(entry: dict) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of a history given as arrays or as [{step, value}] points.

    Arrays go to plotly as they are: it validates and serialises them in bulk (as typed arrays),
    where a list of 20,000 floats is checked one number at a time.
    """
    if "steps" in entry:
        return np.asarray(entry["steps"]), np.asarray(entry["values"], dtype=float)
    points = entry.get("points") or []
    return (
        np.fromiter((p["step"] for p in points), dtype=np.int64, count=len(points)),
        np.fromiter((math.nan if p["value"] is None else p["value"] for p in points), np.float64, len(points)),
    )


def _with_gaps(values: np.ndarray) -> np.ndarray:
    """NaN and ±Infinity as None, which plotly draws as a break in the line (with connectgaps off).

    Only histories that hold such values pay for the object array; the others stay typed arrays.
    """
    finite = np.isfinite(values)
    if finite.all():
        return values
    gapped = values.astype(object)
    gapped[~finite] = None
    return gapped


def metric_history(key: str, series: list[dict]) -> go.Figure | None:
    """One metric by step, one line per run, NaN and infinite points as gaps; the subtitle says when the
    server downsampled a history."""
    # A history without one finite point (a metric that was NaN throughout) would be an empty frame.
    drawn = [entry for entry in series if np.isfinite(_series_arrays(entry)[1]).any()]
    if not drawn:
        return None
    mode = "lines+markers" if max(len(_series_arrays(entry)[0]) for entry in drawn) <= MARKER_POINTS else "lines"
    figure = go.Figure()
    for entry, colour in zip(drawn, _colours(len(drawn)), strict=True):
        label = str(entry.get("label") or key)
        steps, values = _series_arrays(entry)
        figure.add_scatter(
            x=steps,
            y=_with_gaps(values),
            connectgaps=False,
            mode=mode,
            name=_short(label),
            meta=[label],
            line=dict(color=colour, width=2),
            marker=dict(size=5),
            hovertemplate="%{meta[0]}<br>step %{x:,}: %{y:.4g}<extra></extra>",
        )
    thinned = [entry for entry in drawn if entry.get("downsampled")]
    subtitle = None
    if len(thinned) == 1 and len(drawn) == 1:
        subtitle = f"Downsampled from {thinned[0].get('total_points', 0):,} points, extremes kept"
    elif thinned:
        largest = max(entry.get("total_points", 0) for entry in thinned)
        subtitle = f"{len(thinned)} of {len(drawn)} runs downsampled from up to {largest:,} points, extremes kept"
    extra = _legend_room(len(drawn)) if len(drawn) > 1 else 0
    figure.update_layout(
        **BASE_LAYOUT,
        title=_title(f"{key} by step", subtitle),
        xaxis=dict(title="Step"),
        yaxis=dict(title=f"{key} (value)"),
        showlegend=len(drawn) > 1,
    )
    figure.update_layout(
        height=BASE_LAYOUT["height"] + extra,
        margin={**BASE_LAYOUT["margin"], "t": 75 if subtitle else 50, "b": BASE_LAYOUT["margin"]["b"] + extra},
    )
    return figure


def _class_text(label: Any) -> str:
    return str(label) if str(label) == str(label).strip() and str(label) else f'"{label}"'


def confusion_matrix(evaluation: dict | None) -> go.Figure | None:
    """Holdout counts per (true, predicted) class, true classes as rows as scikit-learn lays them out."""
    found = (evaluation or {}).get("confusion_matrix")
    if not found or not found.get("matrix"):
        return None
    labels = [_class_text(label) for label in found["labels"]]
    matrix = found["matrix"]
    shares = [[count / (sum(row) or 1) for count in row] for row in matrix]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=labels,
            y=labels,
            text=matrix,
            texttemplate="%{text:,}",
            customdata=shares,
            colorscale=figures.colorscale("Blues"),
            colorbar=dict(title=dict(text="Rows (count)")),
            hovertemplate="True %{y}, predicted %{x}: %{z:,} rows (%{customdata:.1%} of true %{y})<extra></extra>",
        )
    )
    total = sum(sum(row) for row in matrix)
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=_title(f"Confusion matrix, {total:,} holdout rows"),
        xaxis=dict(title="Predicted class", type="category", side="bottom"),
        yaxis=dict(title="True class", type="category", autorange="reversed", automargin=True),
    )
    figure.update_layout(height=min(720, 220 + 40 * len(labels)), margin={**BASE_LAYOUT["margin"], "b": 60})
    return figure


def _threshold_texts(thresholds: Sequence[float | None], missing: str) -> list[str]:
    return [missing if value is None else f"threshold {value:.3g}" for value in thresholds]


def _rate_axis(title: str) -> dict[str, Any]:
    return dict(title=title, range=[-0.02, 1.02], tickformat=".0%", zeroline=False)


def roc_curve(evaluation: dict | None, *, auc: float | None = None) -> go.Figure | None:
    """ROC of the positive class against the chance diagonal; the AUC is `auc` or the area under the points."""
    found = (evaluation or {}).get("roc_curve")
    if not found or not found.get("fpr"):
        return None
    fpr, tpr = found["fpr"], found["tpr"]
    if auc is None:
        area = sum((x1 - x0) * (y0 + y1) / 2 for x0, x1, y0, y1 in zip(fpr, fpr[1:], tpr, tpr[1:], strict=False))
        auc_text = f"AUC ≈ {area:.3f}" if len(fpr) >= THINNED_CURVE_POINTS else f"AUC {area:.3f}"
    else:
        auc_text = f"AUC {auc:.3f}"
    figure = go.Figure()
    figure.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="Chance", line=dict(color=NEUTRAL_COLOUR, dash="dash"), hoverinfo="skip"
    )
    figure.add_scatter(
        x=fpr,
        y=tpr,
        mode="lines",
        name="Model",
        line=dict(color=COLOUR, width=2),
        text=_threshold_texts(found.get("thresholds") or [None] * len(fpr), "threshold above every score"),
        hovertemplate="False positives %{x:.1%}, true positives %{y:.1%}<br>%{text}<extra></extra>",
    )
    figure.update_layout(
        **BASE_LAYOUT,
        title=_title(f"ROC curve ({auc_text})"),
        xaxis=_rate_axis("False positive rate (% of negatives)"),
        yaxis=_rate_axis("True positive rate (% of positives)"),
    )
    figure.update_layout(height=400)
    return figure


def pr_curve(evaluation: dict | None, *, average_precision: float | None = None) -> go.Figure | None:
    """Precision against recall of the positive class, with the positive share as the chance level.

    Without `average_precision`, AP is computed from the points as scikit-learn does (exact unless thinned).
    """
    found = (evaluation or {}).get("pr_curve")
    if not found or not found.get("recall"):
        return None
    precision, recall = found["precision"], found["recall"]
    if average_precision is None:
        # scikit-learn's average_precision_score: sum of (R_n - R_n-1) * P_n, recall running from 1 down to 0.
        area = -sum((r1 - r0) * p0 for r0, r1, p0 in zip(recall, recall[1:], precision, strict=False))
        ap_text = f"AP ≈ {area:.3f}" if len(recall) >= THINNED_CURVE_POINTS else f"AP {area:.3f}"
    else:
        ap_text = f"AP {average_precision:.3f}"
    figure = go.Figure()
    matrix = ((evaluation or {}).get("confusion_matrix") or {}).get("matrix")
    if matrix and len(matrix) == 2 and sum(map(sum, matrix)):
        share = sum(matrix[1]) / sum(map(sum, matrix))  # the positive class is the second label, as in training
        figure.add_scatter(
            x=[0, 1],
            y=[share, share],
            mode="lines",
            name=f"Chance ({share:.0%} positives)",
            line=dict(color=NEUTRAL_COLOUR, dash="dash"),
            hoverinfo="skip",
        )
    figure.add_scatter(
        x=recall,
        y=precision,
        mode="lines",
        name="Model",
        line=dict(color=COLOUR, width=2),
        text=_threshold_texts(found.get("thresholds") or [None] * len(recall), "no threshold (end point)"),
        hovertemplate="Recall %{x:.1%}, precision %{y:.1%}<br>%{text}<extra></extra>",
    )
    figure.update_layout(
        **BASE_LAYOUT,
        title=_title(f"Precision-recall curve ({ap_text})"),
        xaxis=_rate_axis("Recall (% of positives found)"),
        yaxis=_rate_axis("Precision (% of predicted positives)"),
    )
    figure.update_layout(height=400)
    return figure


def residuals(evaluation: dict | None) -> go.Figure | None:
    """Residual (actual minus predicted) against the prediction, for the sampled holdout points."""
    found = (evaluation or {}).get("residuals")
    if not found or not found.get("predicted"):
        return None
    predicted, actual = found["predicted"], found["actual"]
    errors = [a - p for a, p in zip(actual, predicted, strict=True)]
    total = sum(((evaluation or {}).get("residual_histogram") or {}).get("counts") or [])
    shown = (
        f"{len(predicted):,} of {total:,} holdout rows"
        if total > len(predicted)
        else f"{len(predicted):,} holdout rows"
    )
    figure = go.Figure(
        go.Scattergl(
            x=predicted,
            y=errors,
            mode="markers",
            marker=dict(color=COLOUR, size=6, opacity=0.6),
            customdata=actual,
            hovertemplate="Predicted %{x:.4g}, actual %{customdata:.4g}<br>Residual %{y:.4g}<extra></extra>",
        )
    )
    figure.add_hline(y=0, line=dict(color=NEUTRAL_COLOUR, dash="dash"))
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=_title(f"Residuals against prediction, {shown}"),
        xaxis=dict(title="Predicted value (target units)"),
        yaxis=dict(title="Residual, actual − predicted (target units)"),
    )
    return figure


def residual_histogram(evaluation: dict | None) -> go.Figure | None:
    """How all holdout residuals are spread (the scatter shows at most a sample)."""
    found = (evaluation or {}).get("residual_histogram")
    if not found or not found.get("counts"):
        return None
    edges, counts = found["edges"], found["counts"]
    pairs = list(itertools.pairwise(edges))
    figure = go.Figure(
        go.Bar(
            x=[(a + b) / 2 for a, b in pairs],
            y=counts,
            width=[b - a for a, b in pairs],
            marker_color=COLOUR,
            customdata=pairs,
            hovertemplate="%{customdata[0]:.4g} to %{customdata[1]:.4g}: %{y:,} rows<extra></extra>",
        )
    )
    figure.update_layout(
        **SMALL,
        bargap=0.02,
        title=_title("Residuals, all holdout rows"),
        xaxis=dict(title="Residual, actual − predicted (target units)"),
        yaxis=dict(title="Holdout rows (count)"),
    )
    return figure


def feature_importance(importance: list[dict] | None) -> go.Figure | None:
    """Permutation importance per input column, largest first, with the spread over repeats as error bars."""
    rows = [row for row in importance or [] if param_number(row.get("importance_mean")) is not None]
    if not rows:
        return None
    rows = sorted(rows, key=lambda row: (-row["importance_mean"], str(row["feature"])))
    metric = rows[0].get("metric") or "score"
    # training negates error metrics (rmse) before permuting, so a positive value always means "the model needed it".
    axis = (
        f"Rise in {metric} when shuffled ({unit(metric)})"
        if lower_is_better(metric)
        else f"Drop in {metric} when shuffled ({unit(metric)})"
    )
    figure = go.Figure(
        go.Bar(
            x=[row["importance_mean"] for row in rows],
            y=[str(row["feature"]) for row in rows],
            orientation="h",
            error_x=dict(type="data", array=[row.get("importance_std") or 0.0 for row in rows], color="#555"),
            marker_color=[COLOUR if row["importance_mean"] > 0 else NEUTRAL_COLOUR for row in rows],
            customdata=[row.get("importance_std") or 0.0 for row in rows],
            hovertemplate="%{y}: %{x:.4g} ± %{customdata:.2g}<extra></extra>",
        )
    )
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=_title("Permutation importance on the holdout", "Mean over repeats; bars show one standard deviation"),
        xaxis=dict(title=axis, zeroline=True),
        yaxis=dict(title=None, type="category", autorange="reversed", automargin=True),
    )
    figure.update_layout(height=140 + 26 * len(rows), margin={**BASE_LAYOUT["margin"], "t": 75, "b": 60})
    return figure


def sweep_metric_vs_params(trials: list[dict], metric: str, best_run: int | None) -> go.Figure | None:
    """One small plot per hyperparameter that varies across the trials, the best trial highlighted."""
    scored = [trial for trial in trials if _metric(trial, metric) is not None]
    names = sorted({name for trial in scored for name in trial.get("params") or {}})
    varying = [name for name in names if len({_param_text(trial, name) for trial in scored}) > 1]
    if not varying:
        return None
    grid_rows, grid_columns = _grid(len(varying))
    figure = figures.subplots(
        rows=grid_rows,
        cols=grid_columns,
        subplot_titles=varying,
        shared_yaxes=True,
        horizontal_spacing=0.05,
        vertical_spacing=0.5 / grid_rows,
    )
    groups = [
        ("Trial", [t for t in scored if t.get("run") != best_run], dict(color=COLOUR, size=8, opacity=0.75)),
        (
            "Best trial",
            [t for t in scored if t.get("run") == best_run],
            dict(color=BEST_COLOUR, size=14, symbol="star"),
        ),
    ]
    for index, name in enumerate(varying):
        row, column = index // grid_columns + 1, index % grid_columns + 1
        _, axis = _axis_for([_param_text(trial, name) for trial in scored])  # one axis type for both groups
        for legend_name, group, marker in groups:
            if not group:
                continue
            texts = [_param_text(trial, name) for trial in group]
            figure.add_scatter(
                x=[param_number(text) for text in texts] if axis["type"] == "linear" else texts,
                y=[_metric(trial, metric) for trial in group],
                mode="markers",
                marker=marker,
                name=legend_name,
                legendgroup=legend_name,
                showlegend=index == 0,
                meta=[name, metric],
                customdata=[[trial.get("run"), text] for trial, text in zip(group, texts, strict=True)],
                hovertemplate=(
                    "Run %{customdata[0]}<br>%{meta[0]} = %{customdata[1]}<br>%{meta[1]}: %{y:.4g}<extra></extra>"
                ),
                row=row,
                col=column,
            )
        figure.update_xaxes(title_text=f"{name} (param value)", row=row, col=column, **axis)
    figure.update_yaxes(title_text=f"{metric} (value)", col=1)
    missing = len(trials) - len(scored)
    subtitle = f"{len(scored)} trials; {missing} without {metric} left out" if missing else f"{len(scored)} trials"
    figure.update_layout(
        **BASE_LAYOUT,
        title=_title(f"{metric} against each hyperparameter", subtitle),
        showlegend=any(trial.get("run") == best_run for trial in scored),
    )
    plot_height = 240 * grid_rows
    figure.update_layout(
        height=95 + plot_height + 90,
        margin={**BASE_LAYOUT["margin"], "t": 95, "b": 90},
        legend=dict(y=-60 / plot_height),  # in pixels, about 60 below the bottom axis, whatever the row count
    )
    return figure


def parallel_coordinates(rows: list[dict], params: list[str], metric: str) -> go.Figure | None:
    """One axis per hyperparameter and the metric last, each run a line coloured by the metric."""
    scored = [row for row in rows if _metric(row, metric) is not None]
    if len(scored) < 2:
        return None
    dimensions = []
    for name in params:
        texts = [_param_text(row, name) for row in scored]
        if all(text == UNSET for text in texts):
            continue
        values, axis = _axis_for(texts)
        if axis["type"] == "linear":
            low, high = min(values), max(values)
            dimensions.append(
                dict(label=_short(name, 24), values=values, range=[low, high] if high > low else [low - 1, high + 1])
            )
        else:
            order = axis["categoryarray"]
            codes = {text: code for code, text in enumerate(order)}
            dimensions.append(
                dict(
                    label=_short(name, 24),
                    values=[codes[text] for text in texts],
                    tickvals=list(range(len(order))),
                    ticktext=order,
                    range=[0, len(order) - 1] if len(order) > 1 else [-1, 1],
                )
            )
    scores = [_metric(row, metric) for row in scored]
    dimensions.append(dict(label=_short(metric, 24), values=scores))
    figure = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line=dict(
                color=scores,
                colorscale=figures.colorscale("Viridis"),
                showscale=True,
                colorbar=dict(title=dict(text=f"{metric} (value)")),
            ),
        )
    )
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=_title(f"{metric} across hyperparameters, {len(scored)} runs", "Drag along an axis to filter runs"),
    )
    figure.update_layout(height=440, margin=dict(l=70, r=130, t=140, b=40))  # room for labels and colour bar
    return figure


def _field(row: dict, name: str) -> Any:
    """A row's value for "metrics.f1", "params.max_depth" or a top-level key such as "run"."""
    section, _, key = name.partition(".")
    if section in ("metrics", "params") and key:
        return (row.get(section) or {}).get(key)
    return row.get(name)


def _field_title(name: str) -> str:
    section, _, key = name.partition(".")
    if section == "metrics" and key:
        return f"{key} (metric value)"
    if section == "params" and key:
        return f"{key} (param value)"
    return name


def scatter(rows: list[dict], x: str, y: str) -> go.Figure | None:
    """Each run as a point at two of its fields (metrics or params), named on hover."""

    def present(value: Any) -> bool:
        return value is not None and not (isinstance(value, float) and not math.isfinite(value))

    kept = [
        (row, label)
        for row, label in zip(rows, _labels(rows), strict=True)
        if present(_field(row, x)) and present(_field(row, y))
    ]
    if not kept:
        return None
    xs, x_axis = _axis_for([_field(row, x) for row, _ in kept])
    ys, y_axis = _axis_for([_field(row, y) for row, _ in kept])
    x_name, y_name = x.partition(".")[2] or x, y.partition(".")[2] or y
    figure = go.Figure(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            marker=dict(color=COLOUR, size=9, opacity=0.8),
            hovertext=[label for _, label in kept],
            meta=[x_name, y_name],
            hovertemplate=(
                "%{hovertext}<br>%{meta[0]}: "
                + ("%{x:.4g}" if x_axis["type"] == "linear" else "%{x}")
                + "<br>%{meta[1]}: "
                + ("%{y:.4g}" if y_axis["type"] == "linear" else "%{y}")
                + "<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=_title(f"{y_name} against {x_name}, {len(kept)} runs"),
        xaxis=dict(title=_field_title(x), **x_axis),
        yaxis=dict(title=_field_title(y), **y_axis),
    )
    return figure


def final_metric_bars(rows: list[dict], metrics: list[str]) -> go.Figure | None:
    """One small bar chart per metric; each run keeps its colour everywhere and is named under the bars.

    One trace per metric (not per run and metric): twenty runs × nine metrics would otherwise be
    180 traces, which plotly validates one by one and which costs the compare page most of its time.
    """
    shown = [metric for metric in metrics if any(_metric(row, metric) is not None for row in rows)]
    if not shown:
        return None
    labels, colours = _labels(rows), _colours(len(rows))
    ticks = [
        f"#{row.get('run')}" if row.get("run") is not None else _short(label, 12)
        for row, label in zip(rows, labels, strict=True)
    ]
    grid_rows, grid_columns = _grid(len(shown))
    # The grid is laid out by hand: make_subplots builds and validates every cell's axes and costs
    # ~100 ms for nine metrics, a fifth of the compare page's budget. One trace per metric, too.
    x_gap, y_gap = 0.1, 0.5 / grid_rows
    width = (1 - x_gap * (grid_columns - 1)) / grid_columns
    height = (1 - y_gap * (grid_rows - 1)) / grid_rows
    bars, axes, titles = [], {}, []
    for index, metric in enumerate(shown):
        suffix = "" if index == 0 else str(index + 1)
        column, row_from_top = index % grid_columns, index // grid_columns
        left = column * (width + x_gap)
        bottom = max(0.0, 1 - row_from_top * (height + y_gap) - height)
        present = [i for i, row in enumerate(rows) if _metric(row, metric) is not None]
        bars.append(
            dict(
                type="bar",
                x=[ticks[i] for i in present],
                y=[_metric(rows[i], metric) for i in present],
                name=metric,
                showlegend=False,
                marker=dict(color=[colours[i] for i in present]),
                customdata=[labels[i] for i in present],
                hovertemplate=f"%{{customdata}}<br>{metric}: %{{y:.4g}}<extra></extra>",
                xaxis=f"x{suffix}",
                yaxis=f"y{suffix}",
            )
        )
        axes[f"xaxis{suffix}"] = dict(
            domain=[left, min(1.0, left + width)],
            anchor=f"y{suffix}",
            title=dict(text="Run"),
            type="category",
            categoryorder="array",
            categoryarray=ticks,
            tickangle=-45 if len(rows) > 6 else 0,
        )
        axes[f"yaxis{suffix}"] = dict(
            domain=[bottom, bottom + height], anchor=f"x{suffix}", title=dict(text=f"{metric} (value)")
        )
        titles.append(
            dict(
                text=metric,
                x=left + width / 2,
                y=bottom + height,
                xref="paper",
                yref="paper",
                xanchor="center",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=14),
            )
        )
    figure = go.Figure(data=bars, layout=dict(axes, annotations=titles))
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=_title("Final metrics", f"{len(rows)} runs; hover a bar for the run's name"),
        bargap=0.15,
    )
    plot_height = 240 * grid_rows
    figure.update_layout(height=95 + plot_height + 60, margin={**BASE_LAYOUT["margin"], "t": 95, "b": 60})
    return figure
