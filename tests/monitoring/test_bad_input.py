"""Monitoring endpoints refuse odd ids with a 400 and cope with a served version that has no signature."""

import pytest

from monitoring.models import AlertRule, Monitor
from registry.models import ModelVersion
from tests.builders import token_client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/api/drift-reports/", "/api/alert-rules/", "/api/alerts/"])
@pytest.mark.parametrize("value", ["¹", "٣", "9" * 30])
def test_a_monitor_filter_that_is_not_an_ascii_id_is_a_400(scientist, url, value):
    answer = token_client(scientist).get(url, {"monitor": value})
    assert answer.status_code == 400 and "monitor" in answer.json()["errors"]


def test_patch_monitor_when_the_served_version_has_no_signature(scientist, deployed):
    deployment, version, _ = deployed
    ModelVersion.objects.filter(pk=version.pk).update(signature={})
    monitor = Monitor.objects.get(deployment=deployment)
    client = token_client(scientist)
    answer = client.patch(f"/api/monitors/{monitor.pk}/", {"every_minutes": 30}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["every_minutes"] == 30
    named = client.patch(f"/api/monitors/{monitor.pk}/", {"methods": {"age": "psi"}}, format="json")
    assert named.status_code == 400 and "methods" in named.json()["errors"]
    monitor.refresh_from_db()
    assert monitor.every_minutes == 30 and "age" not in (monitor.methods or {})
    assert AlertRule.objects.count() == 0
