"""Plotly figures for dataset pages: profile dicts in, figures out."""

from __future__ import annotations

import itertools

import plotly.graph_objects as go

from mlops_site.charts import BASE_LAYOUT

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
