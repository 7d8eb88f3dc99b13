"""Deployment pages: list, detail with charts from real requests, and the admin's changes."""

import pytest

from deployments import serving
from deployments.models import Deployment
from tests.deployments.test_serving import approve, rows, versions  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def production(versions, scientist, reviewer, django_capture_on_commit_callbacks):  # noqa: F811
    approve(versions[0], "production", scientist, reviewer, django_capture_on_commit_callbacks)
    return Deployment.objects.get(environment__name="production")


def test_list_and_detail_show_what_is_served_and_the_traffic(client, reviewer, production, credit):
    for i in range(5):
        serving.predict(production, {"records": rows(credit, 2), "entity_key": f"c{i}"})
    with pytest.raises(serving.ServingError):
        serving.predict(production, {"records": [{"nope": 1}]})
    client.force_login(reviewer)
    listing = client.get("/deployments/")
    assert listing.status_code == 200
    html = listing.content.decode()
    row = listing.context["deployments"].get()
    assert (row.requests, row.errors) == (6, 1) and "credit-default" in html
    assert f'<td class="num">{row.requests}</td><td class="num">{row.errors}</td>' in html
    detail = client.get("/deployments/production/credit-default/")
    assert detail.status_code == 200
    page = detail.content.decode()
    assert 'id="rate-chart"' in page and 'id="latency-chart"' in page and "Error rate" in page
    assert "Approved promotion" in page and page.count('<code class="hash">') == 10
    assert "Change what is served" not in page  # reviewers read, admins change
    assert client.get("/deployments/nowhere/credit-default/").status_code == 404


def test_admin_changes_traffic_in_the_browser_forms(client, admin_user, scientist, production, versions):  # noqa: F811
    url = "/deployments/production/credit-default/change/"
    client.force_login(scientist)
    client.post(url, {"action": "traffic", "canary": "2", "canary_percent": "20"})
    production.refresh_from_db()
    assert production.canary is None  # refused: only admins change traffic

    client.force_login(admin_user)
    assert "Change what is served" in client.get("/deployments/production/credit-default/").content.decode()
    refused = client.post(
        url, {"action": "traffic", "canary": "2", "canary_percent": "20", "reason": "try v2"}, follow=True
    )
    assert "not approved for production" in refused.content.decode()  # a canary answers callers
    production.refresh_from_db()
    assert production.canary is None
    client.post(url, {"action": "traffic", "canary": "2", "canary_percent": "20", "reason": "try v2", "override": "on"})
    production.refresh_from_db()
    assert (production.canary, production.canary_percent) == (versions[1], 20)
    response = client.post(url, {"action": "traffic", "canary": "2", "canary_percent": "abc"}, follow=True)
    assert "whole percentage" in response.content.decode()
    asked = client.post(url, {"action": "promote_canary"})
    assert asked.status_code == 200 and "Yes, change the primary" in asked.content.decode()
    production.refresh_from_db()
    assert production.primary == versions[0]  # nothing changes before the confirmation
    client.post(url, {"action": "promote_canary", "confirm": "yes"})
    production.refresh_from_db()
    assert production.primary == versions[1] and production.canary is None
    client.post(url, {"action": "rollback", "reason": "v2 too slow", "confirm": "yes"})
    production.refresh_from_db()
    assert production.primary == versions[0] and production.canary == versions[1]
    client.post(url, {"action": "deploy", "version": "2", "confirm": "yes"})
    production.refresh_from_db()
    assert production.primary == versions[1] and production.revisions.count() == 5
    bad = client.post(url, {"action": "deploy", "version": "9"}, follow=True)
    assert "no version 9" in bad.content.decode()


def test_replayed_traffic_is_charted_when_it_was_served(client, reviewer, production, credit):
    from datetime import timedelta

    from django.utils import timezone

    from deployments.models import RequestStat

    earlier = timezone.now() - timedelta(hours=5)
    serving.predict(production, {"records": rows(credit, 1)}, served_at=earlier)
    with pytest.raises(serving.ServingError):
        serving.predict(production, {"records": [{"nope": 1}]}, served_at=earlier)
    assert list(RequestStat.objects.values_list("created_at", flat=True)) == [earlier, earlier]
    assert production.predictions.get().created_at == earlier


def test_odd_numbers_in_the_forms_are_messages_not_errors(client, admin_user, production):
    client.force_login(admin_user)
    url = "/deployments/production/credit-default/change/"
    for value in ("²", "9" * 5000, "-1"):
        response = client.post(url, {"action": "deploy", "version": value, "confirm": "yes"}, follow=True)
        assert response.status_code == 200
        response = client.post(url, {"action": "traffic", "canary": "", "canary_percent": value}, follow=True)
        assert response.status_code == 200
    production.refresh_from_db()
    assert production.revision == 1
