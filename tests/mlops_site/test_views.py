"""Pages: login, per-role access to every navigation page, forms, CSRF, health."""

from pathlib import Path
from unittest import mock

import pytest
from django.test import Client

from mlops_site.context_processors import NAVIGATION
from mlops_site.models import ApiToken, AuditEvent, Job
from tests.builders import PASSWORD

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/datasets/",
    "/experiments/",
    "/runs/",
    "/models/",
    "/approvals/",
    "/deployments/",
    "/monitoring/",
    "/monitoring/alerts/",
    "/jobs/",
    "/audit/",
    "/api/docs/",
    "/accounts/profile/",
]
ROLE_ONLY = {
    "/jobs/",
    "/audit/",
    "/datasets/",
    "/experiments/",
    "/runs/",
    "/models/",
    "/approvals/",
    "/deployments/",
    "/monitoring/",
    "/monitoring/alerts/",
}


def test_navigation_covers_the_pages():
    from django.urls import reverse

    assert {reverse(name) for _, name in NAVIGATION} <= set(PAGES)


@pytest.mark.parametrize("path", [p for p in PAGES if not p.startswith("/api/")])
def test_anonymous_visitor_is_sent_to_login(db, client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/accounts/login/?next={path}")


@pytest.mark.parametrize("role", ["data-scientist", "reviewer", "admin", "none"])
def test_every_page_per_role(client, users_by_role, role):
    client.force_login(users_by_role[role])
    for path in PAGES:
        response = client.get(path)
        expected = 403 if role == "none" and path in ROLE_ONLY else 200
        assert response.status_code == expected, path


def test_api_docs_are_public(db, client):
    # The schema and Swagger UI describe the API; calling it still needs a token.
    assert client.get("/api/docs/").status_code == 200


def test_dashboard_hides_jobs_and_audit_from_a_user_without_role(client, scientist, nobody):
    from mlops_site import audit

    audit.record(actor=scientist, action="secret.thing")
    Job.objects.create(kind="t", task="x", title="private job", created_by=scientist)
    client.force_login(nobody)
    page = client.get("/").content.decode()
    assert "secret.thing" not in page and "private job" not in page
    assert "You have no role yet" in page
    assert client.post("/jobs/selfcheck/").status_code == 403
    assert Job.objects.count() == 1


def test_login_with_wrong_password_shows_error(client, scientist):
    response = client.post("/accounts/login/", {"username": "sci", "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


def test_login_and_logout(client, scientist):
    response = client.post("/accounts/login/", {"username": "sci", "password": PASSWORD, "next": "/jobs/"})
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    assert client.get("/jobs/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/jobs/").status_code == 302


def test_expired_session_redirects_to_login(client, scientist):
    client.force_login(scientist)
    session = client.session
    session.set_expiry(-1)
    session.save()
    response = client.get("/jobs/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_post_without_csrf_token_is_refused(scientist):
    client = Client(enforce_csrf_checks=True)
    client.force_login(scientist)
    response = client.post("/accounts/profile/", {"name": "x", "expires_in_days": 1})
    assert response.status_code == 403
    assert ApiToken.objects.count() == 0


def test_token_created_on_profile_is_shown_once(client, scientist):
    client.force_login(scientist)
    response = client.post("/accounts/profile/", {"name": "laptop", "expires_in_days": 0})
    assert response.status_code == 200
    assert "laptop" not in str(dict(client.session))  # the key is never parked in the session
    token = ApiToken.objects.get(name="laptop")
    assert token.expires_at is None
    key = response.context["new_token"]["key"]
    assert ApiToken.hash_key(key) == token.key_hash
    assert key in response.content.decode()
    assert key not in client.get("/accounts/profile/").content.decode()


def test_profile_form_errors_change_nothing(client, scientist):
    client.force_login(scientist)
    response = client.post("/accounts/profile/", {"name": "", "expires_in_days": "soon"})
    assert response.status_code == 200
    assert response.context["form"].errors.keys() == {"name", "expires_in_days"}
    assert ApiToken.objects.count() == 0 and not AuditEvent.objects.filter(action="token.created").exists()


def test_revoke_someone_elses_token_is_404(client, scientist, reviewer):
    from mlops_site import services

    token, _ = services.create_api_token(reviewer, name="theirs")
    client.force_login(scientist)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_job_pages(client, scientist, django_capture_on_commit_callbacks):
    client.force_login(scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/jobs/selfcheck/")
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    detail = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "succeeded" in detail and "cv_accuracy_mean" in detail
    listing = client.get("/jobs/?status=succeeded&sort=-created").content.decode()
    assert f"#{job.pk} Platform self-check" in listing
    assert client.get("/jobs/?partial=1").status_code == 200
    assert client.get("/jobs/987654/").status_code == 404


def test_job_list_page_is_query_bounded(client, scientist, django_assert_max_num_queries):
    for _ in range(25):
        Job.objects.create(kind="t", task="x", created_by=scientist)
    client.force_login(scientist)
    with django_assert_max_num_queries(12):
        assert client.get("/jobs/").status_code == 200


def test_cancel_from_page_by_someone_else_is_forbidden(client, scientist, reviewer):
    job = Job.objects.create(kind="t", task="x", created_by=scientist)
    client.force_login(reviewer)
    assert client.post(f"/jobs/{job.pk}/cancel/").status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"


def test_dashboard_shows_chart_and_activity(client, scientist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.force_login(scientist)
        client.post("/jobs/selfcheck/")
    page = client.get("/").content.decode()
    assert "Jobs per day" in page and "plotly-chart" in page
    assert "job.succeeded" in page


def test_healthz_without_login(db, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}


def test_healthz_reports_503_when_the_broker_is_down(db, client):
    with mock.patch("django_q.brokers.get_broker", side_effect=ConnectionError("refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "error: ConnectionError"


def test_plotly_js_is_collected_into_our_static_files(settings, tmp_path):
    import plotly
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path / "static"
    call_command("collectstatic", "--noinput", verbosity=0)
    collected = (tmp_path / "static" / "vendor" / "plotly.min.js").read_bytes()
    shipped = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    assert collected == shipped
    assert (tmp_path / "static" / "css" / "site.css").exists()
