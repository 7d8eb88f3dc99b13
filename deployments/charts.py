"""Plotly figures of a deployment's traffic: request rate, error rate and latency percentiles per version."""

from __future__ import annotations

from mlops_site.charts import BASE_LAYOUT
from mlops_site.figures import go

PALETTE = ["#2d6aa3", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f"]
DASHES = {"p50": "solid", "p95": "dash", "p99": "dot"}


def _layout(title: str, y_title: str, **extra) -> dict:
    return {
        **BASE_LAYOUT,
        "title": dict(text=title, x=0.0),
        "xaxis": dict(title="Time (UTC)"),
        "yaxis": dict(title=y_title, rangemode="tozero", **extra),
    }


def request_rate(per_version: dict[str, dict]) -> go.Figure:
    """`per_version`: label (e.g. "v3 primary") → stats.series output."""
    figure = go.Figure()
    for i, (label, data) in enumerate(per_version.items()):
        figure.add_scatter(
            x=data["time"], y=data["rate_per_min"], name=label, mode="lines", line=dict(color=PALETTE[i % 6])
        )
    figure.update_layout(**_layout("Request rate", "requests per minute"))
    return figure


def error_rate(per_version: dict[str, dict]) -> go.Figure:
    figure = go.Figure()
    for i, (label, data) in enumerate(per_version.items()):
        figure.add_scatter(
            x=data["time"],
            y=[None if v is None else 100 * v for v in data["error_rate"]],
            name=label,
            mode="lines+markers",
            line=dict(color=PALETTE[i % 6]),
            connectgaps=False,
        )
    figure.update_layout(**_layout("Error rate (4xx and 5xx answers)", "% of requests", range=[0, 100]))
    return figure


def latency(per_version: dict[str, dict]) -> go.Figure:
    figure = go.Figure()
    for i, (label, data) in enumerate(per_version.items()):
        for quantile, dash in DASHES.items():
            figure.add_scatter(
                x=data["time"],
                y=data[quantile],
                name=f"{label} {quantile}",
                mode="lines",
                line=dict(color=PALETTE[i % 6], dash=dash),
                connectgaps=False,
            )
    layout = _layout("Latency of successful requests: p50, p95, p99 (log scale)", "milliseconds")
    # Log scale: a cold start (the first request loads the pipeline) must not flatten every other point.
    layout["yaxis"] = dict(title="milliseconds", type="log")
    figure.update_layout(**layout)
    return figure
