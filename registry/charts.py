"""Plotly figures for registry pages: plain data in, figures out."""

from __future__ import annotations

from mlops_site.charts import BASE_LAYOUT
from mlops_site.figures import go

STAGE_COLOURS = {"production": "#2e7d32", "staging": "#ef6c00", "archived": "#9e9e9e", "none": "#2d6aa3"}


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
            mode="lines",
            line=dict(color="#bbbbbb", width=1),
            hoverinfo="skip",
            showlegend=False,
        )
    )
    for stage, colour in STAGE_COLOURS.items():
        members = [v for v in points if v["stage"] == stage]
        if members:
            figure.add_trace(
                go.Scatter(
                    x=[f"v{v['number']}" for v in members],
                    y=[v["value"] for v in members],
                    mode="markers",
                    name=stage,
                    marker=dict(size=11, color=colour),
                    hovertemplate=f"%{{x}} ({stage}): %{{y:.4g}}<extra></extra>",
                )
            )
    figure.update_layout(
        **{**BASE_LAYOUT, "showlegend": True, "legend": dict(title="Stage", orientation="h", y=-0.25)},
        title=dict(text=f"{metric} across versions, by stage", x=0.0),
        xaxis=dict(
            title="Version", type="category", categoryorder="array", categoryarray=[f"v{v['number']}" for v in points]
        ),
        yaxis=dict(title=f"{metric} (value at registration)"),
    )
    return figure


def metrics_side_by_side(
    a_label: str, a: dict, b_label: str, b: dict, *, lower_is_better: frozenset[str] = frozenset()
) -> go.Figure | None:
    """Grouped bars of the metrics both versions have, one colour per version; None when they share none."""
    shared = sorted(key for key in {*a} & {*b} if _is_number(a[key]) and _is_number(b[key]))
    if not shared:
        return None
    names = [f"{key} ↓" if key in lower_is_better else key for key in shared]
    figure = go.Figure()
    for label, values, colour in ((a_label, a, "#9fb7cf"), (b_label, b, "#1f4e79")):
        figure.add_bar(
            x=names,
            y=[values[key] for key in shared],
            name=label,
            marker_color=colour,
            hovertemplate=f"{label} %{{x}}: %{{y:.4g}}<extra></extra>",
        )
    figure.update_layout(
        **BASE_LAYOUT,
        barmode="group",
        title=dict(text=f"Shared metrics, {a_label} vs {b_label} (↓: lower is better)", x=0.0),
        xaxis=dict(title="Metric", type="category"),
        yaxis=dict(title="Value at registration"),
    )
    return figure


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
