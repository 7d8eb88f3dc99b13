"""Monitoring's lists cost the same number of queries for N rows as for 2N (no query per row)."""

import pytest
from django.utils import timezone

from monitoring.models import DriftReport, Monitor
from tests.builders import queries, token_client
from tests.monitoring.rows import add_monitored

pytestmark = pytest.mark.django_db

PAGES = ["/monitoring/", "/monitoring/alerts/", "/monitoring/alerts/?status=all&sort=severity"]
ENDPOINTS = [
    "/api/monitors/",
    "/api/drift-reports/",
    "/api/alert-rules/",
    "/api/alerts/",
    "/api/alerts/?status=acknowledged",
    "/api/models/model-0/retrainings/",
]


@pytest.mark.parametrize("url", PAGES + ENDPOINTS)
def test_monitoring_lists_do_not_query_per_row(admin_user, client, url):
    client.force_login(admin_user)
    fetch = token_client(admin_user) if url.startswith("/api/") else client
    model = add_monitored(3, 0, user=admin_user)
    small = queries(fetch, url)
    add_monitored(3, 3, user=admin_user, model=model)
    assert Monitor.objects.count() == 6
    assert queries(fetch, url) == small


def test_a_monitor_page_does_not_query_per_report(admin_user, client):
    client.force_login(admin_user)
    add_monitored(1, 0, user=admin_user)
    monitor = Monitor.objects.get()
    url = monitor.get_absolute_url()
    small = queries(client, url)
    for _ in range(4):
        DriftReport.objects.create(monitor=monitor, status=DriftReport.Status.OK, window_end=timezone.now())
    assert queries(client, url) == small
