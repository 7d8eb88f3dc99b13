"""Deployments: an approved promotion deploys itself, predict answers and logs, canary/shadow/rollback."""

import json
import uuid

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import logbook, services, serving
from deployments.models import Deployment, Environment, Prediction, RequestStat
from experiments import services as experiment_services
from mlops_site.models import AuditEvent
from registry import services as registry_services
from registry.models import ModelVersion
from tests.builders import make_user, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    serving.cache.clear()
    serving.deployments.clear()
    yield
    serving.cache.clear()
    serving.deployments.clear()


@pytest.fixture
def versions(scientist, credit, django_capture_on_commit_callbacks):
    experiment, dataset_version = credit
    runs = []
    for algorithm in ("logistic_regression", "random_forest"):
        with django_capture_on_commit_callbacks(execute=True):
            run = experiment_services.start_training(
                experiment, dataset_version, actor=scientist, target="defaulted", algorithm=algorithm, seed=1
            )
        run.refresh_from_db()
        runs.append(run)
    model = registry_services.create_model(name="credit-default", actor=scientist)
    return [registry_services.register_version(model, run, actor=scientist) for run in runs]


def approve(version, stage, scientist, reviewer, capture):
    with capture(execute=True):
        promotion = registry_services.request_promotion(version, stage, justification="go", actor=scientist)
    promotion.refresh_from_db()
    with capture(execute=True):
        registry_services.approve(promotion, actor=reviewer)


@pytest.fixture
def production(versions, scientist, reviewer, django_capture_on_commit_callbacks):
    approve(versions[0], "production", scientist, reviewer, django_capture_on_commit_callbacks)
    return Deployment.objects.get(environment__name="production")


def rows(credit_fixture, n):
    """n rows of the training data as a caller would send them (JSON, nulls for missing)."""
    _, dataset_version = credit_fixture
    columns = [c["name"] for c in ModelVersion.objects.order_by("pk").first().signature["inputs"]]
    frame = experiment_services.load_frame(dataset_version)[columns].head(n)
    return json.loads(frame.to_json(orient="records"))


def test_an_approved_promotion_deploys_itself(production, versions):
    assert production.primary == versions[0] and production.revision == 1
    revision = production.revisions.get()
    assert revision.kind == "promotion" and revision.actor is None
    assert not Deployment.objects.filter(environment__name="staging").exists()
    assert set(Environment.objects.values_list("name", flat=True)) == {"staging", "production"}
    assert AuditEvent.objects.filter(action="deployment.changed").count() == 1


def test_predict_answers_each_row_with_version_and_id_and_logs_it(production, scientist, credit):
    client = token_client(scientist)
    batch = rows(credit, 25)
    response = client.post("/api/deployments/production/credit-default/predict", {"records": batch}, format="json")
    assert response.status_code == 200, response.json()
    answers = response.json()["predictions"]
    assert len(answers) == 25 and {a["version"] for a in answers} == {1}

    # Same answers as the registered pipeline scoring the same rows directly.
    pipeline = experiment_services.load_pipeline(production.primary.artifact)
    _, dataset_version = credit
    frame = experiment_services.load_frame(dataset_version).drop(columns=["defaulted"]).head(25)
    columns = [c["name"] for c in production.primary.signature["inputs"]]
    assert [a["prediction"] for a in answers] == pipeline.predict(frame[columns]).tolist()
    expected = pipeline.predict_proba(frame[columns])[:, 1]
    assert np.allclose([a["probabilities"]["1"] for a in answers], expected, atol=1e-6)

    logged = Prediction.objects.filter(deployment=production)
    assert logged.count() == 25
    first = logged.get(id=answers[0]["prediction_id"])
    assert first.inputs == batch[0] and first.prediction == answers[0]["prediction"] and first.role == "primary"
    assert RequestStat.objects.get().rows == 25

    labels = [{"prediction_id": a["prediction_id"], "label": 1} for a in answers[:10]]
    attached = client.post("/api/ground-truth/", labels, format="json")
    assert attached.status_code == 200 and attached.json() == {"updated": 10}
    assert logged.filter(ground_truth=1).count() == 10
    unknown = client.post(
        "/api/ground-truth/", [{"prediction_id": "00000000-0000-0000-0000-000000000000", "label": 1}], format="json"
    )
    assert unknown.status_code == 400 and "Unknown prediction" in str(unknown.json())
    listed = client.get("/api/predictions/?deployment=production/credit-default").json()
    assert listed["count"] == 25


