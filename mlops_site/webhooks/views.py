"""Webhook pages (admins): subscribers with their last delivery, and one subscriber's deliveries.

A generated secret is shown once, in the response to the POST that created it; it is never put in
the session or a message, so a reload or the next page cannot show it again.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render

from mlops_site import ui
from mlops_site.filters import sort_key
from mlops_site.models import Webhook, WebhookDelivery
from mlops_site.permissions import require
from mlops_site.webhooks import services
from mlops_site.webhooks.filters import WebhookDeliveryFilter, WebhookFilter


class WebhookForm(forms.Form):
    """Widgets only; the service checks the URL, the event names and the secret (schemas.WebhookInput)."""

    url = forms.CharField(label="URL", max_length=500, widget=forms.TextInput(attrs={"placeholder": "https://…"}))
    description = forms.CharField(max_length=200, required=False)
    events = forms.MultipleChoiceField(
        choices=lambda: [(name, name) for name in Webhook.EVENTS],
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


def _permissions(user) -> dict[str, bool]:
    return {what: services.can_manage(user, what) for what in ("add", "change", "delete")}


@permission_required("mlops_site.view_webhook", raise_exception=True)
def webhook_list(request):
    form = WebhookForm(request.POST or None, prefix="new")
    created = None
    if request.method == "POST":
        require(request.user, "mlops_site.add_webhook", services.REFUSED.format("adding webhooks"))
        if form.is_valid():
            with ui.service_errors(request, form) as call:
                hook, generated = services.create_webhook(form.cleaned_data, actor=request.user)
            if not call.failed:
                messages.success(request, f"Webhook for {hook.url} added.")
                created = {"hook": hook, "secret": generated}
                form = WebhookForm(prefix="new")
    filterset = WebhookFilter(request.GET, queryset=services.with_last_delivery(), request=request)
    context = {
        "page": ui.paginate(request, filterset.qs),
        "sort": sort_key(filterset),
        "form": form,
        "created": created,
        "can": _permissions(request.user),
    }
    return render(request, "mlops_site/webhook_list.html", context)


def _act(request, hook: Webhook):
    """The detail page's buttons: pause/resume, delete, send a delivery again."""
    what = request.POST.get("action")
    with ui.service_errors(request):
        if what in ("pause", "resume"):
            services.update_webhook(hook, {"active": what == "resume"}, actor=request.user)
            messages.success(request, f"Webhook {'resumed' if what == 'resume' else 'paused'}.")
        elif what == "delete":
            services.delete_webhook(hook, actor=request.user)
            messages.success(request, f"Webhook for {hook.url} deleted.")
            return redirect("webhooks")
        elif what == "redeliver":
            delivery = get_object_or_404(hook.deliveries, pk=request.POST.get("delivery") or 0)
            delivery = services.redeliver(delivery, actor=request.user)
            delivery.refresh_from_db()
            messages.success(request, f"Delivery #{delivery.pk} sent again: {delivery.get_status_display().lower()}.")
        else:
            messages.error(request, "Unknown action.")
    return redirect("webhook-detail", pk=hook.pk)


@permission_required("mlops_site.view_webhook", raise_exception=True)
def webhook_detail(request, pk: int):
    hook = get_object_or_404(Webhook.objects.select_related("created_by"), pk=pk)
    if request.method == "POST":
        return _act(request, hook)
    filterset = WebhookDeliveryFilter(request.GET, queryset=hook.deliveries.all(), request=request)
    deliveries = filterset.qs  # validates: an unknown status is ignored, as a stale bookmark would have it
    context = {
        "hook": hook,
        "page": ui.paginate(request, deliveries),
        "sort": sort_key(filterset),
        "status": filterset.form.cleaned_data.get("status") or "",
        "statuses": WebhookDelivery.Status.choices,
        "counts": dict(hook.deliveries.values_list("status").annotate(n=Count("pk")).order_by()),
        "can": _permissions(request.user),
    }
    return render(request, "mlops_site/webhook_detail.html", context)
