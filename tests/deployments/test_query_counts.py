"""Deployment lists cost the same number of queries for N rows as for 2N (no query per row).

Pages and endpoints listing deployments, predictions and revisions, and the "Served" panels deployments
adds to the model and version pages. Counts are of a warm request (the first token call stamps it).
"""

import pytest

from deployments.models import Deployment
from tests.builders import queries, token_client
from tests.deployments.rows import add_deployments, add_predictions, add_revisions
from tests.deployments.test_serving import _fresh_cache, versions  # noqa: F401

pytestmark = pytest.mark.django_db

N = 3


def counts(admin_user, client, urls) -> dict[str, int]:
    api = token_client(admin_user)
    return {url: queries(api if url.startswith("/api/") else client, url) for url in urls}


DEPLOYMENT_LISTS = [
    "/deployments/",
    "/deployments/?sort=-updated",
    "/api/deployments/",
    "/api/deployments/?sort=model",
    "/models/credit-default/",
    "/models/credit-default/versions/1/",
    "/models/credit-default/versions/2/",
]


def test_deployment_lists_and_served_panels_do_not_query_per_deployment(admin_user, client, versions):  # noqa: F811
    client.force_login(admin_user)
    add_deployments(versions, N, 0, stage="staging")  # the model panel asks the registry per stage
    small = counts(admin_user, client, DEPLOYMENT_LISTS)
    add_deployments(versions, N, N, stage="staging")
    assert Deployment.objects.count() == 2 * N
    assert counts(admin_user, client, DEPLOYMENT_LISTS) == small


def test_prediction_and_revision_lists_do_not_query_per_row(admin_user, client, versions):  # noqa: F811
    client.force_login(admin_user)
    (deployment,) = add_deployments(versions, 1, 0)
    urls = [
        "/api/predictions/",
        "/api/predictions/?deployment=env-0/credit-default",
        "/api/predictions/?sort=-latency",
        "/deployments/env-0/credit-default/",
        "/api/deployments/env-0/credit-default/",
    ]
    add_predictions(deployment, N)
    add_revisions(deployment, N)
    small = counts(admin_user, client, urls)
    add_predictions(deployment, N)
    add_revisions(deployment, N)
    assert counts(admin_user, client, urls) == small
