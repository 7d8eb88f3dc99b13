"""Plotly figures of drift: scores against thresholds, distributions overlaid, drift and performance over time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mlops_site.charts import BASE_LAYOUT
from monitoring import drift

REFERENCE, CURRENT, DRIFTED = "#2d6aa3", "#ef6c00", "#c62828"
LABELS = {
    "ks": "KS p-value",
    "chisquare": "chi-square p-value",
    "wasserstein": "Wasserstein / reference std",
    "psi": "PSI",
    "jensenshannon": "Jensen–Shannon distance",
}


CAP = 100.0  # ratios above this are drawn at the cap (a p-value of 1e-50 is not 1e48 times "more" drift)
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
        figure.add_scatter(
            x=times, y=values, name=name, mode="lines+markers", line=dict(color=PALETTE[i % len(PALETTE)])
        )
    figure.add_hline(
        y=1, line_dash="dash", line_color=DRIFTED, annotation_text="threshold", annotation_position="top left"
    )
    figure.update_layout(
        **BASE_LAYOUT,
        title=dict(text="Drift per feature over time, relative to its threshold (above the line: drifted)", x=0.0),
        xaxis=dict(title="Report time (UTC)"),
        yaxis=dict(title="score ÷ threshold (log)", type="log"),
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
        **BASE_LAYOUT,
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
        yaxis=dict(title="score ÷ threshold (log)", type="log"),
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
