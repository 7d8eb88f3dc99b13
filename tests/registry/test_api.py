"""The registry's REST API: models by name, versions from runs, aliases."""

import pytest

from mlops_site.models import AuditEvent
from registry.models import ModelVersion, RegisteredModel
from tests.builders import token_client
from tests.registry.test_services import model, trained_run  # noqa: F401

pytestmark = pytest.mark.django_db


def test_create_register_alias_and_read_back(scientist, trained_run):  # noqa: F811
    client = token_client(scientist)
    created = client.post("/api/models/", {"name": "credit-default", "description": "loans"}, format="json")
    assert created.status_code == 201 and created.json()["name"] == "credit-default"
    assert client.post("/api/models/", {"name": "Credit-Default"}, format="json").status_code == 400
    version = client.post("/api/models/credit-default/versions/", {"run": trained_run.pk}, format="json")
    assert version.status_code == 201
    body = version.json()
    assert body["number"] == 1 and body["run"] == trained_run.pk and body["stage"] == "none"
    assert body["sha256"] == trained_run.artifacts.get(path="model/pipeline.skops").sha256
    assert client.put("/api/models/credit-default/aliases/champion/", {"version": 1}, format="json").json() == {
        "alias": "champion",
        "version": 1,
    }
    detail = client.get("/api/models/credit-default/").json()
    assert detail["latest_version"] == 1 and detail["aliases"] == {"champion": 1}
    one = client.get("/api/models/credit-default/versions/1/").json()
    assert one["aliases"] == ["champion"] and one["metrics"]["f1"] == body["metrics"]["f1"]
    assert client.get("/api/models/credit-default/versions/").json()[0]["number"] == 1
    patched = client.patch(
        "/api/models/credit-default/", {"description": "loan defaults", "tags": {"team": "risk"}}, format="json"
    )
    assert patched.status_code == 200 and patched.json()["tags"] == {"team": "risk"}
    assert client.delete("/api/models/credit-default/aliases/champion/").status_code == 204
    assert AuditEvent.objects.filter(action__startswith="model.").count() == 5


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("post", "/api/models/credit-default/versions/", {"run": 99999}, 400),
        ("post", "/api/models/credit-default/versions/", {"run": "x"}, 400),
        ("post", "/api/models/nope/versions/", {"run": 1}, 404),
        ("get", "/api/models/credit-default/versions/7/", None, 404),
        ("put", "/api/models/credit-default/aliases/champion/", {"version": 7}, 400),
        ("put", "/api/models/credit-default/aliases/bad alias/", {"version": 1}, 400),
        ("delete", "/api/models/credit-default/aliases/none/", None, 400),
    ],
)
def test_bad_input_is_a_4xx_and_changes_nothing(scientist, model, trained_run, method, path, body, code):  # noqa: F811
    client = token_client(scientist)
    client.post("/api/models/credit-default/versions/", {"run": trained_run.pk}, format="json")
    events = AuditEvent.objects.count()
    response = getattr(client, method)(path, body, format="json") if body is not None else getattr(client, method)(path)
    assert response.status_code == code, response.content
    assert AuditEvent.objects.count() == events and ModelVersion.objects.count() == 1


def test_reviewers_read_but_cannot_register(reviewer, scientist, model, trained_run):  # noqa: F811
    client = token_client(reviewer)
    assert client.get("/api/models/").status_code == 200
    assert client.post("/api/models/", {"name": "x"}, format="json").status_code == 403
    assert (
        client.post("/api/models/credit-default/versions/", {"run": trained_run.pk}, format="json").status_code == 403
    )
    assert client.patch("/api/models/credit-default/", {"description": "mine"}, format="json").status_code == 403
    assert RegisteredModel.objects.get().description == "loan defaults"


def test_users_without_a_role_are_refused(nobody, model):  # noqa: F811
    assert token_client(nobody).get("/api/models/").status_code == 403
