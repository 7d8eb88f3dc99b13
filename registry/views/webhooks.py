"""Webhook pages (admins): subscribers with their last delivery, and one subscriber's deliveries.

A generated secret is shown once, in the response to the POST that created it; it is never put in
the session or a message, so a reload or the next page cannot show it again.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect, render

from mlops_site import ui
from mlops_site.errors import Conflict
from registry.models import Webhook, WebhookDelivery
from registry.services import webhooks

HOOK_SORTS = {"url": "url", "created": "created_at", "active": "active", "deliveries": "delivery_count"}
DELIVERY_SORTS = {
    "created": "created_at",
    "event": "event",
    "status": "status",
    "attempts": "attempts",
    "response": "response_status",
    "duration": "duration_ms",
    "next": "next_attempt_at",
}


class WebhookForm(forms.Form):
    """Plain fields; the service checks the URL scheme, the event names and the secret's length."""

    url = forms.CharField(label="URL", max_length=500, widget=forms.TextInput(attrs={"placeholder": "https://…"}))
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=[(name, name) for name in Webhook.EVENTS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked means every event.",
    )
    secret = forms.CharField(
        max_length=128,
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Leave blank to generate one (shown once).",
    )


def _hooks():
    newest = WebhookDelivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at", "-pk")
    return Webhook.objects.select_related("created_by").annotate(
        last_status=Subquery(newest.values("status")[:1]),
        last_at=Subquery(newest.values("created_at")[:1]),
        delivery_count=Count("deliveries"),
    )


@permission_required("registry.view_webhook", raise_exception=True)
def webhook_list(request):
    form = WebhookForm(request.POST or None, prefix="new")
    created = None
    if request.method == "POST":
        if not request.user.has_perm("registry.add_webhook"):
            raise PermissionDenied("Your role does not allow adding webhooks.")
        if form.is_valid():
            try:
                hook, generated = webhooks.create_webhook(actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                ui.form_errors(form, exc)
            else:
                messages.success(request, f"Webhook for {hook.url} added.")
                created = {"hook": hook, "secret": generated}
                form = WebhookForm(prefix="new")
    hooks, sort = ui.sort_queryset(request, _hooks(), HOOK_SORTS, "-created")
    context = {"page": ui.paginate(request, hooks), "sort": sort, "form": form, "created": created}
    return render(request, "registry/webhook_list.html", context)


def _act(request, hook: Webhook):
    """The detail page's buttons: pause/resume, delete, send a delivery again."""
    what = request.POST.get("action")
    try:
        if what in ("pause", "resume"):
            webhooks.update_webhook(hook, actor=request.user, active=what == "resume")
            messages.success(request, f"Webhook {'resumed' if what == 'resume' else 'paused'}.")
        elif what == "delete":
            webhooks.delete_webhook(hook, actor=request.user)
            messages.success(request, f"Webhook for {hook.url} deleted.")
            return redirect("webhooks")
        elif what == "redeliver":
            delivery = get_object_or_404(hook.deliveries, pk=request.POST.get("delivery") or 0)
            delivery = webhooks.redeliver(delivery, actor=request.user)
            delivery.refresh_from_db()
            messages.success(request, f"Delivery #{delivery.pk} sent again: {delivery.get_status_display().lower()}.")
        else:
            messages.error(request, "Unknown action.")
    except Conflict as exc:
        messages.warning(request, exc.message)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("webhook-detail", pk=hook.pk)


@permission_required("registry.view_webhook", raise_exception=True)
def webhook_detail(request, pk: int):
    hook = get_object_or_404(Webhook.objects.select_related("created_by"), pk=pk)
    if request.method == "POST":
        return _act(request, hook)
    deliveries = hook.deliveries.all()
    status = request.GET.get("status", "")
    if status in WebhookDelivery.Status.values:
        deliveries = deliveries.filter(status=status)
    deliveries, sort = ui.sort_queryset(request, deliveries, DELIVERY_SORTS, "-created")
    context = {
        "hook": hook,
        "page": ui.paginate(request, deliveries),
        "sort": sort,
        "status": status,
        "statuses": WebhookDelivery.Status.choices,
        "counts": dict(hook.deliveries.values_list("status").annotate(n=Count("pk")).order_by()),
    }
    return render(request, "registry/webhook_detail.html", context)
