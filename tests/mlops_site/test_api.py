"""REST API of the kernel: token login and use, error format, jobs, permissions, schema."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from mlops_site import services
from mlops_site.models import ApiToken, AuditEvent, Job
from tests.builders import PASSWORD, token_client

pytestmark = pytest.mark.django_db


def test_obtain_token_and_use_it(scientist):
    client = APIClient()
    response = client.post("/api/auth/token/", {"username": "sci", "password": PASSWORD}, format="json")
    assert response.status_code == 201
    key = response.json()["token"]
    stored = ApiToken.objects.get(user=scientist)
    assert stored.key_hash == ApiToken.hash_key(key) and key not in stored.key_hash  # only the hash is kept
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = client.get("/api/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "sci" and me.json()["roles"] == ["data-scientist"]
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_wrong_password_gives_401_json_and_no_token(scientist):
    response = APIClient().post("/api/auth/token/", {"username": "sci", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Wrong username or password.", "code": "authentication_failed", "errors": {}}
    assert ApiToken.objects.count() == 0


def test_missing_fields_give_400_with_field_errors(db):
    response = APIClient().post("/api/auth/token/", {"username": "sci"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "password" in body["errors"]


@pytest.mark.parametrize(
    "header",
    ["", "Token not-a-real-token", "Token", "Token a b", "Basic abc"],
    ids=["missing", "unknown", "empty", "too-many-parts", "other-scheme"],
)
def test_unauthenticated_api_calls_get_401(db, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/jobs/")
    assert response.status_code == 401
    assert response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_revoked_token_gets_401(scientist):
    token, key = services.create_api_token(scientist, name="old")
    services.revoke_api_token(token, actor=scientist)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/me/").status_code == 401


def test_expired_token_gets_401(scientist):
    token, key = services.create_api_token(scientist, name="short", expires_in_days=1)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get("/api/me/")
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_token_of_deactivated_user_gets_401(scientist):
    client = token_client(scientist)
    scientist.is_active = False
    scientist.save()
    assert client.get("/api/me/").status_code == 401


def test_tokens_are_listed_created_and_revoked_by_owner_only(scientist, reviewer):
    client = token_client(scientist)
    created = client.post("/api/tokens/", {"name": "nightly", "expires_in_days": 7}, format="json")
    assert created.status_code == 201 and created.json()["token"]
    listed = client.get("/api/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"test", "nightly"}
    assert all("key_hash" not in t for t in listed)
    other = token_client(reviewer).delete(f"/api/tokens/{created.json()['id']}/")
    assert other.status_code == 404  # not visible to others at all
    revoked = client.delete(f"/api/tokens/{created.json()['id']}/")
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    again = client.delete(f"/api/tokens/{created.json()['id']}/")
    assert again.status_code == 409 and again.json()["code"] == "conflict"


def test_token_with_bad_expiry_is_rejected_and_nothing_written(scientist):
    client = token_client(scientist)
    tokens, events = ApiToken.objects.count(), AuditEvent.objects.count()
    response = client.post("/api/tokens/", {"name": "x", "expires_in_days": -1}, format="json")
    assert response.status_code == 400 and "expires_in_days" in response.json()["errors"]
    response = client.post("/api/tokens/", {"name": ""}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert (ApiToken.objects.count(), AuditEvent.objects.count()) == (tokens, events)


def test_session_post_without_csrf_is_refused(scientist):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(scientist)
    response = client.post("/api/tokens/", {"name": "sneaky"}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert not ApiToken.objects.filter(name="sneaky").exists()


@pytest.mark.parametrize(
    ("role", "status"), [("data-scientist", 200), ("reviewer", 200), ("admin", 200), ("none", 403)]
)
def test_jobs_api_per_role(users_by_role, role, status):
    assert token_client(users_by_role[role]).get("/api/jobs/").status_code == status


@pytest.mark.parametrize("job_id", ["999999", "abc"])
def test_unknown_job_is_404_json(scientist, job_id):
    client = token_client(scientist)
    for response in (client.get(f"/api/jobs/{job_id}/"), client.post(f"/api/jobs/{job_id}/cancel/")):
        assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_token_minted_with_a_token_cannot_outlive_it(scientist):
    parent, key = services.create_api_token(scientist, name="short", expires_in_days=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post("/api/tokens/", {"name": "forever", "expires_in_days": 0}, format="json")
    assert response.status_code == 201
    assert ApiToken.objects.get(name="forever").expires_at == parent.expires_at


def test_job_list_filters_and_is_query_bounded(scientist, reviewer, django_assert_max_num_queries):
    for i in range(20):
        Job.objects.create(kind="a" if i % 2 else "b", task="x", created_by=scientist if i % 3 else reviewer)
    client = token_client(scientist)
    with django_assert_max_num_queries(6):
        body = client.get("/api/jobs/", {"kind": "a"}).json()
    assert body["count"] == 10 and all(job["kind"] == "a" for job in body["results"])
    mine = client.get("/api/jobs/", {"mine": "true"}).json()
    assert mine["count"] == Job.objects.filter(created_by=scientist).count()
    assert client.get("/api/jobs/", {"status": "bogus"}).status_code == 400


def test_selfcheck_via_api_and_cancel_rules(scientist, reviewer, admin_user, django_capture_on_commit_callbacks):
    client = token_client(scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/jobs/selfcheck/")
    assert response.status_code == 201
    job_id = response.json()["id"]
    detail = client.get(f"/api/jobs/{job_id}/").json()
    assert detail["status"] == "succeeded" and detail["result"]["sklearn"]["cv_accuracy_mean"] > 0.7
    assert client.post(f"/api/jobs/{job_id}/cancel/").status_code == 409  # already finished

    queued = Job.objects.create(kind="t", task="x", created_by=scientist)
    forbidden = token_client(reviewer).post(f"/api/jobs/{queued.pk}/cancel/")
    assert forbidden.status_code == 403
    queued.refresh_from_db()
    assert queued.status == "queued"
    allowed = token_client(admin_user).post(f"/api/jobs/{queued.pk}/cancel/")
    assert allowed.status_code == 200 and allowed.json()["status"] == "cancelled"


def test_user_without_role_cannot_start_jobs(nobody):
    response = token_client(nobody).post("/api/jobs/selfcheck/")
    assert response.status_code == 403
    assert Job.objects.count() == 0


def test_openapi_schema_and_docs_are_served(scientist, client):
    schema = APIClient().get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/auth/token/",
        "/api/me/",
        "/api/tokens/",
        "/api/jobs/",
        "/api/jobs/{id}/cancel/",
        "/api/audit-events/",
    ]:
        assert path in paths
    client.force_login(scientist)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()


def test_request_id_is_echoed(scientist):
    response = token_client(scientist).get("/api/me/", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
