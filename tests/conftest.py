"""Shared fixtures: users per role, API clients, isolated media, jobs run inline."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from mlops_site import roles, services


def pytest_configure(config):
    """Tests speak plain HTTP, as `make run` does (HTTPS=0); test_settings checks the TLS defaults.

    Set for the whole session, because the live server builds its middleware once.
    """
    from django.conf import settings

    settings.SECURE_SSL_REDIRECT = settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing


@pytest.fixture(autouse=True)
def _isolated_settings(settings, tmp_path):
    """Each test gets its own media folder, a private cache and inline (synchronous) jobs."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins


PASSWORD = "correct horse battery staple"


def make_user(username: str, role: str | None = None, **extra):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
    if role:
        services.set_roles(user, roles=[role], actor=None)
    return user


@pytest.fixture
def scientist(db):
    return make_user("sci", roles.DATA_SCIENTIST)


@pytest.fixture
def reviewer(db):
    return make_user("rev", roles.REVIEWER)


@pytest.fixture
def admin_user(db):
    return make_user("adm", roles.ADMIN, is_staff=True)


@pytest.fixture
def nobody(db):
    """Logged in, but without any platform role."""
    return make_user("nobody")


@pytest.fixture
def users_by_role(scientist, reviewer, admin_user, nobody):
    return {"data-scientist": scientist, "reviewer": reviewer, "admin": admin_user, "none": nobody}


@pytest.fixture
def api_client():
    return APIClient()


def token_client(user) -> APIClient:
    _, key = services.create_api_token(user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client
