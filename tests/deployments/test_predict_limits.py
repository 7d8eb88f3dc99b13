"""The documented 10,000-row predict batch gets through Django's body limit; NUL in records and
entity_key is a 400 naming the field, with nothing logged."""

import json

import pytest

from deployments import serving
from deployments.models import Prediction
from tests.builders import token_client

pytestmark = pytest.mark.django_db


def records_of(version, dataset_version, n: int) -> list[dict]:
    from experiments import services as experiment_services

    columns = [c["name"] for c in version.signature["inputs"]]
    frame = experiment_services.load_frame(dataset_version)[columns]
    frame = frame.sample(n=n, replace=True, random_state=1).reset_index(drop=True)
    return json.loads(frame.to_json(orient="records"))


def test_a_ten_thousand_row_batch_over_2_5_mb_is_scored(scientist, deployed, settings):
    _, version, dataset_version = deployed
    body = json.dumps({"records": records_of(version, dataset_version, settings.SERVING_MAX_ROWS)})
    assert len(body) > 2.5 * 1024 * 1024  # Django's default DATA_UPLOAD_MAX_MEMORY_SIZE
    client = token_client(scientist)
    answer = client.post("/api/deployments/production/credit-default/predict", body, content_type="application/json")
    assert answer.status_code == 200, answer.content[:300]
    assert len(answer.json()["predictions"]) == settings.SERVING_MAX_ROWS
    serving.cache.clear()


def test_nul_in_a_record_or_the_entity_key_is_a_400_naming_it(scientist, deployed):
    _, version, dataset_version = deployed
    record = records_of(version, dataset_version, 1)[0]
    name = next(c["name"] for c in version.signature["inputs"] if c["kind"] != "numeric")
    client = token_client(scientist)
    url = "/api/deployments/production/credit-default/predict"
    bad_record = json.dumps({"records": [{**record, name: "a\x00"}]})
    answer = client.post(url, bad_record, content_type="application/json")
    assert answer.status_code == 400 and f"records[0].{name}" in answer.json()["errors"]
    bad_key = json.dumps({"records": [record], "entity_key": "\ud800"})
    answer = client.post(url, bad_key, content_type="application/json")
    assert answer.status_code == 400 and "entity_key" in answer.json()["errors"]
    assert not Prediction.objects.exists()
