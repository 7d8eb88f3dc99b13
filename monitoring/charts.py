"""Plotly figures of drift: scores against thresholds, distributions overlaid, drift and performance over time."""

from __future__ import annotations

import numpy as np

from mlops_site import figures, lazy
from mlops_site.charts import BASE_LAYOUT
from mlops_site.figures import go
from monitoring import drift

pd = lazy.module("pandas")

REFERENCE, CURRENT, DRIFTED = "#2d6aa3", "#ef6c00", "#c62828"
LABELS = {
    "ks": "KS p-value",
    "chisquare": "chi-square p-value",
    "wasserstein": "Wasserstein / reference std",
    "psi": "PSI",
    "jensenshannon": "Jensen–Shannon distance",
}


CAP = 100.0  # ratios above this are drawn at the cap (a p-value of 1e-50 is not 1e48 times "more" drift)
# Time charts with a legend of many series: the legend goes below the axis title, not over it.
WIDE_LEGEND = {
    **BASE_LAYOUT,
    "height": 440,
    "margin": {**BASE_LAYOUT["margin"], "b": 150},
    "legend": {**BASE_LAYOUT["legend"], "y": -0.3},
}
# Enough distinct colours for every feature of a typical table (plotly's Dark24).
MANY = [
    "#2E91E5",
    "#E15F99",
    "#1CA71C",
    "#FB0D0D",
    "#DA16FF",
    "#222A2A",
    "#B68100",
    "#750D86",
    "#EB663B",
    "#511CFB",
    "#00A08B",
    "#FB00D1",
    "#FC0080",
    "#B2828D",
    "#6C7C32",
    "#778AAE",
    "#862A16",
    "#A777F1",
    "#620042",
    "#1616A7",
    "#DA60CA",
    "#6C4516",
    "#0D2A63",
    "#AF0038",
]
PALETTE = ["#2d6aa3", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#8d6e63", "#5c6bc0", "#9e9d24"]


def ratio(method: str | None, statistic: float | None, p_value: float | None, threshold: float | None) -> float | None:
    """A score relative to its own threshold, ≥ 1 when drifted: statistic ÷ threshold for distances,
    threshold ÷ p-value for tests. Comparable across methods; capped at CAP."""
    if method is None or threshold is None:
        return None
    if method in drift.TESTS:
        value = threshold / max(p_value, 1e-300) if p_value is not None else None
    else:
        value = (statistic or 0.0) / threshold if threshold else None
    return None if value is None else min(value, CAP)


def drift_over_time(times: list, series: dict[str, list[float | None]]) -> go.Figure:
    """One line per feature (and the prediction): score ÷ threshold per report, the threshold at 1."""
    figure = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        figure.add_scatter(x=times, y=values, name=name, mode="lines+markers", line=dict(color=MANY[i % len(MANY)]))
    # A trace, not an annotated hline: plotly places hline labels wrongly on log axes.
    figure.add_scatter(
        x=[times[0], times[-1]], y=[1, 1], name="threshold (1)", mode="lines", line=dict(color=DRIFTED, dash="dash")
    )
    figure.update_layout(
        **WIDE_LEGEND,
        title=dict(text="Drift per feature over time, relative to its threshold (above the line: drifted)", x=0.0),
        xaxis=dict(title="Report time (UTC)"),
        yaxis=dict(title="score ÷ threshold (log)", type="log", dtick=1),
    )
    return figure


def performance_over_time(times: list, metrics: dict[str, list[float | None]], baseline: dict[str, float]) -> go.Figure:
    """Each metric of the labelled predictions per report, with its value at training as a dashed line."""
    figure = go.Figure()
    for i, (name, values) in enumerate(metrics.items()):
        colour = PALETTE[i % len(PALETTE)]
        figure.add_scatter(x=times, y=values, name=name, mode="lines+markers", line=dict(color=colour))
        if name in baseline and times:
            figure.add_scatter(
                x=[times[0], times[-1]],
                y=[baseline[name]] * 2,
                name=f"{name} at training",
                mode="lines",
                line=dict(color=colour, dash="dash"),
            )
    figure.update_layout(
        **WIDE_LEGEND,
        title=dict(text="Performance of the labelled predictions per report, against training (dashed)", x=0.0),
        xaxis=dict(title="Report time (UTC)"),
        yaxis=dict(title="metric value"),
    )
    return figure


def scores(features: list[drift.FeatureDrift]) -> go.Figure:
    """One bar per compared feature: its deciding method's score over its threshold (≥ 1 is drifted).

    Methods differ in scale and direction (p-values drift when small), so each bar is the score relative
    to its own threshold: statistic / threshold for distances, threshold / p-value for tests.
    """
    rows = [f for f in features if f.status == drift.OK]
    shown = [ratio(f.method, f.statistic, f.p_value, f.threshold) for f in rows]
    figure = go.Figure()
    figure.add_bar(
        x=[f.feature for f in rows],
        y=shown,
        marker_color=[DRIFTED if f.drifted else REFERENCE for f in rows],
        customdata=[[LABELS[f.method], f.statistic, f.p_value, f.threshold] for f in rows],
        hovertemplate="%{x}<br>%{customdata[0]}: %{customdata[1]:.4g}<br>p-value: %{customdata[2]:.3g}"
        "<br>threshold: %{customdata[3]}<extra></extra>",
        name="score / threshold",
    )
    figure.add_hline(
        y=1, line_dash="dash", line_color=DRIFTED, annotation_text="threshold", annotation_position="top left"
    )
    figure.update_layout(
        **BASE_LAYOUT,
        title=dict(text="Drift score per feature, relative to its threshold (red: drifted)", x=0.0),
        xaxis=dict(title="Feature"),
        yaxis=dict(title="score ÷ threshold (log)", type="log", dtick=1),
        showlegend=False,
    )
    return figure


def distributions(name: str, kind: str, reference: pd.Series, current: pd.Series) -> go.Figure:
    """The reference and current values of one feature overlaid, as shares of their non-null rows."""
    reference, current = reference.dropna(), current.dropna()
    figure = go.Figure()
    if kind == drift.NUMERIC:
        ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        cur = pd.to_numeric(current, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]  # as the statistics see them
        both = np.concatenate([ref, cur]) if len(ref) + len(cur) else np.array([0.0])
        edges = np.histogram_bin_edges(both, bins=30)
        for label, values, colour in (("reference", ref, REFERENCE), ("current", cur, CURRENT)):
            counts, _ = np.histogram(values, bins=edges)
            share = 100 * counts / max(len(values), 1)
            centres = (edges[:-1] + edges[1:]) / 2
            figure.add_bar(x=centres, y=share, name=f"{label} ({len(values):,} rows)", marker_color=colour, opacity=0.6)
        figure.update_layout(barmode="overlay", bargap=0)
        x_title = name
    else:
        ref_share = reference.astype(str).value_counts(normalize=True)
        cur_share = current.astype(str).value_counts(normalize=True)
        categories = sorted(set(ref_share.index) | set(cur_share.index), key=lambda c: -ref_share.get(c, 0.0))[:40]
        for label, share, rows, colour in (
            ("reference", ref_share, len(reference), REFERENCE),
            ("current", cur_share, len(current), CURRENT),
        ):
            figure.add_bar(
                x=categories,
                y=[100 * share.get(c, 0.0) for c in categories],
                name=f"{label} ({rows:,} rows)",
                marker_color=colour,
            )
        figure.update_layout(barmode="group")
        x_title = f"{name} (category)"
    figure.update_layout(
        **{k: v for k, v in BASE_LAYOUT.items()},
        title=dict(text=f"Distribution of {name}: reference vs current", x=0.0),
        xaxis=dict(title=x_title),
        yaxis=dict(title="% of non-null rows", rangemode="tozero"),
    )
    return figure


def drift_heatmap(times: list, series: dict[str, list[float | None]]) -> go.Figure:
    """Features × report time, coloured by score ÷ threshold on a log scale: white at the threshold (1), blue
    below, red above, so a feature that starts drifting shows as a row turning red."""
    names = list(series)
    z = [[None if v is None else float(np.log10(max(v, 1e-3))) for v in series[name]] for name in names]
    text = [[("—" if v is None else f"{v:.3g}") for v in series[name]] for name in names]
    figure = go.Figure(
        go.Heatmap(
            x=times,
            y=names,
            z=z,
            text=text,
            hovertemplate="%{y}<br>%{x}<br>score ÷ threshold %{text}<extra></extra>",
            colorscale=[[0.0, REFERENCE], [0.5, "#f7f7f7"], [1.0, DRIFTED]],
            zmid=0,
            zmin=-2,
            zmax=2,
            colorbar=dict(
                title=dict(text="score ÷ threshold"),
                tickvals=[-2, -1, 0, 1, 2],
                ticktext=["0.01", "0.1", "1", "10", "100"],
            ),
            xgap=1,
            ygap=1,
        )
    )
    figure.update_layout(
        **{**BASE_LAYOUT, "height": max(340, 140 + 24 * len(names))},
        title=dict(text="Drift heatmap: features × report (red: past the threshold)", x=0.0),
        xaxis=dict(title="Report time (UTC)"),
        yaxis=dict(title="Feature", autorange="reversed"),
    )
    return figure


def predictions_over_time(series: dict[str, list], *, classifier: bool) -> go.Figure:
    """Classifiers: the share of each predicted class per time bucket (stacked). Regressors: the median
    prediction per bucket with its 10th–90th percentile band."""
    figure = go.Figure()
    times = series["time"]
    if classifier:
        for i, (label, shares) in enumerate(series["shares"].items()):
            figure.add_bar(
                x=times,
                y=[None if s is None else 100 * s for s in shares],
                name=f"class {label}",
                marker_color=PALETTE[i % len(PALETTE)],
            )
        figure.update_layout(barmode="stack", bargap=0.05)
        y_axis = dict(title="% of predictions", range=[0, 100])
        title = "Predicted class per time bucket (share of the bucket's predictions)"
    else:
        figure.add_scatter(
            x=times, y=series["p90"], mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"
        )
        figure.add_scatter(
            x=times,
            y=series["p10"],
            mode="lines",
            line=dict(width=0),
            fill="tonexty",
            fillcolor="rgba(45,106,163,0.2)",
            name="10th–90th percentile",
        )
        figure.add_scatter(x=times, y=series["median"], mode="lines+markers", name="median", line=dict(color=REFERENCE))
        y_axis = dict(title="prediction")
        title = "Predictions per time bucket: median and 10th–90th percentile"
    figure.add_scatter(
        x=times, y=series["count"], name="predictions", yaxis="y2", mode="lines", line=dict(color="#888", dash="dot")
    )
    figure.update_layout(
        **BASE_LAYOUT,
        title=dict(text=title, x=0.0),
        xaxis=dict(title=f"Time (UTC), buckets of {series['width_minutes']} min"),
        yaxis=y_axis,
        yaxis2=dict(title="predictions per bucket", overlaying="y", side="right", showgrid=False, rangemode="tozero"),
    )
    return figure


def service(per_version: dict[str, dict[str, list]]) -> go.Figure:
    """Requests per minute (top) and p95 latency in ms (bottom) per version and role, on one time axis."""
    figure = figures.subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for i, (label, s) in enumerate(per_version.items()):
        colour = PALETTE[i % len(PALETTE)]
        figure.add_scatter(
            x=s["time"], y=s["rate_per_min"], name=label, legendgroup=label, line=dict(color=colour), row=1, col=1
        )
        figure.add_scatter(
            x=s["time"],
            y=s["p95"],
            name=f"{label} p95",
            legendgroup=label,
            showlegend=False,
            line=dict(color=colour, dash="dot"),
            connectgaps=False,
            row=2,
            col=1,
        )
    figure.update_layout(
        **{**BASE_LAYOUT, "height": 500, "legend": {**BASE_LAYOUT["legend"], "y": -0.14}},
        title=dict(text="Requests per minute and p95 latency", x=0.0),
    )
    figure.update_yaxes(title_text="requests / min", rangemode="tozero", row=1, col=1)
    figure.update_yaxes(title_text="p95 latency (ms)", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text="Time (UTC)", row=2, col=1)
    return figure
