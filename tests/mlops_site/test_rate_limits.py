"""Per-user limits on the jobs a person starts (settings.JOB_RATE_LIMITS): 429 + Retry-After in the API, a message on pages."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from mlops_site.models import Job
from tests.builders import PASSWORD, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_selfchecks_an_hour(settings):
    settings.JOB_RATE_LIMITS = {**settings.JOB_RATE_LIMITS, "system.selfcheck": (2, 3600)}


def test_selfcheck_over_the_limit_is_429_with_retry_after_and_queues_nothing(
    scientist, reviewer, two_selfchecks_an_hour
):
    client = token_client(scientist)
    assert [client.post("/api/jobs/selfcheck/").status_code for _ in range(2)] == [201, 201]

    response = client.post("/api/jobs/selfcheck/")

    assert response.status_code == 429
    body = response.json()
    assert set(body) == {"detail", "code", "errors"} and body["code"] == "throttled" and body["errors"] == {}
    assert "limit is 2" in body["detail"]
    assert 3500 < int(response["Retry-After"]) <= 3601
    assert Job.objects.filter(kind="system.selfcheck").count() == 2
    # The limit is per user: someone else may still start one.
    assert token_client(reviewer).post("/api/jobs/selfcheck/").status_code == 201


def test_selfcheck_is_allowed_again_once_the_window_has_passed(scientist, two_selfchecks_an_hour):
    client = token_client(scientist)
    for _ in range(2):
        client.post("/api/jobs/selfcheck/")
    assert client.post("/api/jobs/selfcheck/").status_code == 429
    oldest = Job.objects.filter(created_by=scientist).order_by("created_at").first()
    Job.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(hours=1, seconds=1))

    assert client.post("/api/jobs/selfcheck/").status_code == 201


def test_selfcheck_page_over_the_limit_shows_a_message_and_queues_nothing(client, scientist, two_selfchecks_an_hour):
    client.login(username=scientist.username, password=PASSWORD)
    for _ in range(2):
        assert client.post("/jobs/selfcheck/").status_code == 302

    response = client.post("/jobs/selfcheck/")

    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert any("Too many self-check jobs" in str(m) for m in get_messages(response.wsgi_request))
    assert Job.objects.filter(kind="system.selfcheck").count() == 2


def test_a_limit_can_be_turned_off(scientist, settings):
    settings.JOB_RATE_LIMITS = {**settings.JOB_RATE_LIMITS, "system.selfcheck": None}
    client = token_client(scientist)
    assert {client.post("/api/jobs/selfcheck/").status_code for _ in range(12)} == {201}
