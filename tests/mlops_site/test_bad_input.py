"""Bodies and query strings the databases cannot hold are a 400 naming the field, on every JSON endpoint;
Django's own refusals under /api/ take the API's error shape."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from experiments import services as experiment_services
from experiments.models import Experiment, LatestMetric, Metric, Param, Run
from mlops_site.api import exceptions as api_exceptions
from mlops_site.api.parsers import MAX_DEPTH, check_value
from registry.models import RegisteredModel
from tests.builders import token_client

pytestmark = pytest.mark.django_db


def post_raw(client, url: str, text: str):
    return client.post(url, data=text.encode(), content_type="application/json")


@pytest.fixture
def run(scientist):
    experiment = experiment_services.create_experiment(name="credit", actor=scientist)
    return experiment_services.create_run(experiment, actor=scientist, name="baseline")


def test_nul_in_a_json_value_is_a_400_naming_the_field(scientist, run):
    client = token_client(scientist)
    answer = post_raw(client, f"/api/runs/{run.pk}/log-batch/", '{"tags": {"team": "a\\u0000b"}, "params": {"C": 1}}')
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["code"] == "invalid" and "NUL" in body["errors"]["tags.team"][0]
    run.refresh_from_db()
    assert run.tags == {} and not Param.objects.exists()


def test_nul_in_a_key_and_in_predict_like_records_names_the_path(scientist, run):
    client = token_client(scientist)
    answer = post_raw(client, f"/api/runs/{run.pk}/log-batch/", '{"params": {"a\\u0000": 1}}')
    assert answer.status_code == 400 and "Field name" in next(iter(answer.json()["errors"].values()))[0]
    assert check_value({"records": [{"age": 3}, {"age": "\x00"}]}) == {
        "records[1].age": ["NUL characters (\\u0000) are not allowed."]
    }
    assert not Param.objects.exists()


def test_a_lone_surrogate_is_a_400_and_a_real_pair_is_kept(scientist):
    client = token_client(scientist)
    refused = post_raw(client, "/api/models/", '{"name": "m1", "description": "x\\ud800y"}')
    assert refused.status_code == 400 and "surrogate" in refused.json()["errors"]["description"][0]
    assert not RegisteredModel.objects.exists()
    kept = post_raw(client, "/api/models/", '{"name": "m1", "description": "rocket \\ud83d\\ude80"}')
    assert kept.status_code == 201, kept.content
    assert RegisteredModel.objects.get().description == "rocket \U0001f680"


def test_json_nested_ten_thousand_deep_is_a_400(scientist):
    client = token_client(scientist)
    deep = '{"name": "e", "description": ' + "[" * 10_000 + "]" * 10_000 + "}"
    answer = post_raw(client, "/api/experiments/", deep)
    assert answer.status_code == 400 and answer.json()["code"] == "parse_error"
    assert "nested" in answer.json()["detail"]
    just_too_deep = '{"name": "e", "tags": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}"
    assert post_raw(client, "/api/experiments/", just_too_deep).status_code == 400
    assert not Experiment.objects.exists()
    # Brackets inside strings are not nesting.
    fine = post_raw(client, "/api/experiments/", json.dumps({"name": "e", "description": "[" * 500}))
    assert fine.status_code == 201, fine.content


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"metrics": [{"key": "loss", "value": 1e400}]}', "metrics[0].value"),
        ('{"metrics": [{"key": "loss", "value": 1' + "0" * 400 + "}]}", "metrics[0].value"),
        ('{"params": {"C": 1' + "0" * 400 + "}}", "params.C"),
        ('{"metrics": [{"key": "loss", "value": 1, "step": 1e400}]}', "metrics[0].step"),
    ],
)
def test_numbers_too_large_for_the_database_are_a_400_naming_the_field(scientist, run, text, field):
    answer = post_raw(token_client(scientist), f"/api/runs/{run.pk}/log-batch/", text)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"]
    assert not Metric.objects.exists() and not LatestMetric.objects.exists() and not Param.objects.exists()


def test_ids_too_large_for_the_database_are_a_400(scientist):
    client = token_client(scientist)
    answer = post_raw(client, "/api/runs/", '{"experiment": 1' + "0" * 30 + "}")
    assert answer.status_code == 400 and "experiment" in answer.json()["errors"]
    assert not Run.objects.exists()


def test_nul_in_a_query_filter_or_path_is_a_400_naming_it(scientist, client):
    api = token_client(scientist)
    answer = api.get("/api/promotions/?model=%00")
    assert answer.status_code == 400 and "model" in answer.json()["errors"]
    assert api.get("/api/models/a%00b/").status_code == 400
    client.force_login(scientist)
    page = client.get("/models/?q=%00")
    assert page.status_code == 400


def test_unknown_api_paths_answer_the_json_error_shape(scientist, client):
    answer = token_client(scientist).get("/api/no-such-thing/")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "No API endpoint at /api/no-such-thing/.", "code": "not_found", "errors": {}}
    client.force_login(scientist)
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_body_over_the_limit_is_a_json_413_and_the_limits_agree(scientist, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.SERVING_MAX_BODY_MB * 1024 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = post_raw(
        token_client(scientist), "/api/experiments/", json.dumps({"name": "e", "description": "x" * 2000})
    )
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    assert not Experiment.objects.exists()


def test_djangos_own_400_and_500_under_api_are_json():
    factory = RequestFactory()
    from django.core.exceptions import RequestDataTooBig, SuspiciousOperation

    too_big = api_exceptions.api_bad_request(factory.post("/api/x/"), RequestDataTooBig("big"))
    assert too_big.status_code == 413 and json.loads(too_big.content)["code"] == "too_large"
    suspicious = api_exceptions.api_bad_request(factory.get("/api/x/"), SuspiciousOperation("odd"))
    assert suspicious.status_code == 400 and set(json.loads(suspicious.content)) == {"detail", "code", "errors"}
    crashed = api_exceptions.api_server_error(factory.get("/api/x/"))
    assert crashed.status_code == 500 and json.loads(crashed.content)["code"] == "server_error"
    assert api_exceptions.api_server_error(factory.get("/page/"))["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("until", ["1041-03-21T02:41:13-18:34", "0001-01-01T00:00:00+05:00"])
def test_audit_times_postgresql_cannot_take_are_read_in_utc_or_refused(admin_user, until):
    answer = token_client(admin_user).get("/api/audit-events/", {"until": until})
    assert answer.status_code in (200, 400), answer.content
    if answer.status_code == 400:
        assert "until" in answer.json()["errors"]
    else:
        assert answer.json()["results"] == []


def test_a_prediction_since_with_a_far_offset_is_read_in_utc(scientist):
    answer = token_client(scientist).get("/api/predictions/", {"since": "1041-03-21T02:41:13-18:34"})
    assert answer.status_code == 200 and answer.json()["results"] == []


def test_an_id_past_the_bigint_range_is_a_404_not_a_500(scientist, client):
    api = token_client(scientist)
    answer = api.get("/api/monitors/99999999999999999999999/")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert api.get("/api/runs/99999999999999999999999/").status_code == 404
    client.force_login(scientist)
    assert client.get("/jobs/99999999999999999999999/").status_code == 404


@pytest.mark.django_db
def test_options_on_every_api_route_describes_it_and_never_fails(admin_user):
    """OPTIONS (what browsers send before a cross-site call, and what fuzzers try) on every route of the schema."""
    import re

    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    api = token_client(admin_user)
    answers = {}
    for path in paths:
        url = re.sub(r"\{[^}]+\}", "0", path)
        response = api.options(url)
        answers[url] = response.status_code
        assert response.status_code in (200, 404), (url, response.status_code, response.content[:200])
        assert response.json()  # a description or the JSON error shape, never an HTML page
    assert answers["/api/ground-truth/"] == 200  # a verb-only ViewSet (no serializer_class) describes itself
    assert len(answers) > 50


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["-", "--name", "x" * 5000, "pk__gt", "-created_at; DROP TABLE x", "é"])
def test_any_sort_value_on_any_list_is_the_default_order_not_an_error(admin_user, client, value):
    """The shared SortFilter: an unknown key (a stale bookmark, a fuzzer) falls back to the list's default."""
    api = token_client(admin_user)
    client.force_login(admin_user)
    for url in (
        "/api/jobs/",
        "/api/audit-events/",
        "/api/experiments/",
        "/api/datasets/",
        "/api/models/",
        "/api/promotions/",
        "/api/deployments/",
        "/api/predictions/",
        "/api/alerts/",
        "/api/alert-rules/",
        "/api/drift-reports/",
        "/api/webhooks/",
    ):
        assert api.get(url, {"sort": value}).status_code == 200, url
    for url in ("/jobs/", "/experiments/", "/datasets/", "/models/", "/approvals/", "/deployments/", "/webhooks/"):
        assert client.get(url, {"sort": value}).status_code == 200, url
