"""The MLflow tracking surface through Django's test client, with the JSON the mlflow client sends.

The real client is exercised by the contract tests (test_client_*.py); these pin the translation, the error
shapes and the refusals quickly, on every database.
"""

from __future__ import annotations

import base64
import json
import math

import pytest
from django.test import Client

from experiments import services as experiments
from experiments.models import Experiment, LatestMetric, Metric, Param, Run
from mlflow_compat.models import RunInput
from mlflow_compat.views import tracking as tracking_views
from mlops_site import services
from mlops_site.models import ApiToken
from tests.builders import PASSWORD

API = "/api/2.0/mlflow"
pytestmark = pytest.mark.django_db


def bearer(user, scope=ApiToken.Scope.FULL) -> Client:
    _, key = services.create_api_token(user, name="mlflow", scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def call(client: Client, method: str, path: str, body=None, **query):
    if method == "GET":
        response = client.get(f"{API}/{path}", query)
    else:
        response = client.generic(method, f"{API}/{path}", json.dumps(body or {}), content_type="application/json")
    return response.status_code, response.json()


@pytest.fixture
def mlflow(scientist):
    return bearer(scientist)


def new_run(client, experiment_name="exp", **body):
    _, created = call(client, "POST", "experiments/create", {"name": experiment_name})
    status, answer = call(client, "POST", "runs/create", {"experiment_id": created["experiment_id"], **body})
    assert status == 200, answer
    return answer["run"]


def test_without_credentials_the_answer_is_mlflows_401(db):
    status, body = call(Client(), "GET", "experiments/get-by-name", experiment_name="x")
    assert status == 401
    assert body["error_code"] == "UNAUTHENTICATED"


def test_basic_auth_with_username_and_password(scientist):
    good = base64.b64encode(f"{scientist.username}:{PASSWORD}".encode()).decode()
    status, body = call(Client(HTTP_AUTHORIZATION=f"Basic {good}"), "POST", "experiments/create", {"name": "basic"})
    assert status == 200 and Experiment.objects.get(pk=body["experiment_id"]).owner == scientist
    again = call(Client(HTTP_AUTHORIZATION=f"Basic {good}"), "GET", "experiments/get-by-name", experiment_name="basic")
    assert again[0] == 200  # the remembered check
    wrong = base64.b64encode(f"{scientist.username}:nope".encode()).decode()
    status, body = call(
        Client(HTTP_AUTHORIZATION=f"Basic {wrong}"), "GET", "experiments/get-by-name", experiment_name="x"
    )
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")


def test_a_reviewer_can_read_but_not_log(mlflow, reviewer):
    run = new_run(mlflow)
    as_reviewer = bearer(reviewer)
    assert call(as_reviewer, "GET", "runs/get", run_id=run["info"]["run_id"])[0] == 200
    status, body = call(as_reviewer, "POST", "runs/create", {"experiment_id": run["info"]["experiment_id"]})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    status, body = call(
        as_reviewer,
        "POST",
        "runs/log-metric",
        {"run_id": run["info"]["run_id"], "key": "m", "value": 1, "timestamp": 1, "step": 0},
    )
    assert status == 403
    assert Run.objects.count() == 1 and not Metric.objects.exists()


def test_a_service_token_is_refused(admin_user):
    status, body = call(
        bearer(admin_user, ApiToken.Scope.PREDICT), "GET", "experiments/get-by-name", experiment_name="x"
    )
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")


def test_experiments_exist_once_and_missing_ones_are_404(mlflow):
    status, body = call(mlflow, "POST", "experiments/create", {"name": "churn"})
    assert status == 200
    experiment_id = body["experiment_id"]
    status, body = call(mlflow, "POST", "experiments/create", {"name": "Churn"})
    assert (status, body["error_code"]) == (400, "RESOURCE_ALREADY_EXISTS")
    assert Experiment.objects.count() == 1
    status, body = call(mlflow, "GET", "experiments/get-by-name", experiment_name="nope")
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    for missing in ("987654", "abc", "9" * 40):
        assert (
            call(mlflow, "GET", "experiments/get", experiment_id=missing)[1]["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        )
    status, body = call(mlflow, "GET", "experiments/get", experiment_id=experiment_id)
    assert body["experiment"]["name"] == "churn" and body["experiment"]["lifecycle_stage"] == "active"
    status, body = call(mlflow, "POST", "experiments/search", {"filter": "name LIKE 'ch%'", "max_results": 10})
    assert [e["name"] for e in body["experiments"]] == ["churn"]


def test_a_run_logs_and_reads_back_in_mlflows_shape(mlflow, scientist):
    parent = new_run(mlflow, run_name="parent", start_time=1_700_000_000_000, tags=[{"key": "team", "value": "v"}])
    run_id = parent["info"]["run_id"]
    child = call(
        mlflow,
        "POST",
        "runs/create",
        {
            "experiment_id": parent["info"]["experiment_id"],
            "tags": [{"key": "mlflow.parentRunId", "value": run_id}, {"key": "mlflow.runName", "value": "kid"}],
        },
    )[1]["run"]
    assert Run.objects.get(pk=child["info"]["run_id"]).parent_id == int(run_id)
    assert child["info"]["run_name"] == "kid"
    status, _ = call(
        mlflow,
        "POST",
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "alpha", "value": "0.5"}],
            "metrics": [
                {"key": "loss", "value": v, "timestamp": 1_700_000_000_000 + i, "step": i}
                for i, v in enumerate([3, 2, 1])
            ],
            "tags": [{"key": "a.b", "value": "c"}],
        },
    )
    assert status == 200
    status, body = call(mlflow, "GET", "runs/get", run_id=run_id)
    info, data = body["run"]["info"], body["run"]["data"]
    assert (
        info["start_time"] == 1_700_000_000_000
        and info["status"] == "RUNNING"
        and info["user_id"] == scientist.username
    )
    assert info["artifact_uri"] == f"mlflow-artifacts:/{info['experiment_id']}/{run_id}/artifacts"
    assert data["params"] == [{"key": "alpha", "value": "0.5"}]
    assert data["metrics"] == [{"key": "loss", "value": 1.0, "timestamp": 1_700_000_000_002, "step": 2}]
    tags = {t["key"]: t["value"] for t in data["tags"]}
    assert tags["team"] == "v" and tags["a.b"] == "c" and tags["mlflow.runName"] == "parent"
    # The site's own API reads the same run.
    native = mlflow.get(f"/api/runs/{run_id}/").json()
    assert native["name"] == "parent" and native["source"] == "logged"


