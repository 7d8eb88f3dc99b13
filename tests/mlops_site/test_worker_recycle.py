"""A job worker left holding more private memory than WORKER_MAX_PRIVATE_MB after a job is replaced."""

from __future__ import annotations

import pytest
from django_q.conf import Conf
from django_q.worker import rss_check

from mlops_site.management.commands import qcluster


@pytest.fixture
def fresh_conf(monkeypatch):
    monkeypatch.setattr(Conf, "MAX_RSS", None)
    return Conf


def test_private_memory_is_read_from_proc():
    held = bytearray(40 * 1024 * 1024)  # 40 MB written: private pages of this process
    held[::4096] = b"x" * len(held[::4096])
    assert qcluster.private_mb() >= 40


def test_a_grown_worker_is_recycled_and_a_small_one_kept(fresh_conf, settings, monkeypatch):
    settings.WORKER_MAX_PRIVATE_MB = 64
    monkeypatch.setattr(qcluster, "private_mb", lambda: 30.0)
    qcluster._recycle_if_grown(sender="django_q")
    assert not rss_check()  # django-q2's own check after each task: keep this worker

    monkeypatch.setattr(qcluster, "private_mb", lambda: 200.0)
    qcluster._recycle_if_grown(sender="django_q")
    assert rss_check()  # replace it
