"""plotly's graph objects, built without their per-property validation.

Each `go.Bar(...)`, `go.Figure(...)` and `update_layout(...)` checks every property against plotly's schema
in Python: on the dataset version page (16 charts) that was three quarters of the server time. The charts
are written by us, in `charts.py` modules under test, so the check finds nothing at run time; plotly.js
draws the same JSON either way. `charts.py` modules import `go` from here; `VALIDATE = True` (a test sets it)
builds them validated, and `tests/mlops_site/test_figures.py` checks that every page's figures come out
identical both ways.

Two differences matter. Validation expands a template name ("plotly_white") into the template itself, which
plotly.js needs: `{% plotly_figure %}` puts `template()` into the page once and site.js hands it to each chart.
It also expands a named colorscale, whose plotly.js namesake differs: charts use `colorscale()`.
"""

from __future__ import annotations

import functools

import plotly.graph_objects as _go
import plotly.io as pio

VALIDATE = False


class _GraphObjects:
    """`go.<Name>(...)` is `plotly.graph_objects.<Name>(..., _validate=VALIDATE)`."""

    def __getattr__(self, name: str):
        return functools.partial(getattr(_go, name), _validate=VALIDATE)


go = _GraphObjects()


@functools.cache
def template(name: str) -> dict:
    return pio.templates[name].to_plotly_json()


def subplots(**kwargs) -> _go.Figure:
    """`plotly.subplots.make_subplots`, whose grid is laid out validated (it builds its own figure), with what
    the caller adds afterwards (traces, layout) unvalidated like the rest."""
    from plotly.subplots import make_subplots

    figure = make_subplots(**kwargs)
    figure._validate = VALIDATE  # what go.Figure(_validate=...) sets; the layout object has its own flag
    figure._layout_obj._validate = VALIDATE
    return figure


@functools.cache
def colorscale(name: str) -> list:
    """A named colorscale as validation would expand it: plotly.js's own scale of that name differs
    (its "Blues" runs dark to light)."""
    from plotly.colors import get_colorscale

    return get_colorscale(name)