def test_a_changed_param_refuses_the_whole_batch(mlflow):
    run_id = new_run(mlflow)["info"]["run_id"]
    call(mlflow, "POST", "runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "1"})
    status, body = call(
        mlflow,
        "POST",
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "alpha", "value": "2"}],
            "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 0}],
        },
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    assert "alpha" in body["message"]
    assert list(Param.objects.values_list("value", flat=True)) == ["1"] and not Metric.objects.exists()


def test_end_resume_and_log_after_the_end(mlflow):
    run_id = new_run(mlflow)["info"]["run_id"]
    status, body = call(
        mlflow, "POST", "runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1_800_000_000_000}
    )
    assert body["run_info"]["status"] == "FINISHED" and body["run_info"]["end_time"] == 1_800_000_000_000
    # MLflow lets a script log to a run it has ended, and resume it.
    assert (
        call(
            mlflow, "POST", "runs/log-metric", {"run_id": run_id, "key": "late", "value": 2, "timestamp": 5, "step": 0}
        )[0]
        == 200
    )
    assert (
        call(mlflow, "POST", "runs/update", {"run_id": run_id, "status": "RUNNING"})[1]["run_info"]["status"]
        == "RUNNING"
    )
    run = Run.objects.get(pk=run_id)
    assert run.status == "running" and run.ended_at is None
    assert (
        call(mlflow, "POST", "runs/update", {"run_id": run_id, "status": "KILLED"})[1]["run_info"]["status"] == "KILLED"
    )
    status, body = call(mlflow, "POST", "runs/update", {"run_id": run_id, "status": "PAUSED"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_a_run_the_site_trained_keeps_its_record(mlflow, scientist):
    experiment = experiments.create_experiment(name="site", actor=scientist)
    run = experiments.create_run(experiment, actor=scientist, source=Run.Source.TRAINED)
    experiments.finish_run(run, actor=scientist)
    status, body = call(mlflow, "POST", "runs/update", {"run_id": str(run.pk), "status": "RUNNING"})
    assert status == 400 and "logged from outside" in body["message"]
    status, body = call(
        mlflow, "POST", "runs/log-metric", {"run_id": str(run.pk), "key": "x", "value": 1, "timestamp": 1, "step": 0}
    )
    assert status == 400 and not Metric.objects.filter(run=run).exists()
    assert Run.objects.get(pk=run.pk).status == "finished"


def test_metric_history_has_every_point_with_its_timestamp_paged(mlflow):
    run_id = new_run(mlflow)["info"]["run_id"]
    points = [{"key": "loss", "value": 100 - i, "timestamp": 1_000 + i, "step": i} for i in range(25)]
    call(mlflow, "POST", "runs/log-batch", {"run_id": run_id, "metrics": points})
    seen, token = [], None
    while True:
        query = {"run_id": run_id, "metric_key": "loss", "max_results": 10}
        if token:
            query["page_token"] = token
        status, body = call(mlflow, "GET", "metrics/get-history", **query)
        assert status == 200
        seen += body["metrics"]
        token = body.get("next_page_token")
        if not token:
            break
    assert [(p["step"], p["value"], p["timestamp"]) for p in seen] == [(i, 100.0 - i, 1_000 + i) for i in range(25)]


def test_search_runs_with_mlflows_grammar_and_paging(mlflow):
    first = new_run(mlflow, run_name="a")
    experiment_id = first["info"]["experiment_id"]
    ids = [first["info"]["run_id"]]
    for name in ("b", "c"):
        ids.append(
            call(mlflow, "POST", "runs/create", {"experiment_id": experiment_id, "run_name": name})[1]["run"]["info"][
                "run_id"
            ]
        )
    for run_id, loss in zip(ids, (0.3, 0.2, 0.9), strict=True):
        call(
            mlflow,
            "POST",
            "runs/log-batch",
            {
                "run_id": run_id,
                "metrics": [{"key": "loss", "value": loss, "timestamp": 1, "step": 0}],
                "params": [{"key": "k", "value": "v"}],
            },
        )
    status, body = call(
        mlflow,
        "POST",
        "runs/search",
        {
            "experiment_ids": [experiment_id],
            "filter": "metrics.loss < 0.5 and params.k = 'v'",
            "order_by": ["metrics.loss ASC"],
        },
    )
    assert [r["info"]["run_name"] for r in body["runs"]] == ["b", "a"]
    names, token = [], None
    while True:
        request = {"experiment_ids": [experiment_id], "max_results": 2, "order_by": ["attributes.run_name DESC"]}
        if token:
            request["page_token"] = token
        body = call(mlflow, "POST", "runs/search", request)[1]
        names += [r["info"]["run_name"] for r in body["runs"]]
        token = body.get("next_page_token")
        if not token:
            break
    assert names == ["c", "b", "a"]
    status, body = call(mlflow, "POST", "runs/search", {"experiment_ids": [experiment_id], "filter": "metrics.loss <"})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_search_runs_by_the_tags_the_site_keeps_as_fields(mlflow, scientist):
    """MLflow scripts find a run's children with tags.mlflow.parentRunId; the site keeps the parent as a field."""
    parent = new_run(mlflow, run_name="parent")
    experiment_id, parent_id = parent["info"]["experiment_id"], parent["info"]["run_id"]
    for name in ("kid1", "kid2"):
        tags = [{"key": "mlflow.parentRunId", "value": parent_id}]
        call(mlflow, "POST", "runs/create", {"experiment_id": experiment_id, "run_name": name, "tags": tags})

    def names(text):
        status, body = call(
            mlflow,
            "POST",
            "runs/search",
            {"experiment_ids": [experiment_id], "filter": text, "order_by": ["attributes.run_name ASC"]},
        )
        assert status == 200, body
        return [r["info"]["run_name"] for r in body["runs"]]

    assert names(f"tags.mlflow.parentRunId = '{parent_id}'") == ["kid1", "kid2"]
    assert names(f"tags.`mlflow.parentRunId` != '{parent_id}'") == []  # as in MLflow: a run without the tag is no match
    assert names(f"tags.mlflow.parentRunId IN ('{parent_id}', '0')") == ["kid1", "kid2"]
    assert names(f"tags.mlflow.user = '{scientist.username}'") == ["kid1", "kid2", "parent"]
    assert names("tags.mlflow.user = 'someone else'") == []
    call(mlflow, "POST", "runs/update", {"run_id": parent_id, "status": "FINISHED", "end_time": 1_800_000_000_000})
    assert names("attributes.end_time != 1") == ["parent"]  # the running kids have no end time to compare
    assert names("attributes.end_time != 1800000000000") == []
    assert names("attributes.end_time = 1800000000000") == ["parent"]


def test_search_runs_with_is_null_on_tags_and_params(mlflow):
    """MLflow 3's `IS NULL` / `IS NOT NULL` on tags and params (e.g. the top-level runs: no parentRunId tag)."""
    parent = new_run(mlflow, run_name="parent", tags=[{"key": "team", "value": "risk"}])
    experiment_id, parent_id = parent["info"]["experiment_id"], parent["info"]["run_id"]
    tags = [{"key": "mlflow.parentRunId", "value": parent_id}]
    kid = call(mlflow, "POST", "runs/create", {"experiment_id": experiment_id, "run_name": "kid", "tags": tags})
    call(mlflow, "POST", "runs/log-parameter", {"run_id": kid[1]["run"]["info"]["run_id"], "key": "p", "value": "1"})

    def names(text):
        status, body = call(mlflow, "POST", "runs/search", {"experiment_ids": [experiment_id], "filter": text})
        assert status == 200, body
        return sorted(r["info"]["run_name"] for r in body["runs"])

    assert names("tags.mlflow.parentRunId IS NULL") == ["parent"]
    assert names("tags.`mlflow.parentRunId` IS NOT NULL") == ["kid"]
    assert names("tags.team IS NULL") == ["kid"] and names("tags.team is not null") == ["parent"]
    assert names("params.p IS NOT NULL and attributes.run_name = 'kid'") == ["kid"]
    assert names("params.p IS NULL") == ["parent"]
    assert names("tags.mlflow.runName IS NULL") == [] and names("tags.mlflow.user IS NOT NULL") == ["kid", "parent"]
    status, body = call(
        mlflow, "POST", "runs/search", {"experiment_ids": [experiment_id], "filter": "metrics.x IS NULL"}
    )
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


def test_search_runs_orders_by_several_fields(mlflow):
    """MLflow's order_by is a list: later fields order runs the earlier ones leave tied."""
    experiment_id = new_run(mlflow, run_name="a")["info"]["experiment_id"]
    ids = {}
    for name in ("b", "c", "d"):
        body = {"experiment_id": experiment_id, "run_name": name}
        ids[name] = call(mlflow, "POST", "runs/create", body)[1]["run"]["info"]["run_id"]
    for name, loss in (("b", 0.5), ("c", 0.1), ("d", 0.5)):
        point = {"key": "loss", "value": loss, "timestamp": 1, "step": 0}
        call(mlflow, "POST", "runs/log-batch", {"run_id": ids[name], "metrics": [point]})

    def names(order_by):
        status, body = call(mlflow, "POST", "runs/search", {"experiment_ids": [experiment_id], "order_by": order_by})
        assert status == 200, body
        return [r["info"]["run_name"] for r in body["runs"]]

    assert names(["metrics.loss ASC", "attributes.run_name DESC"]) == ["c", "d", "b", "a"]  # a has no loss: last
    assert names(["metrics.loss ASC", "attributes.run_name ASC"]) == ["c", "b", "d", "a"]
    assert names(["metrics.loss DESC", "run_name"]) == ["b", "d", "c", "a"]
    status, body = call(mlflow, "POST", "runs/search", {"experiment_ids": [experiment_id], "order_by": ["x"] * 11})
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "body",
    [
        {"key": "m\x00", "value": 1, "timestamp": 1, "step": 0},
        {"key": "m", "value": "lots", "timestamp": 1, "step": 0},
        {"key": "m", "value": 1, "timestamp": -5, "step": 0},
        {"key": "m", "value": 1, "timestamp": 1, "step": "one"},
        {"key": "m", "value": 1, "timestamp": 1, "step": 2**70},
        {"key": "", "value": 1, "timestamp": 1, "step": 0},
        {"key": "m", "value": True, "timestamp": 1, "step": 0},
    ],
)
def test_bad_metric_values_are_400s_that_store_nothing(mlflow, body):
    run_id = new_run(mlflow)["info"]["run_id"]
    status, answer = call(mlflow, "POST", "runs/log-metric", {"run_id": run_id, **body})
    assert (status, answer["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), answer
    assert not Metric.objects.exists() and not LatestMetric.objects.exists()


def test_unknown_ids_routes_and_bodies(mlflow):
    for run_id in ("424242", "x", "1" * 30, ""):
        status, body = call(mlflow, "GET", "runs/get", run_id=run_id)
        assert status in (400, 404) and body["error_code"] in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
    status, body = call(mlflow, "GET", "no/such/endpoint")
    assert (status, body["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    # As the real client sends it: a POST without a CSRF token (the test client skips CSRF checks unless told).
    response = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=mlflow.defaults["HTTP_AUTHORIZATION"]).post(
        f"{API}/experiments/set-experiment-tag", "{}", content_type="application/json"
    )
    assert (response.status_code, response.json()["error_code"]) == (404, "ENDPOINT_NOT_FOUND")
    response = mlflow.post(f"{API}/runs/create", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error_code"] == "MALFORMED_REQUEST"
    response = mlflow.post(f"{API}/runs/create", "[1, 2]", content_type="application/json")
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert not Run.objects.exists()


def test_runs_are_never_deleted(mlflow):
    run_id = new_run(mlflow)["info"]["run_id"]
    status, body = call(mlflow, "POST", "runs/delete", {"run_id": run_id})
    assert status == 400 and "never deleted" in body["message"]
    assert Run.objects.filter(pk=run_id).exists()


def test_log_inputs_keeps_mlflows_dataset_once(mlflow):
    run_id = new_run(mlflow)["info"]["run_id"]
    dataset = {
        "name": "train",
        "digest": "abc123",
        "source_type": "local",
        "source": '{"uri": "/data/train.csv"}',
        "schema": "{}",
    }
    for _ in range(2):
        status, _ = call(
            mlflow,
            "POST",
            "runs/log-inputs",
            {
                "run_id": run_id,
                "datasets": [{"tags": [{"key": "mlflow.data.context", "value": "training"}], "dataset": dataset}],
            },
        )
        assert status == 200
    assert RunInput.objects.count() == 1
    inputs = call(mlflow, "GET", "runs/get", run_id=run_id)[1]["run"]["inputs"]["dataset_inputs"]
    assert inputs[0]["dataset"]["digest"] == "abc123" and inputs[0]["tags"] == [
        {"key": "mlflow.data.context", "value": "training"}
    ]


def test_experiment_zero_is_the_default_experiment(mlflow):
    status, body = call(mlflow, "POST", "runs/create", {"experiment_id": "0"})
    assert status == 200
    assert Experiment.objects.get(pk=body["run"]["info"]["experiment_id"]).name == "Default"


def test_non_finite_metric_strings_are_parsed():
    from mlflow_compat import protocol

    assert math.isnan(protocol.number("NaN", "v")) and protocol.number("-Infinity", "v") == -math.inf
    assert protocol.wire_number(math.inf) == "Infinity" and protocol.wire_number(1.5) == 1.5


WRONG_VALUES = [None, "", "x", -1, 2**70, 1.5, True, [], [1, "a"], {}, {"key": 1}, "\ud800", "9" * 30, "NaN", "²"]
FIELDS = [
    "experiment_id",
    "experiment_ids",
    "experiment_name",
    "name",
    "run_id",
    "run_name",
    "key",
    "value",
    "timestamp",
    "step",
    "metrics",
    "params",
    "tags",
    "status",
    "end_time",
    "start_time",
    "filter",
    "order_by",
    "max_results",
    "page_token",
    "datasets",
    "models",
    "metric_key",
    "view_type",
    "run_view_type",
]


@pytest.mark.parametrize("route", [p.pattern.regex.pattern for p in tracking_views.urlpatterns])
def test_no_tracking_endpoint_answers_500_to_wrong_types(mlflow, route):
    """Every field of every endpoint, given each wrong kind of value, on top of an otherwise valid request."""
    path = (
        route.removeprefix("^api/2\\.0/mlflow/")
        .removeprefix("^")
        .removesuffix("$")
        .replace("\\.", ".")
        .replace("\\-", "-")
    )
    run = new_run(mlflow, experiment_name=f"fuzz {path}")
    valid = {
        "experiment_id": run["info"]["experiment_id"],
        "run_id": run["info"]["run_id"],
        "key": "k",
        "value": 1,
        "timestamp": 1,
        "step": 0,
        "name": "n",
        "experiment_name": "n",
        "metric_key": "k",
        "experiment_ids": [run["info"]["experiment_id"]],
    }
    url = f"/{path}" if path.startswith("api/") else f"{API}/{path}"
    for index, field in enumerate(FIELDS):
        # Five of the wrong values per field, shifted field by field so each value meets most fields.
        for wrong in [WRONG_VALUES[(index + k) % len(WRONG_VALUES)] for k in range(0, len(WRONG_VALUES), 3)]:
            body = {**valid, field: wrong}
            posted = mlflow.post(url, json.dumps(body), content_type="application/json")
            query = {
                k: v for k, v in body.items() if isinstance(v, str | int) and not isinstance(v, bool) and v != "\ud800"
            }
            got = mlflow.get(url, query)
            for response in (posted, got):
                assert response.status_code < 500, (path, field, wrong, response.content[:300])
                if response.status_code >= 400 and response.status_code != 405:
                    assert "error_code" in response.json(), (path, field, wrong)
