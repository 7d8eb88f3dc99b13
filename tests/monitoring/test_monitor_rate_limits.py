"""Monitor runs started by a person count against their per-user limit; the schedule's runs do not."""

import pytest
from django.contrib.messages import get_messages

from mlops_site.models import Job
from monitoring import services
from tests.builders import PASSWORD, token_client

pytestmark = pytest.mark.django_db


def test_monitor_runs_over_the_limit_are_429_on_the_api_and_a_message_on_the_page(
    deployed,
    scientist,
    client,
    settings,
):
    settings.JOB_RATE_LIMITS = {**settings.JOB_RATE_LIMITS, "monitor.run": (1, 3600)}
    deployment, _, _ = deployed
    monitor = deployment.monitor
    api = token_client(scientist)
    assert api.post(f"/api/monitors/{monitor.pk}/run/").status_code == 202

    response = api.post(f"/api/monitors/{monitor.pk}/run/")

    assert response.status_code == 429 and response.json()["code"] == "throttled" and response["Retry-After"]
    client.login(username=scientist.username, password=PASSWORD)
    page = client.post(f"/monitoring/monitors/{monitor.pk}/run/")
    assert page.status_code == 302
    assert any("Too many monitor run jobs" in str(m) for m in get_messages(page.wsgi_request))
    assert Job.objects.filter(kind="monitor.run").count() == 1
    # The schedule (no actor) is not limited.
    services.request_run(monitor)
    assert Job.objects.filter(kind="monitor.run").count() == 2
