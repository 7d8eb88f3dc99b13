"""Every registry list costs the same number of queries for N rows as for 2N (no query per row)."""

import pytest

from registry.models import RegisteredModel
from tests.builders import queries, token_client
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


@pytest.mark.parametrize("url", PAGES + ENDPOINTS)
def test_registry_lists_do_not_query_per_row(admin_user, client, url):
    client.force_login(admin_user)
    fetch = token_client(admin_user) if url.startswith("/api/") else client
    add_rows(admin_user, 0, N)
    small = queries(fetch, url)
    add_rows(admin_user, N, N)
    assert RegisteredModel.objects.get(name="shared").versions.count() == 2 * N
    assert queries(fetch, url) == small
