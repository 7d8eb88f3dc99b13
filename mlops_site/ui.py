"""Shared page helpers: pagination of lists, service errors on pages, cards and panels apps contribute."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib import messages as django_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.utils.module_loading import import_string

from mlops_site.errors import Conflict, RateLimited

PAGE_SIZES = (25, 50, 100)


def paginate(request, queryset, per_page: int = 25) -> Page:
    try:
        size = int(request.GET.get("page_size", per_page))
    except ValueError:
        size = per_page
    size = size if size in PAGE_SIZES else per_page
    return Paginator(queryset, size).get_page(request.GET.get("page"))


@dataclass(frozen=True)
class DashboardCard:
    label: str
    url_name: str
    count: Callable[[], int]
    hint: str = ""
    order: int = 100


_cards: list[DashboardCard] = []


def register_dashboard_card(card: DashboardCard) -> None:
    """Apps add their headline counts to the home page from AppConfig.ready()."""
    if all(existing.label != card.label for existing in _cards):
        _cards.append(card)


def dashboard_cards() -> list[DashboardCard]:
    return sorted(_cards, key=lambda card: card.order)


def error_message(exc: Exception) -> str:
    """One sentence for a flash message from a service's ValidationError, PermissionDenied or Conflict."""
    if isinstance(exc, Conflict | RateLimited):
        return exc.message
    return " ".join(getattr(exc, "messages", None) or [str(exc)])


def form_errors(form, exc, fallback: str | None = None) -> None:
    """Put a service's ValidationError on a form: `params.max_depth` goes to `params`, unknown keys to `fallback`."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, errors in exc.message_dict.items():
        field = key.split(".", 1)[0].split("[", 1)[0]
        if field not in form.fields:
            field = fallback
        form.add_error(field, [e if key in (field, "non_field_errors") else f"{key}: {e}" for e in errors])


# What a service may refuse with; anything else is a bug and stays a 500.
SERVICE_ERRORS = (ValidationError, PermissionDenied, Conflict, RateLimited)
REFUSALS = (ValidationError, Conflict, RateLimited)


@dataclass
class ServiceCall:
    """The outcome of `service_errors`: `failed` is True when the service refused; `error` holds why."""

    error: Exception | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.error is not None


class service_errors:
    """Turn a service's refusal into what a page shows, in one place for every page.

        with ui.service_errors(request, form) as call:
            run = services.start_training(...)
        if call.failed:
            return render(request, "...", {"form": form})
        return redirect(run)

    A ValidationError goes onto `form` field by field (unknown keys to `fallback`, or to the form's
    non-field errors); without a form, and for Conflict and RateLimited, it becomes one error message.
    The exception is swallowed; the page decides where to go next. PermissionDenied is left to Django,
    whose 403 page shows the service's sentence, unless `denied="message"` asks for a message instead
    (for a page where the refusal is an expected outcome, such as revoking someone else's token).
    """

    def __init__(self, request, form=None, *, fallback: str | None = None, denied: str = "403"):
        self.request, self.form, self.fallback = request, form, fallback
        self.catch = SERVICE_ERRORS if denied == "message" else REFUSALS
        self.call = ServiceCall()

    def __enter__(self) -> ServiceCall:
        return self.call

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is None or not isinstance(exc, self.catch):
            return False
        self.call.error = exc
        if self.form is not None and isinstance(exc, ValidationError):
            form_errors(self.form, exc, self.fallback)
            self.call.messages = [str(e) for errors in self.form.errors.values() for e in errors]
        else:
            text = error_message(exc)
            self.call.messages = [text]
            if self.request is not None:
                django_messages.error(self.request, text)
        return True


@dataclass(frozen=True)
class Panel:
    """A section an upper app adds to a lower app's page: a template and the context it needs (or None to hide).

    `context` may be a dotted path, imported on the first page that shows the panel, so that loading the apps
    does not import what the panel's queries need (serving pulls in pandas and scikit-learn)."""

    template: str
    context: Callable[[object, object], dict | None] | str
    order: int = 100


_panels: dict[str, list[Panel]] = {}


def register_panel(page: str, panel: Panel) -> None:
    """From AppConfig.ready(): e.g. monitoring adds the retraining loop to the registry's "model" page."""
    entries = _panels.setdefault(page, [])
    if all(existing.template != panel.template for existing in entries):
        entries.append(panel)


def panels(page: str, request, obj) -> list[dict]:
    """The panels of `page` for this request and object, as {"template", "context"}, in order."""
    shown = []
    for panel in sorted(_panels.get(page, []), key=lambda p: p.order):
        build = import_string(panel.context) if isinstance(panel.context, str) else panel.context
        context = build(request, obj)
        if context is not None:
            shown.append({"template": panel.template, "context": context})
    return shown
