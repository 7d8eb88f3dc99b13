"""Plotly figure builders for the shared pages: data in, figure out, no ORM."""

from __future__ import annotations

from datetime import date

from mlops_site.figures import go

STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#9e9e9e",
    "running": "#1565c0",
    "queued": "#f9a825",
}

BASE_LAYOUT = dict(
    template="plotly_white",  # expanded once per page by {% plotly_figure %}
    margin=dict(l=60, r=20, t=50, b=90),
    height=340,
    font=dict(family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12),
    legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0),
)


def jobs_per_day(days: list[date], counts: dict[str, list[int]]) -> go.Figure:
    """Stacked bars of jobs created per day, one colour per final status."""
    figure = go.Figure()
    for status, colour in STATUS_COLOURS.items():
        values = counts.get(status, [0] * len(days))
        figure.add_bar(
            x=days,
            y=values,
            name=status,
            marker_color=colour,
            hovertemplate="%{x|%b %d}: %{y} " + status + "<extra></extra>",
        )
    daily_totals = [sum(day) for day in zip(*counts.values(), strict=False)] or [0]
    figure.update_layout(
        **BASE_LAYOUT,
        barmode="stack",
        title=dict(text=f"Jobs per day, last {len(days)} days", x=0.0),
        xaxis=dict(title="Day (UTC)", tickformat="%b %d", dtick=86_400_000),
        # Whole jobs only: on quiet days plotly would otherwise label 0.2, 0.4...
        yaxis=dict(
            title="Jobs created (count)",
            rangemode="tozero",
            tickformat="d",
            dtick=1 if max(daily_totals) <= 8 else None,
        ),
    )
    return figure
