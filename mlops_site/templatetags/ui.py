"""Template helpers shared by every page: plotly figures, sortable headers, badges."""

from __future__ import annotations

import json
import math

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from plotly.io.json import to_json_plotly

from mlops_site import figures, idempotency

register = template.Library()

PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


@register.simple_tag(takes_context=True)
def plotly_figure(context, figure, div_id: str = ""):
    """A chart as data: its figure as JSON beside an empty div, drawn by static/js/site.js when it scrolls into
    view (plotly.js comes once, from static). The layout names its template ("plotly_white"); the template's
    own JSON goes into the page once, before the first chart that uses it, not into every figure."""
    spec = figure.to_plotly_json()
    layout = spec.setdefault("layout", {})
    name = layout.get("template") if isinstance(layout.get("template"), str) else None
    page = _page_state(context)
    prefix = ""
    if name and name not in page["templates"]:
        page["templates"].add(name)
        prefix = _json_script(f"plotly-template-{name}", figures.template(name))
    page["charts"] += 1
    div_id = div_id or f"chart-{page['charts']}"
    spec["config"] = PLOTLY_CONFIG
    data = _json_script(f"{div_id}-figure", spec)
    height = int(layout.get("height") or 450)  # plotly's default; the space is kept so the page does not jump
    return mark_safe(
        f'{prefix}<div class="chart"><div id="{escape(div_id)}" class="plotly-chart" style="min-height: {height}px" '
        f'data-figure="{escape(div_id)}-figure"></div>{data}</div>'
    )


def _page_state(context) -> dict:
    """What this page has shipped so far: kept on the request, so included templates share it (a template
    shipped once, chart ids unique across the page); on the render context when there is no request."""
    request = context.get("request")
    holder = request.__dict__ if request is not None else context.render_context
    return holder.setdefault("_plotly_page", {"templates": set(), "charts": 0})


def _json_script(element_id: str, value) -> str:
    """`<script type="application/json">` with the figure encoded by plotly's own encoder (numpy arrays, dates,
    NaN as null); `<`, `>` and `&` escaped so no value can close the element."""
    text = to_json_plotly(value)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{escape(element_id)}">{text}</script>'


@register.simple_tag(takes_context=True)
def sort_header(context, key: str, label: str, param: str = "sort"):
    """A column header that sorts by `key`, toggling direction, keeping the other query parameters."""
    request = context["request"]
    current = context.get("sort", "")
    params = request.GET.copy()
    params.pop("page", None)
    params.pop("partial", None)
    if current == key:
        params[param], arrow = f"-{key}", " ▲"
    elif current == f"-{key}":
        params[param], arrow = key, " ▼"
    else:
        params[param], arrow = f"-{key}", ""
    return format_html('<a class="sort" href="?{}">{}{}</a>', params.urlencode(), label, arrow)


@register.simple_tag(takes_context=True)
def page_url(context, page_number):
    params = context["request"].GET.copy()
    params["page"] = page_number
    params.pop("partial", None)
    return "?" + params.urlencode()


@register.filter
def status_badge(status: str):
    return format_html('<span class="badge badge-{}">{}</span>', status, status)


@register.filter
def pretty_json(value) -> str:
    if value in (None, "", {}, []):
        return ""
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@register.filter
def duration(value) -> str:
    if value is None:
        return "—"
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


@register.filter
def number(value, digits: int = 4) -> str:
    """Numbers with up to `digits` significant decimals; anything else (dates, text) as it is.

    NaN and ±Infinity (metrics logged through the MLflow surface may be) read "NaN", "∞" and "−∞".
    """
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "∞" if value > 0 else "−∞"
    if isinstance(value, int) or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}" if abs(value) < 1 else f"{value:,.{digits}f}".rstrip("0").rstrip(".")


@register.filter
def percent(fraction) -> str:
    if fraction is None:
        return "—"
    value = 100 * float(fraction)
    return "0%" if value == 0 else f"{value:.2g}%" if value < 1 else f"{value:.1f}%"


@register.filter
def title_words(value: str) -> str:
    """`missing_target` -> `Missing target`, for identifiers shown to people."""
    text = str(value).replace("_", " ")
    return text[:1].upper() + text[1:]


@register.filter
def get_item(mapping, key):
    """`mapping[key]` in a template, None when absent (templates cannot index by a variable)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.simple_tag
def submit_once():
    """A one-time token for a form that creates something: sent twice, it acts once (mlops_site.idempotency)."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">', idempotency.FORM_FIELD, idempotency.new_form_token()
    )
