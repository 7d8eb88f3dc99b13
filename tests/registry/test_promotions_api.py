"""The promotion API: 202 with gates on a worker, decisions with their status codes, nothing changed on refusal."""

import pytest

from registry import services
from registry.models import ModelVersion, PromotionRequest, Review
from tests.builders import make_user, token_client
from tests.registry.test_services import model, second_run, trained_run  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(scientist, model, trained_run):  # noqa: F811
    return services.register_version(model, trained_run, actor=scientist)


def open_via_api(client, django_capture_on_commit_callbacks, **overrides):
    body = {"model": "credit-default", "version": 1, "stage": "production", "justification": "beats v0"} | overrides
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/api/promotions/", body, format="json")


def test_request_review_and_approve_through_the_api(scientist, reviewer, version, django_capture_on_commit_callbacks):
    created = open_via_api(token_client(scientist), django_capture_on_commit_callbacks)
    assert created.status_code == 202
    body = created.json()
    assert body["status"] == "checking" and body["job"] and body["model"] == "credit-default" and body["version"] == 1

    review = token_client(reviewer)
    pending = review.get("/api/promotions/?status=pending").json()
    assert [item["id"] for item in pending["results"]] == [body["id"]]
    item = pending["results"][0]
    assert item["gates_status"] == "pass" and {g["name"] for g in item["gates"]} >= {"artifact_hash", "fairness"}

    approved = review.post(f"/api/promotions/{body['id']}/approve/", {"comment": "good"}, format="json")
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved" and approved.json()["approvals"] == 1
    assert approved.json()["reviews"][0]["reviewer"] == reviewer.username
    version.refresh_from_db()
    assert version.stage == "production"
    assert review.get("/api/promotions/?status=pending").json()["results"] == []
    assert review.get("/api/models/credit-default/versions/1/").json()["stage"] == "production"


