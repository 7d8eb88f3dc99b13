"""Service ("predict") tokens, and the one-query token check the predict endpoint uses."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from rest_framework.test import APIClient

from mlops_site import services
from mlops_site.models import ApiToken, AuditEvent
from tests.builders import make_user

pytestmark = pytest.mark.django_db

PREDICT = "/api/deployments/production/no-such-model/predict"  # 404 once the caller is let through
GROUND_TRUTH = "/api/ground-truth/"


def client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def predict_status(key: str) -> int:
    return client_for(key).post(PREDICT, {"records": [{}]}, format="json").status_code


def test_a_data_scientist_creates_a_service_token_that_may_only_predict(scientist):
    owner = client_for(services.create_api_token(scientist, name="mine")[1])
    created = owner.post("/api/tokens/", {"name": "checkout app", "scope": "predict"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["scope"] == "predict"
    service = client_for(created.json()["token"])
    assert service.post(PREDICT, {"records": [{}]}, format="json").status_code == 404  # allowed in, no such model
    unknown = service.post(GROUND_TRUTH, [{"prediction_id": "00000000-0000-0000-0000-000000000000", "label": 1}])
    assert unknown.status_code == 400  # allowed in; the id is unknown
    for path in ("/api/deployments/", "/api/me/", "/api/tokens/", "/api/predictions/"):
        refused = service.get(path)
        assert refused.status_code == 403, path
        assert "service token" in refused.json()["detail"]
    assert service.post("/api/tokens/", {"name": "escalate"}, format="json").status_code == 403
    event = AuditEvent.objects.get(action="token.created", after__name="checkout app")
    assert event.after["scope"] == "predict"
    assert owner.get("/api/tokens/").json()["results"][0]["scope"] in {"predict", "full"}


def test_someone_who_may_not_predict_cannot_create_a_service_token(reviewer):
    with pytest.raises(PermissionDenied):
        services.create_api_token(reviewer, name="sneaky", scope="predict")
    client = client_for(services.create_api_token(reviewer, name="mine")[1])
    response = client.post("/api/tokens/", {"name": "sneaky", "scope": "predict"}, format="json")
    assert response.status_code == 403
    assert not ApiToken.objects.filter(name="sneaky").exists()
    assert client.post("/api/tokens/", {"name": "x", "scope": "root"}, format="json").status_code == 400


@pytest.mark.parametrize("scope", ["full", "predict"])
def test_the_predict_check_follows_the_owners_roles(scientist, scope):
    _, key = services.create_api_token(scientist, name="t", scope=scope)
    assert predict_status(key) == 404
    services.set_roles(scientist, roles=[], actor=None)  # no longer a data scientist
    assert predict_status(key) == 403


def test_the_predict_check_counts_direct_permissions_and_superusers(db):
    direct = make_user("direct")
    direct.user_permissions.add(Permission.objects.get(codename="predict", content_type__app_label="deployments"))
    assert predict_status(services.create_api_token(direct, name="t")[1]) == 404
    boss = make_user("boss", is_superuser=True)
    assert predict_status(services.create_api_token(boss, name="t")[1]) == 404
    plain = make_user("plain")
    assert predict_status(services.create_api_token(plain, name="t")[1]) == 403


def test_revoked_expired_and_deactivated_tokens_get_401_on_predict(scientist):
    revoked, revoked_key = services.create_api_token(scientist, name="old", scope="predict")
    services.revoke_api_token(revoked, actor=scientist)
    expired, expired_key = services.create_api_token(scientist, name="short", expires_in_days=1)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert predict_status(revoked_key) == 401
    assert predict_status(expired_key) == 401
    assert predict_status("not-a-token") == 401
    _, key = services.create_api_token(scientist, name="live")
    scientist.is_active = False
    scientist.save()
    assert predict_status(key) == 401


def test_the_predict_check_notes_the_last_use_like_other_calls(scientist):
    token, key = services.create_api_token(scientist, name="t", scope="predict")
    assert token.last_used_at is None
    predict_status(key)
    token.refresh_from_db()
    assert token.last_used_at is not None and timezone.now() - token.last_used_at < timedelta(minutes=1)


def test_the_one_query_check_gives_the_same_token_and_user_as_the_orm(scientist):
    _, key = services.create_api_token(scientist, name="t", expires_in_days=3)
    fast = services.authenticate_token(key, permission="deployments.predict")
    slow = services.authenticate_token(key)
    assert fast.pk == slow.pk and fast.user.pk == slow.user.pk == scientist.pk
    assert fast.user.username == "sci" and fast.user.is_active is True and fast.user.is_superuser is False
    assert fast.expires_at == slow.expires_at and fast.scope == "full"
    assert fast.checked_permission == ("deployments.predict", True)
    assert services.authenticate_token(key, permission="registry.review_promotionrequest").checked_permission == (
        "registry.review_promotionrequest",
        False,
    )


def test_the_profile_page_creates_a_service_token(client, scientist):
    client.force_login(scientist)
    response = client.post("/accounts/profile/", {"name": "app", "expires_in_days": 30, "scope": "predict"})
    assert response.status_code == 200
    assert ApiToken.objects.get(name="app").scope == "predict"
    assert "predict only" in response.content.decode()
