"""The lean predict view (deployments/api/predict.py) answers exactly as the DRF viewset it stands in front of."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from deployments.api import predict as lean
from mlops_site import services
from tests.builders import inputs_of

pytestmark = pytest.mark.django_db


def _answer(view, body, *, token=None, content_type="application/json", **extra):
    request = RequestFactory().post(
        "/", body if isinstance(body, bytes | str) else json.dumps(body), content_type=content_type, **extra
    )
    if token:
        request.META["HTTP_AUTHORIZATION"] = f"Token {token}"
    response = view(request, environment="production", model=extra.pop("model", "credit-default"))
    if hasattr(response, "render"):
        response.render()
    data = json.loads(response.content) if response.content else None
    for item in (data or {}).get("predictions", []):
        item.pop("prediction_id")  # a fresh id per answer
    return response.status_code, data, response.get("WWW-Authenticate")


@pytest.fixture
def cases(deployed, scientist, reviewer):
    _, version, dataset_version = deployed
    record = inputs_of(version, dataset_version).head(1).astype(object).to_dict("records")[0]
    record = {k: (None if v != v else v) for k, v in record.items()}
    _, personal = services.create_api_token(scientist, name="personal")
    _, service = services.create_api_token(scientist, name="service", scope="predict")
    revoked_token, revoked = services.create_api_token(scientist, name="old")
    services.revoke_api_token(revoked_token, actor=scientist)
    _, reviewing = services.create_api_token(reviewer, name="reviewer")
    first = next(iter(record))
    return {
        "a row": ({"records": [record]}, {"token": personal}),
        "a service token": ({"records": [record], "entity_key": "c-1"}, {"token": service}),
        "an unknown token": ({"records": [record]}, {"token": "nope"}),
        "a revoked token": ({"records": [record]}, {"token": revoked}),
        "a role without predict": ({"records": [record]}, {"token": reviewing}),
        "broken JSON": ('{"records": [', {"token": personal}),
        "a NUL in a value": ({"records": [{**record, first: "a\u0000b"}]}, {"token": personal}),
        "not an object": ([record], {"token": personal}),
        "an unknown key": ({"records": [record], "extra": 1}, {"token": personal}),
        "a missing column": ({"records": [{k: v for k, v in record.items() if k != first}]}, {"token": personal}),
        "a wrong type": ({"records": [{**record, first: {"a": 1}}]}, {"token": personal}),
        "too large": ({"records": [record]}, {"token": personal, "CONTENT_LENGTH": str(10**12)}),
        "deep nesting": ({"records": [{first: json.loads("[" * 80 + "]" * 80)}]}, {"token": personal}),
        "another content type": ("records=1", {"token": personal, "content_type": "text/plain"}),
        "no token": ({"records": [record]}, {}),
    }


def test_the_lean_view_answers_as_the_viewset(cases, monkeypatch):
    for name, (body, options) in cases.items():
        monkeypatch.setattr(lean, "viewset", lean.views.PredictViewSet.as_view({"post": "predict"}))
        theirs = _answer(lean.viewset, body, **options)
        ours = _answer(lean.predict, body, **options)
        assert ours == theirs, name
    statuses = {name: _answer(lean.predict, body, **options)[0] for name, (body, options) in cases.items()}
    assert statuses == {
        "a row": 200,
        "a service token": 200,
        "an unknown token": 401,
        "a revoked token": 401,
        "a role without predict": 403,
        "broken JSON": 400,
        "a NUL in a value": 400,
        "not an object": 400,
        "an unknown key": 400,
        "a missing column": 400,
        "a wrong type": 400,
        "too large": 413,
        "deep nesting": 400,
        "another content type": 415,
        "no token": 401,
    }


def test_the_lean_view_serves_the_published_route(client, deployed, scientist):
    """The URL clients call resolves to the lean view first, and a token request is served there."""
    from django.urls import resolve

    _, key = services.create_api_token(scientist, name="t")
    match = resolve("/api/deployments/production/credit-default/predict")
    assert match.func is lean.predict
    response = client.post(
        "/api/deployments/production/credit-default/predict",
        {"records": []},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert response.status_code in (200, 400) and response["Content-Type"] == "application/json"