def test_refusals_have_clear_codes_and_change_nothing(
    scientist, reviewer, admin_user, version, django_capture_on_commit_callbacks
):
    ds, rv = token_client(scientist), token_client(reviewer)
    pk = open_via_api(ds, django_capture_on_commit_callbacks).json()["id"]

    own = ds.post(f"/api/promotions/{pk}/approve/", {}, format="json")
    assert own.status_code == 403 and "reviewers" in own.json()["detail"]
    twice = open_via_api(ds, django_capture_on_commit_callbacks)
    assert twice.status_code == 409 and f"#{pk}" in twice.json()["detail"]
    unknown = open_via_api(ds, django_capture_on_commit_callbacks, model="nope")
    assert unknown.status_code == 400 and "model" in unknown.json()["errors"]
    no_version = open_via_api(ds, django_capture_on_commit_callbacks, version=9)
    assert no_version.status_code == 400 and "version" in no_version.json()["errors"]
    bad_stage = open_via_api(ds, django_capture_on_commit_callbacks, stage="archived")
    assert bad_stage.status_code == 400 and "stage" in bad_stage.json()["errors"]
    assert (
        rv.post(
            "/api/promotions/",
            {"model": "credit-default", "version": 1, "stage": "staging", "justification": "x"},
            format="json",
        ).status_code
        == 403
    )
    assert rv.post("/api/promotions/999/approve/", {}, format="json").status_code == 404
    bogus = rv.get("/api/promotions/?status=bogus")
    assert bogus.status_code == 400 and "status" in bogus.json()["errors"]
    no_comment = rv.post(f"/api/promotions/{pk}/reject/", {}, format="json")
    assert no_comment.status_code == 400 and "comment" in no_comment.json()["errors"]

    rejected = rv.post(f"/api/promotions/{pk}/reject/", {"comment": "not yet"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    late = token_client(make_user("rita", "reviewer")).post(f"/api/promotions/{pk}/approve/", {}, format="json")
    assert late.status_code == 409 and "rejected" in late.json()["detail"]
    assert ds.post(f"/api/promotions/{pk}/withdraw/").status_code == 409
    assert Review.objects.count() == 1
    assert ModelVersion.objects.get().stage == "none"

    # Admin self-approval is refused too.
    admin = token_client(admin_user)
    mine = open_via_api(admin, django_capture_on_commit_callbacks, stage="staging").json()["id"]
    assert admin.post(f"/api/promotions/{mine}/approve/", {}, format="json").status_code == 403
    withdrawn = admin.post(f"/api/promotions/{mine}/withdraw/")
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"


def test_gates_can_be_configured_by_patch(scientist, reviewer, version, django_capture_on_commit_callbacks):
    ds = token_client(scientist)
    patched = ds.patch(
        "/api/models/credit-default/",
        {"gates": {"thresholds": [{"metric": "f1", "op": ">=", "value": 0.99}], "approvals": {"production": 2}}},
        format="json",
    )
    assert patched.status_code == 200
    gates = patched.json()["gates"]
    assert gates["thresholds"] == [{"metric": "f1", "op": ">=", "value": 0.99}]
    assert gates["approvals"] == {"staging": 1, "production": 2} and gates["champion"]["tolerance"] == 0.01
    bad = ds.patch("/api/models/credit-default/", {"gates": {"fairness": {"max_gap": 3}}}, format="json")
    assert bad.status_code == 400 and "gates.fairness" in bad.json()["errors"]
    assert token_client(reviewer).patch("/api/models/credit-default/", {"gates": {}}, format="json").status_code == 403

    body = open_via_api(ds, django_capture_on_commit_callbacks).json()
    detail = token_client(reviewer).get(f"/api/promotions/{body['id']}/").json()
    assert detail["gates_status"] == "fail" and detail["approvals_required"] == 2
    refused = token_client(reviewer).post(f"/api/promotions/{body['id']}/approve/", {}, format="json")
    assert refused.status_code == 409 and "metric_thresholds" in refused.json()["detail"]
    assert "override reason" in refused.json()["detail"]


def test_rollback_through_the_api(
    scientist,
    reviewer,
    model,  # noqa: F811
    trained_run,  # noqa: F811
    second_run,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    first = services.register_version(model, trained_run, actor=scientist)
    second = services.register_version(model, second_run, actor=scientist)
    ds, rv = token_client(scientist), token_client(reviewer)
    for number in (1, 2):
        pk = open_via_api(ds, django_capture_on_commit_callbacks, version=number).json()["id"]
        assert rv.post(f"/api/promotions/{pk}/approve/", {}, format="json").status_code == 200
    made = ds.post(
        "/api/promotions/rollback/", {"model": "credit-default", "justification": "v2 drifts"}, format="json"
    )
    assert made.status_code == 201 and made.json()["kind"] == "rollback" and made.json()["version"] == 1
    assert rv.post(f"/api/promotions/{made.json()['id']}/approve/", {}, format="json").status_code == 200
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.stage, second.stage) == ("production", "archived")
    assert PromotionRequest.objects.filter(kind="rollback", status="approved").count() == 1


def test_version_detail_carries_gates_and_the_card(scientist, reviewer, version, django_capture_on_commit_callbacks):
    ds = token_client(scientist)
    pk = open_via_api(ds, django_capture_on_commit_callbacks).json()["id"]
    edited = ds.patch(
        "/api/models/credit-default/versions/1/", {"intended_use": "Pre-screening loan applications."}, format="json"
    )
    assert edited.status_code == 200
    body = token_client(reviewer).get("/api/models/credit-default/versions/1/").json()
    assert [p["id"] for p in body["promotions"]] == [pk]
    assert {g["name"] for g in body["promotions"][0]["gates"]} == {
        "artifact_hash",
        "metric_thresholds",
        "signature_compatible",
        "champion_challenger",
        "fairness",
    }
    assert "Pre-screening loan applications." in str(body["card"])
    assert body["lineage"]["inputs"][0]["dataset"] == "credit"
    refused = token_client(reviewer).patch(
        "/api/models/credit-default/versions/1/", {"limitations": "x"}, format="json"
    )
    assert refused.status_code == 403
    empty = ds.patch("/api/models/credit-default/versions/1/", {}, format="json")
    assert empty.status_code == 400


def test_version_description_and_tags_through_api_and_page(scientist, reviewer, version, client):
    ds = token_client(scientist)
    patched = ds.patch(
        "/api/models/credit-default/versions/1/",
        {"description": "baseline", "tags": {"validated": "yes"}, "limitations": "Trained on 2025 applications."},
        format="json",
    )
    assert patched.status_code == 200
    version.refresh_from_db()
    assert (version.description, version.tags) == ("baseline", {"validated": "yes"})
    assert version.card["limitations"] == "Trained on 2025 applications."
    # One bad card section: nothing of the PATCH is kept.
    bad = ds.patch(
        "/api/models/credit-default/versions/1/", {"description": "changed", "limitations": "x" * 10_001}, format="json"
    )
    assert bad.status_code == 400
    version.refresh_from_db()
    assert version.description == "baseline"
    assert (
        token_client(reviewer)
        .patch("/api/models/credit-default/versions/1/", {"description": "x"}, format="json")
        .status_code
        == 403
    )

    client.force_login(scientist)
    response = client.post(
        "/models/credit-default/versions/1/edit/", {"description": "v1 baseline", "tags": "validated=no\nowner"}
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.tags == {"validated": "no", "owner": ""} and version.description == "v1 baseline"
    client.post("/models/credit-default/edit/", {"description": "loan defaults", "tags": "team=risk"})
    version.model.refresh_from_db()
    assert version.model.tags == {"team": "risk"} and version.model.description == "loan defaults"
    client.force_login(reviewer)
    assert client.post("/models/credit-default/edit/", {"description": "hacked"}).status_code == 403
    version.model.refresh_from_db()
    assert version.model.description == "loan defaults"


def test_a_version_can_be_read_by_its_alias(scientist, reviewer, version):
    ds = token_client(scientist)
    assert ds.put("/api/models/credit-default/aliases/champion/", {"version": 1}, format="json").status_code == 200
    body = token_client(reviewer).get("/api/models/credit-default/aliases/Champion/").json()
    assert body["number"] == 1 and body["sha256"] == version.sha256 and body["aliases"] == ["champion"]
    missing = token_client(reviewer).get("/api/models/credit-default/aliases/nope/")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert (
        token_client(reviewer)
        .put("/api/models/credit-default/aliases/champion/", {"version": 1}, format="json")
        .status_code
        == 403
    )
