"""Webhook pages (being written)."""

from django.http import Http404


def webhook_list(request):
    raise Http404


def webhook_detail(request, pk):
    raise Http404
