"""Wrong passwords lock out a username and an address (page, admin and token logins), audited; then it passes."""

import time

import pytest
from rest_framework.test import APIClient

from mlops_site.models import AuditEvent
from tests.builders import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def policy(settings):
    settings.LOGIN_FAILURES_PER_USER = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 600
    settings.LOGIN_LOCKOUT_SECONDS = 600


def page_login(client, username, password, address="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_page_login_locks_the_username_out_after_the_limit_even_with_the_right_password(client, scientist):
    assert [page_login(client, "sci", "wrong").status_code for _ in range(2)] == [200, 200]

    third = page_login(client, "sci", "wrong")
    right = page_login(client, "sci", PASSWORD)

    assert third.status_code == 429 and "Too many failed logins for this username" in third.content.decode()
    assert right.status_code == 429 and 500 < int(right["Retry-After"]) <= 601
    assert "_auth_user_id" not in client.session
    event = AuditEvent.objects.get(action="auth.locked_out")
    assert event.target_id == str(scientist.pk) and event.actor is None
    assert event.after == {"by": "username", "username": "sci", "address": "10.0.0.1", "failures": 3, "seconds": 600}
    # The lockout is by username: another user logs in from the same address.
    from tests.builders import make_user

    make_user("other")
    assert page_login(client, "other", PASSWORD).status_code == 302


def test_address_lockout_covers_every_username_from_that_address(client, scientist):
    for name in ("a", "b", "c", "d"):
        assert page_login(client, name, "wrong", address="10.0.0.9").status_code == 200

    fifth = page_login(client, "e", "wrong", address="10.0.0.9")

    assert fifth.status_code == 429 and "your address" in fifth.content.decode()
    assert page_login(client, "sci", PASSWORD, address="10.0.0.9").status_code == 429
    assert page_login(client, "sci", PASSWORD, address="10.0.0.10").status_code == 302
    assert AuditEvent.objects.filter(action="auth.locked_out", after__by="address").count() == 1


def test_a_successful_login_after_the_lockout_works_again(client, scientist, settings):
    settings.LOGIN_LOCKOUT_SECONDS = 1
    for _ in range(3):
        page_login(client, "sci", "wrong")
    assert page_login(client, "sci", PASSWORD).status_code == 429

    time.sleep(1.2)

    assert page_login(client, "sci", PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(scientist.pk)


def test_a_successful_login_clears_the_username_count(client, scientist):
    for _ in range(2):
        page_login(client, "sci", "wrong")
    assert page_login(client, "sci", PASSWORD).status_code == 302
    client.logout()
    assert [page_login(client, "sci", "wrong").status_code for _ in range(2)] == [200, 200]


def test_admin_login_is_locked_out_too(client, admin_user):
    def attempt(password):
        return client.post(
            "/admin/login/?next=/admin/", {"username": "adm", "password": password}, REMOTE_ADDR="10.0.0.2"
        )

    assert [attempt("wrong").status_code for _ in range(3)] == [200, 200, 429]
    locked = attempt(PASSWORD)

    assert locked.status_code == 429 and "Too many failed logins" in locked.content.decode()
    assert AuditEvent.objects.filter(action="auth.locked_out").count() == 1


def test_token_endpoint_answers_429_json_while_locked_out(scientist):
    client = APIClient(REMOTE_ADDR="10.0.0.3")
    body = {"username": "sci", "password": "wrong", "name": "script"}
    assert [client.post("/api/auth/token/", body).status_code for _ in range(2)] == [401, 401]

    third = client.post("/api/auth/token/", body)
    right = client.post("/api/auth/token/", body | {"password": PASSWORD})

    assert third.status_code == 429 and right.status_code == 429
    assert right.json()["code"] == "locked_out" and right.json()["errors"] == {}
    assert "Too many failed logins" in right.json()["detail"] and int(right["Retry-After"]) > 0
    assert not scientist.api_tokens.exists()


def test_failures_on_one_path_count_on_the_others(client, scientist):
    """One policy for every login: two wrong page logins and one wrong token request lock the username."""
    page_login(client, "sci", "wrong")
    page_login(client, "sci", "wrong")
    APIClient().post("/api/auth/token/", {"username": "sci", "password": "wrong", "name": "x"})

    assert page_login(client, "sci", PASSWORD, address="10.0.0.7").status_code == 429
