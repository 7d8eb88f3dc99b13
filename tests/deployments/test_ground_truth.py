"""Ground truth is checked against the version that answered, stored whole or not at all, audited per batch."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are redefined as arguments)

import json
import uuid

import pytest

from deployments import services, serving
from deployments.models import Deployment, Environment, Prediction
from experiments import services as experiment_services
from mlops_site.models import AuditEvent
from registry import services as registry_services
from tests.builders import token_client
from tests.deployments.test_serving import production, rows, versions  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/ground-truth/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    serving.cache.clear()
    serving.deployments.clear()
    yield
    serving.cache.clear()
    serving.deployments.clear()


def served(deployment, credit_fixture, n: int) -> list[str]:
    answer = serving.predict(deployment, {"records": rows(credit_fixture, n)})
    return [row["prediction_id"] for row in answer.predictions]


def test_one_spelling_per_class_is_stored_and_one_audit_event_per_batch(production, scientist, credit):
    assert production.primary.signature["output"]["classes"] == [0, 1]
    ids = served(production, credit, 4)
    items = [{"prediction_id": i, "label": label} for i, label in zip(ids, [1, 1.0, "1", " 0 "], strict=True)]
    response = token_client(scientist).post(URL, items, format="json")
    assert response.status_code == 200 and response.json() == {"updated": 4}
    stored = dict(Prediction.objects.values_list("id", "ground_truth"))
    assert [stored[uuid.UUID(i)] for i in ids] == [1, 1, 1, 0]
    assert all(type(stored[uuid.UUID(i)]) is int for i in ids)
    event = AuditEvent.objects.get(action="ground_truth.recorded")
    assert event.after == {"labels": 4, "deployments": ["credit-default in production"]}
    assert event.actor == scientist and event.target_id == str(production.pk)


@pytest.mark.parametrize(
    "label",
    ["yes", 7, None, True, [1], {"class": 1}, 1.5, "1e400"],
    ids=["word", "other-number", "null", "boolean", "array", "object", "fraction", "huge-string"],
)
def test_a_label_that_is_not_a_class_is_a_400_naming_its_index_and_nothing_is_stored(
    production,
    scientist,
    credit,
    label,
):
    ids = served(production, credit, 3)
    items = [{"prediction_id": ids[0], "label": 1}, {"prediction_id": ids[1], "label": 0}]
    items.append({"prediction_id": ids[2], "label": label})
    response = token_client(scientist).post(URL, items, format="json")
    assert response.status_code == 400, response.json()
    assert list(response.json()["errors"]) == ["items[2].label"]
    assert not Prediction.objects.filter(ground_truth__isnull=False).exists()
    assert not AuditEvent.objects.filter(action="ground_truth.recorded").exists()


def test_non_finite_and_huge_numbers_are_refused(production, scientist, credit):
    ids = served(production, credit, 2)
    for literal in ("1e400", "1" + "0" * 400, "-1e999"):
        body = f'[{{"prediction_id": "{ids[0]}", "label": 1}}, {{"prediction_id": "{ids[1]}", "label": {literal}}}]'
        response = token_client(scientist).post(URL, body, content_type="application/json")
        assert response.status_code == 400, (literal, response.content)
        # The API's parser refuses such numbers before the service sees them; both name the item.
        assert set(response.json()["errors"]) & {"items[1].label", "[1].label"}, response.json()
    assert not Prediction.objects.filter(ground_truth__isnull=False).exists()


def test_bad_ids_and_duplicates_name_their_index(production, scientist, credit):
    ids = served(production, credit, 2)
    client = token_client(scientist)
    cases = {
        "not a uuid": ([{"prediction_id": "nope", "label": 1}], "items[0].prediction_id"),
        "unknown": (
            [{"prediction_id": ids[0], "label": 1}, {"prediction_id": str(uuid.uuid4()), "label": 1}],
            "items[1].prediction_id",
        ),
        "twice": (
            [{"prediction_id": ids[0], "label": 1}, {"prediction_id": ids[0], "label": 0}],
            "items[1].prediction_id",
        ),
        "no label": ([{"prediction_id": ids[0]}], "items[0].label"),
        "extra field": ([{"prediction_id": ids[0], "label": 1, "weight": 2}], "items[0]"),
    }
    for name, (body, where) in cases.items():
        response = client.post(URL, body, format="json")
        assert response.status_code == 400, name
        assert where in response.json()["errors"], (name, response.json())
    assert client.post(URL, [], format="json").status_code == 400
    assert not Prediction.objects.filter(ground_truth__isnull=False).exists()


def test_a_regressor_takes_finite_numbers_only(scientist, admin_user, credit, django_capture_on_commit_callbacks):
    experiment, dataset_version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, dataset_version, actor=scientist, target="loan_amount", algorithm="ridge", seed=1
        )
    run.refresh_from_db()
    model = registry_services.create_model(name="loan-size", actor=scientist)
    version = registry_services.register_version(model, run, actor=scientist)
    assert version.signature["output"]["task"] == "regression"
    services.deploy(
        Environment.objects.get(name="production"),
        version,
        actor=admin_user,
        override=True,
        reason="tests serve an unreviewed version",
    )
    deployment = Deployment.objects.get(model=model)
    names = [c["name"] for c in version.signature["inputs"]]
    frame = experiment_services.load_frame(dataset_version)[names].head(2)
    answer = serving.predict(deployment, {"records": json.loads(frame.to_json(orient="records"))})
    ids = [row["prediction_id"] for row in answer.predictions]
    client = token_client(scientist)
    for label in ("12000", True, None):
        response = client.post(URL, [{"prediction_id": ids[0], "label": label}], format="json")
        assert response.status_code == 400 and "items[0].label" in response.json()["errors"], label
    ok = client.post(
        URL, [{"prediction_id": ids[0], "label": 12_000}, {"prediction_id": ids[1], "label": 9.5e3}], format="json"
    )
    assert ok.status_code == 200
    assert sorted(Prediction.objects.values_list("ground_truth", flat=True)) == [9500.0, 12000.0]


def test_ground_truth_is_written_by_the_service_for_every_caller(production, scientist, credit):
    ids = served(production, credit, 1)
    assert services.record_ground_truth([{"prediction_id": ids[0], "label": "1.0"}], actor=scientist) == 1
    assert Prediction.objects.get(pk=ids[0]).ground_truth == 1
