"""Every registry list costs the same number of queries for N rows as for 2N (no query per row)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import RegisteredModel
from tests.builders import token_client
from tests.registry.rows import add_rows

N = 3
PAGES = [
    "/models/",
    "/models/?sort=-versions",
    "/models/shared/",  # the model's versions, aliases and open requests
    "/models/shared/diff/",
    "/approvals/",
    "/approvals/?status=all&sort=model",
]
ENDPOINTS = [
    "/api/models/",
    "/api/models/?ordering=-created_at",
    "/api/models/?sort=-latest",
    "/api/models/shared/versions/",
    "/api/promotions/",
    "/api/promotions/?status=pending&sort=-id",  # each with its reviews
]


def queries(client, url: str) -> int:
    """Queries of a warm request (the first one of a token also stamps its last use)."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:500])
    return len(captured)


@pytest.mark.parametrize("url", PAGES + ENDPOINTS)
def test_registry_lists_do_not_query_per_row(admin_user, client, url):
    client.force_login(admin_user)
    fetch = token_client(admin_user) if url.startswith("/api/") else client
    add_rows(admin_user, 0, N)
    small = queries(fetch, url)
    add_rows(admin_user, N, N)
    assert RegisteredModel.objects.get(name="shared").versions.count() == 2 * N
    assert queries(fetch, url) == small
