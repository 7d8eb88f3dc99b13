"""Plotly figures for registry pages: plain data in, figures out."""

from __future__ import annotations

import plotly.graph_objects as go

from mlops_site.charts import BASE_LAYOUT

STAGE_COLOURS = {"production": "#2e7d32", "staging": "#1565c0", "archived": "#9e9e9e", "none": "#2d6aa3"}


def metric_across_versions(metric: str, versions: list[dict]) -> go.Figure | None:
    """One point per version (`{number, stage, value}`), coloured by stage, in version order."""
    points = [v for v in versions if v.get("value") is not None]
    if not points:
        return None
    points.sort(key=lambda v: v["number"])
    figure = go.Figure(
        go.Scatter(
            x=[f"v{v['number']}" for v in points],
            y=[v["value"] for v in points],
            mode="lines+markers",
            line=dict(color="#bbbbbb", width=1),
            marker=dict(size=11, color=[STAGE_COLOURS.get(v["stage"], "#2d6aa3") for v in points]),
            customdata=[v["stage"] for v in points],
            hovertemplate="%{x} (%{customdata}): %{y:.4g}<extra></extra>",
        )
    )
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": False},
        title=dict(text=f"{metric} across versions (colour: stage)", x=0.0),
        xaxis=dict(title="Version", type="category"),
        yaxis=dict(title=f"{metric} (value at registration)"),
    )
    return figure
