"""Session setup and per-test isolation (media, cache, inline jobs); the builders are tests/builders.py."""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["tests.builders", "tests.s3"]


def pytest_configure(config):
    """Tests speak plain HTTP, as `make run` does (HTTPS=0); test_settings checks the TLS defaults.

    Set for the whole session, because the live server builds its middleware once.

    One BLAS/OpenMP thread per test process: the models are small, and on a shared machine the
    OpenMP threads of gradient boosting spin against each other (a 1 s fit took over a minute).
    The environment variables reach the worker processes some tests start.
    """
    import threadpoolctl
    from django.conf import settings

    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    threadpoolctl.threadpool_limits(limits=int(os.environ["OMP_NUM_THREADS"]))

    settings.SECURE_SSL_REDIRECT = settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_HSTS_SECONDS = 0
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing

    from django.db.models.signals import post_migrate

    post_migrate.connect(_migration_rows, dispatch_uid="tests.migration_rows")


def _migration_rows(sender, **kwargs):
    """Put back the rows the migrations create (the staging and production environments) after a flush.

    A transactional test (browser, worker, races) ends by flushing every table, then Django sends
    post_migrate, which re-syncs the roles and schedules but not data migrations. pytest orders tests by
    their fixtures, so a plain test can run after a transactional one and must still see a migrated database.
    """
    if sender.name != "deployments":
        return
    from importlib import import_module

    from django.apps import apps

    import_module("deployments.migrations.0001_initial").default_environments(apps, None)


@pytest.fixture(autouse=True)
def _isolated_settings(settings, tmp_path, request):
    """Each test gets its own media folder (or, with TEST_STORAGE=s3, its own bucket of the loopback S3),
    a private cache and inline (synchronous) jobs."""
    settings.MEDIA_ROOT = tmp_path / "media"
    if os.environ.get("TEST_STORAGE") == "s3":
        from tests.s3 import CREDENTIALS, new_bucket, s3_storage

        endpoint = request.getfixturevalue("s3_endpoint")
        os.environ.update(CREDENTIALS)
        settings.STORAGES = {**settings.STORAGES, "default": s3_storage(endpoint, new_bucket(endpoint)[1])}
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins
    # One shuffle of at most 200 holdout rows: tests that check importance values call training.train.
    settings.TRAINING_IMPORTANCE_REPEATS = 1
    settings.TRAINING_IMPORTANCE_MAX_ROWS = 200
