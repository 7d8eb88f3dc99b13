"""The kernel's lists cost the same number of queries for N rows as for 2N (no query per row)."""

import pytest

from mlops_site import audit
from mlops_site.models import Job
from tests.builders import make_user, queries, token_client


def add_rows(owner, count: int, start: int) -> None:
    for i in range(start, start + count):
        user = make_user(f"user{i}")
        Job.objects.create(kind="t", task="x", title=f"job {i}", created_by=user)
        audit.record(actor=user, action="thing.done", target=Job.objects.latest("pk"))


@pytest.mark.parametrize(
    "url", ["/jobs/", "/audit/", "/api/jobs/", "/api/audit-events/", "/jobs/?sort=kind", "/api/jobs/?ordering=kind"]
)
def test_kernel_lists_do_not_query_per_row(admin_user, client, url):
    client.force_login(admin_user)
    api = token_client(admin_user)
    fetch = api if url.startswith("/api/") else client
    add_rows(admin_user, 3, 0)
    small = queries(fetch, url)
    add_rows(admin_user, 3, 3)
    assert Job.objects.count() == 6
    assert queries(fetch, url) == small