def test_bad_requests_are_400s_naming_row_and_field_and_log_nothing(production, scientist, credit):
    client = token_client(scientist)
    url = "/api/deployments/production/credit-default/predict"
    good = rows(credit, 2)
    missing = [dict(good[0]), dict(good[1])]
    del missing[1]["age"]
    cases = {
        "missing column": {"records": missing},
        "extra column": {"records": [{**good[0], "shoe_size": 42}]},
        "wrong type": {"records": [{**good[0], "age": "forty"}]},
        "empty batch": {"records": []},
        "no records": {"rows": good},
    }
    for name, body in cases.items():
        response = client.post(url, body, format="json")
        assert response.status_code == 400, (name, response.json())
    assert "age" in str(client.post(url, cases["missing column"], format="json").json())
    assert "row 1" in str(client.post(url, cases["missing column"], format="json").json())
    malformed = client.post(url, "{not json", content_type="application/json")
    assert malformed.status_code == 400
    assert (
        client.post("/api/deployments/nowhere/credit-default/predict", {"records": good}, format="json").status_code
        == 404
    )
    assert client.post("/api/deployments/production/nope/predict", {"records": good}, format="json").status_code == 404
    assert token_client(make_user("nobody-here")).post(url, {"records": good}, format="json").status_code == 403
    assert not Prediction.objects.exists()


def test_batch_limit(production, scientist, credit, settings):
    settings.SERVING_MAX_ROWS = 3
    response = token_client(scientist).post(
        "/api/deployments/production/credit-default/predict", {"records": rows(credit, 4)}, format="json"
    )
    assert response.status_code == 400 and "3" in response.json()["detail"] + str(response.json()["errors"])


def test_canary_routing_is_sticky_shadow_is_logged_not_returned_and_rollback_restores(
    production,
    versions,
    admin_user,
    scientist,
    credit,
):
    services.set_traffic(
        production,
        actor=admin_user,
        canary=versions[1],
        canary_percent=50,
        shadow="keep",
        override=True,
        reason="canary before review",
    )
    client = token_client(scientist)
    url = "/api/deployments/production/credit-default/predict"
    body = rows(credit, 1)
    seen = {}
    for key in [f"customer-{i}" for i in range(40)]:
        answers = [
            client.post(url, {"records": body, "entity_key": key}, format="json").json()["predictions"][0]["version"]
            for _ in range(2)
        ]
        assert answers[0] == answers[1]  # the same customer always gets the same version
        seen[key] = answers[0]
    assert set(seen.values()) == {1, 2}

    production.refresh_from_db()
    services.set_traffic(production, actor=admin_user, canary=None, shadow=versions[1])
    Prediction.objects.all().delete()
    answer = client.post(url, {"records": body}, format="json").json()["predictions"]
    assert [a["version"] for a in answer] == [1]
    assert sorted(Prediction.objects.values_list("role", "version__number")) == [("primary", 1), ("shadow", 2)]

    production.refresh_from_db()
    services.rollback(production, actor=admin_user, reason="shadow was a mistake", override=True)
    production.refresh_from_db()  # back to revision 2: the 50 % canary, no shadow
    state = (production.primary, production.canary, production.canary_percent, production.shadow)
    assert state == (versions[0], versions[1], 50, None)
    services.rollback(production, actor=admin_user, reason="and the canary too")
    production.refresh_from_db()  # undo again: revision 1
    state = (production.primary, production.canary, production.canary_percent, production.shadow)
    assert state == (versions[0], None, 0, None)
    assert [(r.kind, r.restores) for r in production.revisions.all()[:2]] == [("rollback", 1), ("rollback", 2)]
    with pytest.raises(Exception, match="no earlier revision"):
        services.rollback(production, actor=admin_user)


