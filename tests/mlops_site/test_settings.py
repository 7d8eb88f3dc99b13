"""Settings come from the environment with safe defaults."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from mlops_site.env import env_bool, env_int, env_list, load_or_create_secret_key


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 1) == 12
    assert env_list("X_LIST", []) == ["a", "b", "c"]
    assert env_int("X_MISSING", 7) == 7
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured):
        env_int("X_INT", 1)


def test_secret_key_is_generated_once_and_private(tmp_path):
    path = tmp_path / "secret_key"
    first = load_or_create_secret_key(path)
    assert len(first) >= 50
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_or_create_secret_key(path) == first


def _run(args, **env):
    full = {**os.environ, "DATA_DIR": env.pop("DATA_DIR"), **env}
    for leaked in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"):  # set by other tests' fixtures
        full.pop(leaked, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_debug_off(tmp_path):
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], DATA_DIR=str(tmp_path), DEBUG="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
    assert (tmp_path / "secret_key").exists()


def test_sqlite_default_and_redis_broker_from_env(tmp_path):
    code = (
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.DATABASES['default']['OPTIONS']['transaction_mode'], "
        "s.Q_CLUSTER.get('redis'), s.Q_CLUSTER.get('orm'))"
    )
    default = _run(["shell", "--no-imports", "-c", code], DATA_DIR=str(tmp_path))
    assert default.stdout.split() == ["django.db.backends.sqlite3", "IMMEDIATE", "None", "default"]
    redis = _run(["shell", "--no-imports", "-c", code], DATA_DIR=str(tmp_path), REDIS_URL="redis://127.0.0.1:6379/3")
    assert redis.stdout.split()[2:] == ["redis://127.0.0.1:6379/3", "None"]


def test_timeout_is_below_retry():
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
