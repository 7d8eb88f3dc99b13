"""The audit trail: written by services in their transaction, append-only, readable per role."""

from unittest import mock

import pytest
from django.db import DatabaseError, connection, transaction

from mlops_site import audit, services
from mlops_site.models import ApiToken, AppendOnlyError, AuditEvent
from tests.builders import token_client

pytestmark = pytest.mark.django_db


def test_service_writes_event_with_actor_target_and_request_id(scientist, client):
    client.force_login(scientist)
    response = client.post("/accounts/profile/", {"name": "ci", "expires_in_days": 30}, HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="token.created")
    assert event.actor == scientist and event.actor_name == "sci"
    assert event.target_repr.startswith("ci (")
    assert event.after["name"] == "ci"
    assert event.request_id == "req-42"


def test_change_rolls_back_when_its_audit_event_cannot_be_written(scientist):
    with (
        mock.patch("mlops_site.services.audit.record", side_effect=DatabaseError("disk full")),
        pytest.raises(DatabaseError),
    ):
        services.create_api_token(scientist, name="doomed")
    assert not ApiToken.objects.filter(name="doomed").exists()


def test_events_cannot_be_changed_or_deleted_through_the_orm(scientist):
    event = audit.record(actor=scientist, action="thing.done")
    event.action = "thing.undone"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "thing.done"


def test_database_refuses_raw_updates(scientist):
    event = audit.record(actor=scientist, action="thing.done")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE mlops_site_auditevent SET action = 'forged' WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "thing.done"


@pytest.mark.parametrize(
    ("role", "status"), [("data-scientist", 200), ("reviewer", 200), ("admin", 200), ("none", 403)]
)
def test_audit_api_per_role(users_by_role, role, status):
    response = token_client(users_by_role[role]).get("/api/audit-events/")
    assert response.status_code == status


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_audit_api_is_read_only(admin_user, method):
    event = audit.record(actor=admin_user, action="thing.done")
    client = token_client(admin_user)
    url = "/api/audit-events/" if method == "post" else f"/api/audit-events/{event.pk}/"
    response = getattr(client, method)(url, {"action": "forged"}, format="json")
    assert response.status_code == 405
    assert AuditEvent.objects.get(pk=event.pk).action == "thing.done"


def test_audit_api_filters_by_actor_and_action(scientist, reviewer):
    audit.record(actor=scientist, action="dataset.created")
    audit.record(actor=reviewer, action="promotion.approved")
    client = token_client(reviewer)
    body = client.get("/api/audit-events/", {"actor": "sci", "action": "dataset"}).json()
    assert [e["action"] for e in body["results"]] == ["dataset.created"]
    assert body["results"][0]["actor"] == "sci"
    bad = client.get("/api/audit-events/", {"since": "not-a-date"})
    assert bad.status_code == 400 and "since" in bad.json()["errors"]


def test_audit_list_is_query_bounded(admin_user, django_assert_max_num_queries):
    for i in range(30):
        audit.record(actor=admin_user, action=f"thing.{i}", target=admin_user)
    client = token_client(admin_user)
    with django_assert_max_num_queries(8):
        response = client.get("/api/audit-events/?page_size=100")
    assert response.json()["count"] >= 30


def test_audit_page_filters_and_paginates(client, admin_user):
    for i in range(60):
        audit.record(actor=admin_user, action=f"bulk.{i:02d}")
    client.force_login(admin_user)
    page = client.get("/audit/", {"action": "bulk", "sort": "action"})
    assert page.status_code == 200
    content = page.content.decode()
    assert "bulk.00" in content and "bulk.49" in content and "bulk.50" not in content
    assert "Page 1 of 2" in content