def test_a_tampered_model_file_is_refused_and_the_previous_version_keeps_serving(
    production,
    versions,
    admin_user,
    scientist,
    credit,
):
    with default_storage.open(versions[1].artifact.file, "wb") as handle:
        handle.write(b"tampered")
    with pytest.raises(Exception, match="refused"):
        services.deploy(
            production.environment, versions[1], actor=admin_user, override=True, reason="canary before review"
        )
    production.refresh_from_db()
    assert production.primary == versions[0]
    assert AuditEvent.objects.filter(action="deployment.version_refused").count() == 1
    ok = token_client(scientist).post(
        "/api/deployments/production/credit-default/predict", {"records": rows(credit, 1)}, format="json"
    )
    assert ok.status_code == 200


def test_a_canary_that_fails_to_load_falls_back_to_the_primary(production, versions, admin_user, scientist, credit):
    services.set_traffic(
        production,
        actor=admin_user,
        canary=versions[1],
        canary_percent=100,
        override=True,
        reason="canary before review",
    )
    with default_storage.open(versions[1].artifact.file, "wb") as handle:
        handle.write(b"broken after deploy")
    answer = token_client(scientist).post(
        "/api/deployments/production/credit-default/predict", {"records": rows(credit, 1)}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["predictions"][0]["version"] == 1


def test_only_admins_change_traffic(production, versions, scientist, admin_user):
    client = token_client(scientist)
    assert (
        client.patch(
            "/api/deployments/production/credit-default/", {"canary_version": 2, "canary_percent": 10}, format="json"
        ).status_code
        == 403
    )
    admin = token_client(admin_user)
    response = admin.patch(
        "/api/deployments/production/credit-default/",
        {"canary_version": 2, "canary_percent": 10, "override": True, "reason": "canary before review"},
        format="json",
    )
    assert (
        response.status_code == 200
        and response.json()["canary_version"] == 2
        and response.json()["canary_percent"] == 10
    )
    assert (
        admin.patch("/api/deployments/production/credit-default/", {"canary_percent": 101}, format="json").status_code
        == 400
    )
    assert (
        admin.patch("/api/deployments/production/credit-default/", {"canary_version": 9}, format="json").status_code
        == 400
    )
    promoted = admin.post("/api/deployments/production/credit-default/promote-canary/", {}, format="json")
    assert (
        promoted.status_code == 200
        and promoted.json()["primary_version"] == 2
        and promoted.json()["canary_version"] is None
    )
    back = admin.post("/api/deployments/production/credit-default/rollback/", {"reason": "v2 too slow"}, format="json")
    assert back.status_code == 200 and back.json()["primary_version"] == 1 and back.json()["canary_version"] == 2
    detail = admin.get("/api/deployments/production/credit-default/").json()
    assert [r["kind"] for r in detail["revisions"]] == ["rollback", "promote_canary", "canary", "promotion"]
    assert ModelVersion.objects.get(number=1).stage == "production"


def test_the_guardrail_takes_an_unhealthy_canary_out_of_traffic(production, versions, admin_user, mailoutbox, settings):
    from datetime import timedelta

    from deployments import guardrail

    settings.ADMINS = [("Ops", "ops@example.com")]
    services.set_guardrail(production, {"max_p95_ms": 100, "min_requests": 10, "baking_minutes": 30}, actor=admin_user)
    production.refresh_from_db()
    services.set_traffic(
        production,
        actor=admin_user,
        canary=versions[1],
        canary_percent=20,
        override=True,
        reason="canary before review",
    )
    production.refresh_from_db()
    start = production.canary_since
    for i in range(9):  # slow, but fewer than min_requests: no verdict yet
        RequestStat.objects.create(
            deployment=production,
            version=versions[1],
            role="canary",
            rows=1,
            status_code=200,
            latency_ms=500,
            created_at=start + timedelta(seconds=i),
        )
    verdict = services.check_guardrail(production, now=start + timedelta(minutes=1))
    assert not verdict.tripped and verdict.requests == 9
    RequestStat.objects.create(
        deployment=production,
        version=versions[1],
        role="canary",
        rows=1,
        status_code=200,
        latency_ms=500,
        created_at=start + timedelta(seconds=10),
    )
    # The primary's requests do not count against the canary.
    RequestStat.objects.create(
        deployment=production, version=versions[0], role="primary", rows=1, status_code=500, latency_ms=1
    )
    verdict = services.check_guardrail(production, now=start + timedelta(minutes=1))
    assert verdict.tripped and "p95 latency 500 ms > 100 ms" in verdict.reason
    production.refresh_from_db()
    assert production.canary is None and production.canary_percent == 0
    revision = production.revisions.first()
    assert revision.kind == "guardrail" and revision.actor is None
    assert AuditEvent.objects.filter(action="deployment.guardrail_tripped").count() == 1
    assert len(mailoutbox) == 1 and "taken out" in mailoutbox[0].subject
    assert services.check_guardrail(production) is None  # nothing left to judge
    with pytest.raises(Exception, match="max_error_rate"):
        services.set_guardrail(production, {"max_error_rate": 2}, actor=admin_user)
    assert guardrail.normalise({})["min_requests"] == guardrail.DEFAULTS["min_requests"]


def test_rollback_never_brings_back_a_version_that_was_rolled_back(production, versions, admin_user):
    services.deploy(
        production.environment, versions[1], actor=admin_user, override=True, reason="canary before review"
    )  # r2: v2
    services.rollback(production, actor=admin_user)  # r3: back to r1, v1
    production.refresh_from_db()
    services.set_traffic(
        production,
        actor=admin_user,
        canary=versions[1],
        canary_percent=20,
        override=True,
        reason="canary before review",
    )  # r4
    production.refresh_from_db()
    services.rollback(production, actor=admin_user)  # r5: back to r3, v1 without canary
    production.refresh_from_db()
    assert (production.primary, production.canary) == (versions[0], None)
    with pytest.raises(Exception, match="no earlier revision"):
        services.rollback(production, actor=admin_user)  # r3 restored r1: nothing before it
    production.refresh_from_db()
    assert production.primary == versions[0] and production.revision == 5


def test_same_canary_keeps_its_baking_window_and_bad_inputs_are_400s(production, versions, admin_user):
    services.set_traffic(
        production,
        actor=admin_user,
        canary=versions[1],
        canary_percent=10,
        override=True,
        reason="canary before review",
    )
    production.refresh_from_db()
    started = production.canary_since
    services.set_traffic(
        production,
        actor=admin_user,
        canary=versions[1],
        canary_percent=30,
        override=True,
        reason="canary before review",
    )
    production.refresh_from_db()
    assert production.canary_since == started and production.canary_percent == 30
    admin = token_client(admin_user)
    huge = int("1" + "0" * 400)
    response = admin.patch(
        "/api/deployments/production/credit-default/", {"guardrail": {"max_p95_ms": huge}}, format="json"
    )
    assert response.status_code == 400 and "guardrail.max_p95_ms" in response.json()["errors"]
    since = admin.get("/api/predictions/?since=2026-13-45T10:00:00")
    assert since.status_code == 400 and "since" in since.json()["errors"]


def test_a_refused_file_through_the_api_is_audited_and_changes_nothing(production, versions, admin_user):
    with default_storage.open(versions[1].artifact.file, "wb") as handle:
        handle.write(b"tampered")
    response = token_client(admin_user).patch(
        "/api/deployments/production/credit-default/",
        {"canary_version": 2, "canary_percent": 10, "override": True, "reason": "canary before review"},
        format="json",
    )
    assert response.status_code == 400 and "refused" in str(response.json())
    assert AuditEvent.objects.filter(action="deployment.version_refused").count() == 1
    production.refresh_from_db()
    assert production.canary is None and production.revision == 1


def test_every_change_is_seen_by_the_next_request_even_behind_the_deployment_cache(
    production,
    versions,
    admin_user,
    scientist,
    credit,
):
    client = token_client(scientist)
    url = "/api/deployments/production/credit-default/predict"
    body = {"records": rows(credit, 1)}

    def served() -> int:
        return client.post(url, body, format="json").json()["predictions"][0]["version"]

    assert served() == 1 and served() == 1  # the second answer comes from the cached deployment
    services.deploy(production.environment, versions[1], actor=admin_user, override=True, reason="canary before review")
    assert served() == 2
    production.refresh_from_db()
    services.rollback(production, actor=admin_user)  # the same routing as before: the first cached object again
    assert served() == 1
    Deployment.objects.filter(pk=production.pk).update(primary=versions[1])  # even a change behind services' back
    assert served() == 2


@pytest.mark.parametrize("count", [3, 150], ids=["one-statement", "copy"])
def test_every_row_of_a_batch_is_logged_with_its_inputs_and_answer(production, scientist, credit, count):
    batch = rows(credit, count)
    response = token_client(scientist).post(
        "/api/deployments/production/credit-default/predict", {"records": batch, "entity_key": "k1"}, format="json"
    )
    assert response.status_code == 200
    answers = {a["prediction_id"]: a for a in response.json()["predictions"]}
    logged = {str(p.id): p for p in Prediction.objects.all()}
    assert logged.keys() == answers.keys()
    for position, (key, answer) in enumerate(answers.items()):
        assert logged[key].inputs == batch[position]
        assert logged[key].prediction == answer["prediction"]
        assert logged[key].probabilities == answer["probabilities"]
        assert logged[key].entity_key == "k1" and logged[key].version.number == 1
    stat = RequestStat.objects.get()
    assert (stat.rows, stat.status_code, stat.deployment_id) == (count, 200, production.pk)


@pytest.mark.parametrize("count", [2, 150], ids=["one-statement", "copy"])
def test_the_log_writes_the_rows_and_the_stat_together_or_neither(production, versions, count):
    now = timezone.now()
    row = (None, production.pk, versions[0].pk, "primary", "r", "", {"a": 1}, 1, {"0": 0.5, "1": 0.5}, 1.0, now, None)
    predictions = [(uuid.uuid4(), *row[1:]) for _ in range(count)]
    stat = {"deployment_id": production.pk, "version_id": versions[0].pk, "role": "primary", "rows": count}
    stat |= {"status_code": -1, "latency_ms": 1.0, "created_at": now}  # refused by the column's check
    with pytest.raises(IntegrityError), transaction.atomic():
        logbook.write(predictions, stat)
    assert Prediction.objects.count() == 0 and RequestStat.objects.count() == 0
    logbook.write(predictions, stat | {"status_code": 200})
    assert Prediction.objects.count() == count and RequestStat.objects.count() == 1


def test_a_body_over_the_size_limit_is_a_413_and_is_not_parsed(scientist, settings):
    settings.SERVING_MAX_BODY_MB = 1
    body = {"records": [{"note": "x" * 1000} for _ in range(1200)]}  # about 1.2 MB of JSON
    response = token_client(scientist).post("/api/deployments/production/credit-default/predict", body, format="json")
    assert response.status_code == 413
    assert "at most 1 MB" in response.json()["detail"] and response.json()["code"] == "too_large"
    assert Prediction.objects.count() == 0 and RequestStat.objects.count() == 0
