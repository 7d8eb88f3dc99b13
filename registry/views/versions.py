"""Version pages (being written)."""

from django.http import Http404


def version_detail(request, name, number):
    raise Http404


def card_edit(request, name, number):
    raise Http404


def card_markdown(request, name, number):
    raise Http404


def version_diff(request, name):
    raise Http404
