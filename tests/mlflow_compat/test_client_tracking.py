"""Contract tests: the real mlflow client (its own venv) against a live server, for tracking.

Each test runs one snippet of client code (see conftest.py), then checks what the client saw against the rows
the site stored, read through the ORM, and against numbers computed here independently.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from experiments import services as experiments
from experiments.models import Experiment, LatestMetric, Metric, Param, Run
from mlops_site import roles, services
from mlops_site.models import ApiToken
from tests.builders import PASSWORD, make_user

pytestmark = pytest.mark.mlflow_client

T0 = 1_700_000_000_000  # epoch ms


def at(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_bearer_token_and_basic_auth_work_and_roles_apply(run_client):
    reviewer = make_user("client-rev", roles.REVIEWER)
    _, reviewer_token = services.create_api_token(reviewer, name="mlflow")
    _, service_token = services.create_api_token(run_client.user, name="serving", scope=ApiToken.Scope.PREDICT)
    out = run_client(
        """
        import os
        client = MlflowClient()
        experiment_id = mlflow.set_experiment("auth").experiment_id  # Bearer: MLFLOW_TRACKING_TOKEN

        del os.environ["MLFLOW_TRACKING_TOKEN"]
        os.environ["MLFLOW_TRACKING_USERNAME"] = os.environ["SITE_USERNAME"]
        os.environ["MLFLOW_TRACKING_PASSWORD"] = os.environ["SITE_PASSWORD"]
        run_id = client.create_run(experiment_id, run_name="basic").info.run_id
        client.log_param(run_id, "via", "basic")
        os.environ["MLFLOW_TRACKING_PASSWORD"] = "wrong"
        wrong_password = code_of(client.get_experiment, experiment_id)
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
        anonymous = code_of(client.get_experiment, experiment_id)

        os.environ["MLFLOW_TRACKING_TOKEN"] = os.environ["REVIEWER_TOKEN"]
        reviewer_reads = client.get_run(run_id).data.params
        reviewer_creates = code_of(client.create_run, experiment_id)
        reviewer_logs = code_of(client.log_metric, run_id, "m", 1.0)
        reviewer_makes_experiment = code_of(client.create_experiment, "reviewer's")

        os.environ["MLFLOW_TRACKING_TOKEN"] = os.environ["SERVICE_TOKEN"]
        service_reads = code_of(client.get_run, run_id)
        service_logs = code_of(client.log_metric, run_id, "m", 1.0)
        emit(
            experiment_id=experiment_id, run_id=run_id, wrong_password=wrong_password, anonymous=anonymous,
            reviewer_reads=reviewer_reads, reviewer_creates=reviewer_creates, reviewer_logs=reviewer_logs,
            reviewer_makes_experiment=reviewer_makes_experiment, service_reads=service_reads,
            service_logs=service_logs,
        )
        """,
        SITE_USERNAME=run_client.user.username,
        SITE_PASSWORD=PASSWORD,
        REVIEWER_TOKEN=reviewer_token,
        SERVICE_TOKEN=service_token,
    )
    assert Experiment.objects.get(pk=out["experiment_id"]).owner == run_client.user
    run = Run.objects.get(pk=out["run_id"])
    assert (run.name, run.user, run.source) == ("basic", run_client.user, Run.Source.LOGGED)
    assert dict(Param.objects.filter(run=run).values_list("key", "value")) == {"via": "basic"}
    assert out["wrong_password"] == out["anonymous"] == "UNAUTHENTICATED"
    assert out["reviewer_reads"] == {"via": "basic"}
    assert out["reviewer_creates"] == out["reviewer_logs"] == out["reviewer_makes_experiment"] == "PERMISSION_DENIED"
    assert out["service_reads"] == out["service_logs"] == "PERMISSION_DENIED"
    assert Run.objects.count() == 1 and not Metric.objects.exists()
    assert list(Experiment.objects.values_list("name", flat=True)) == ["auth"]


def test_experiments_set_get_create_search_and_their_errors(run_client):
    out = run_client(
        """
        client = MlflowClient()
        with mlflow.start_run() as unnamed:  # no experiment set: MLflow's experiment "0"
            pass
        default_id = unnamed.info.experiment_id
        first = mlflow.set_experiment("churn")
        again = mlflow.set_experiment("churn")
        fraud_id = client.create_experiment("fraud", tags={"mlflow.note.content": "card fraud"})
        fraud = client.get_experiment(fraud_id)
        by_name = client.get_experiment_by_name("fraud")
        missing_name = client.get_experiment_by_name("nope")
        duplicate = code_of(client.create_experiment, "churn")
        missing_id = code_of(client.get_experiment, "987654")
        like = [e.name for e in client.search_experiments(filter_string="name LIKE 'ch%'")]
        ordered = [e.name for e in client.search_experiments(order_by=["name ASC"])]
        page = client.search_experiments(max_results=2, order_by=["name ASC"])
        rest = client.search_experiments(max_results=2, order_by=["name ASC"], page_token=page.token)
        emit(
            default_id=default_id, first=first.experiment_id, again=again.experiment_id, fraud_id=fraud_id,
            fraud_name=fraud.name, fraud_stage=fraud.lifecycle_stage, fraud_note=fraud.tags.get("mlflow.note.content"),
            by_name=by_name.experiment_id, missing_name=missing_name, duplicate=duplicate, missing_id=missing_id,
            like=like, ordered=ordered, pages=[[e.name for e in page], page.token, [e.name for e in rest], rest.token],
        )
        """
    )
    assert Experiment.objects.get(pk=out["default_id"]).name == "Default"
    churn = Experiment.objects.get(name="churn")
    assert out["first"] == out["again"] == str(churn.pk)
    assert churn.owner == run_client.user
    fraud = Experiment.objects.get(pk=out["fraud_id"])
    assert (out["fraud_name"], out["fraud_stage"], out["by_name"]) == ("fraud", "active", str(fraud.pk))
    assert out["fraud_note"] == fraud.description == "card fraud"
    assert out["missing_name"] is None
    assert out["duplicate"] == "RESOURCE_ALREADY_EXISTS" and out["missing_id"] == "RESOURCE_DOES_NOT_EXIST"
    assert Experiment.objects.count() == 3
    assert out["like"] == ["churn"]
    assert out["ordered"] == ["Default", "churn", "fraud"]  # the databases' order of names, as MLflow's
    assert out["pages"] == [["Default", "churn"], "2", ["fraud"], None]


def test_runs_log_params_metrics_tags_nest_end_and_resume(run_client):
    out = run_client(
        f"""
        client = MlflowClient()
        mlflow.set_experiment("lifecycle")
        with mlflow.start_run(run_name="parent", tags={{"team": "risk"}}) as parent:
            mlflow.log_param("alpha", 0.5)
            mlflow.log_params({{"depth": 3, "kind": "gbm"}})
            mlflow.log_metric("loss", 0.9, step=0, timestamp={T0})
            mlflow.log_metric("loss", 0.5, step=1, timestamp={T0 + 500})
            mlflow.log_metrics({{"acc": 0.7, "f1": 0.6}}, step=1, timestamp={T0 + 600})
            mlflow.set_tag("stage", "dev")
            mlflow.set_tags({{"a.b": "c", "owner": "me"}})
            with mlflow.start_run(run_name="child", nested=True) as child:
                mlflow.log_metric("loss", 0.4, step=0, timestamp={T0 + 700})
        parent_id, child_id = parent.info.run_id, child.info.run_id
        ended = client.get_run(parent_id).info
        with mlflow.start_run(run_id=parent_id):  # resume the ended run
            resumed = mlflow.active_run().info.status
            mlflow.log_metric("loss", 0.3, step=2, timestamp={T0 + 1000})
        client.set_terminated(child_id, status="FAILED")
        changed_param = code_of(client.log_param, parent_id, "alpha", "0.6")
        unknown_run = code_of(client.get_run, "987654321")
        unknown_log = code_of(client.log_metric, "987654321", "m", 1.0)
        got = client.get_run(parent_id)
        kid = client.get_run(child_id)
        emit(
            parent_id=parent_id, child_id=child_id, first_status=ended.status, first_end=ended.end_time,
            resumed=resumed, status=got.info.status, name=got.info.run_name, params=got.data.params,
            metrics=got.data.metrics, tags=got.data.tags, start=got.info.start_time, end=got.info.end_time,
            user=got.info.user_id, child_status=kid.info.status, child_parent=kid.data.tags.get("mlflow.parentRunId"),
            child_name=kid.info.run_name, history=[[m.step, m.value, m.timestamp] for m in
                                                   client.get_metric_history(parent_id, "loss")],
            changed_param=changed_param, unknown_run=unknown_run, unknown_log=unknown_log,
        )
        """
    )
    parent, child = Run.objects.get(pk=out["parent_id"]), Run.objects.get(pk=out["child_id"])
    assert (parent.name, parent.status, parent.source, parent.user) == (
        "parent",
        Run.Status.FINISHED,
        Run.Source.LOGGED,
        run_client.user,
    )
    assert (child.name, child.parent_id, child.status) == ("child", parent.pk, Run.Status.FAILED)
    assert out["first_status"] == "FINISHED" and out["first_end"] is not None
    assert out["resumed"] == "RUNNING"
    assert out["status"] == "FINISHED" and out["end"] == int(parent.ended_at.timestamp() * 1000)
    assert out["start"] == int(parent.started_at.timestamp() * 1000)
    assert (out["name"], out["user"]) == ("parent", run_client.user.username)
    assert (out["child_status"], out["child_parent"], out["child_name"]) == ("FAILED", str(parent.pk), "child")
    params = {"alpha": "0.5", "depth": "3", "kind": "gbm"}
    assert out["params"] == params == dict(Param.objects.filter(run=parent).values_list("key", "value"))
    assert out["metrics"] == {"loss": 0.3, "acc": 0.7, "f1": 0.6}
    assert {k: parent.tags[k] for k in ("team", "stage", "a.b", "owner")} == {
        "team": "risk",
        "stage": "dev",
        "a.b": "c",
        "owner": "me",
    }
    assert {k: out["tags"][k] for k in ("team", "stage", "a.b", "owner", "mlflow.runName")} == {
        "team": "risk",
        "stage": "dev",
        "a.b": "c",
        "owner": "me",
        "mlflow.runName": "parent",
    }
    expected = [[0, 0.9, T0], [1, 0.5, T0 + 500], [2, 0.3, T0 + 1000]]
    assert out["history"] == expected
    stored = Metric.objects.filter(run=parent, key="loss").order_by("step").values_list("step", "value", "timestamp")
    assert list(stored) == [(step, value, at(ms)) for step, value, ms in expected]
    assert list(Metric.objects.filter(run=child).values_list("value", "timestamp")) == [(0.4, at(T0 + 700))]
    assert dict(LatestMetric.objects.filter(run=parent).values_list("key", "value")) == out["metrics"]
    assert out["changed_param"] == "INVALID_PARAMETER_VALUE"
    assert out["unknown_run"] == out["unknown_log"] == "RESOURCE_DOES_NOT_EXIST"


def test_search_runs_with_mlflows_filter_grammar_ordering_and_paging(run_client):
    out = run_client(
        f"""
        from mlflow.entities import Metric, Param, RunTag
        client = MlflowClient()
        experiment_id = mlflow.set_experiment("search").experiment_id
        specs = [("a", 0.3, "x", "FINISHED", "risk"), ("b", 0.2, "y", "FINISHED", "risk"),
                 ("c", 0.9, "x", "FAILED", "risk"), ("d", 1.5, "x", "RUNNING", "ops")]
        for i, (name, loss, kind, status, team) in enumerate(specs):
            tags = {{"mlflow.parentRunId": parent_id}} if name in "cd" else {{}}  # c and d are children of a
            run = client.create_run(experiment_id, run_name=name, start_time={T0} + i * 1000, tags=tags)
            parent_id = parent_id if i else run.info.run_id
            client.log_batch(run.info.run_id, metrics=[Metric("loss", loss, {T0}, 0)], params=[Param("kind", kind)],
                             tags=[RunTag("team.name", team)])
            if status != "RUNNING":
                client.set_terminated(run.info.run_id, status=status)

        def names(filter_string="", order_by=None, **kwargs):
            runs = client.search_runs([experiment_id], filter_string, order_by=order_by, **kwargs)
            return [r.info.run_name for r in runs]

        page = client.search_runs([experiment_id], max_results=3, order_by=["attributes.run_name ASC"])
        rest = client.search_runs([experiment_id], max_results=3, order_by=["attributes.run_name ASC"],
                                  page_token=page.token)
        frame = mlflow.search_runs([experiment_id], filter_string="params.kind = 'x'", order_by=["metrics.loss DESC"])
        emit(
            both=names("metrics.loss > 0.25 and params.kind = 'x'", ["metrics.loss ASC"]),
            by_name=names("attributes.run_name = 'b'"),
            name_like=names("attributes.run_name LIKE 'a%'"),
            started=names("attributes.start_time >= {T0 + 2000}", ["attributes.start_time ASC"]),
            failed=names("attributes.status = 'FAILED'"),
            running=names("attributes.status = 'RUNNING'"),
            tagged=names("tags.`team.name` = 'ops'"),
            tagged_risk=names("tags.`team.name` = 'risk'", ["attributes.run_name DESC"]),
            children=names(f"tags.mlflow.parentRunId = '{{parent_id}}'", ["attributes.run_name ASC"]),
            top_level=names("tags.mlflow.parentRunId IS NULL", ["attributes.run_name ASC"]),
            mine=names(f"tags.`mlflow.user` = '{{client.get_run(parent_id).info.user_id}}'"),
            loss_desc=names(order_by=["metrics.loss DESC"]),
            kind_then_loss=names(order_by=["params.kind DESC", "metrics.loss ASC"]),
            start_asc=names(order_by=["attributes.start_time ASC"]),
            newest_first=names(),
            pages=[[r.info.run_name for r in page], bool(page.token), [r.info.run_name for r in rest], rest.token],
            frame=[list(frame["tags.mlflow.runName"]), list(frame["metrics.loss"]), list(frame["params.kind"])],
            bad=code_of(client.search_runs, [experiment_id], "metrics.loss <"),
            unknown_experiment=code_of(client.search_runs, ["987654"]),
        )
        """
    )
    assert Run.objects.count() == 4
    assert out["both"] == ["a", "c", "d"]
    assert out["by_name"] == ["b"] and out["name_like"] == ["a"]
    assert out["started"] == ["c", "d"]
    assert out["failed"] == ["c"] and out["running"] == ["d"]
    assert out["tagged"] == ["d"] and out["tagged_risk"] == ["c", "b", "a"]
    assert out["children"] == ["c", "d"] and out["mine"] == ["d", "c", "b", "a"]
    assert out["top_level"] == ["a", "b"]
    assert list(Run.objects.filter(parent__name="a").order_by("name").values_list("name", flat=True)) == ["c", "d"]
    assert out["loss_desc"] == ["d", "c", "a", "b"]
    assert out["kind_then_loss"] == ["b", "a", "c", "d"]
    assert out["start_asc"] == ["a", "b", "c", "d"]
    assert out["newest_first"] == ["d", "c", "b", "a"]  # MLflow's default order: start time, newest first
    assert out["pages"] == [["a", "b", "c"], True, ["d"], None]
    assert out["frame"] == [["d", "c", "a"], [1.5, 0.9, 0.3], ["x", "x", "x"]]
    assert out["bad"] == "INVALID_PARAMETER_VALUE"
    assert out["unknown_experiment"] == "RESOURCE_DOES_NOT_EXIST"


def test_metric_history_returns_every_point_and_timestamp_across_pages(run_client):
    points = 30_000  # more than one page of the client's 25,000
    out = run_client(
        f"""
        from mlflow.entities import Metric
        client = MlflowClient()
        run_id = client.create_run(client.create_experiment("history")).info.run_id
        points = [Metric("loss", 1 / (i + 1), {T0} + 7 * i, i) for i in range({points})]
        for start in range(0, len(points), 1000):  # the client's limit per log_batch
            client.log_batch(run_id, metrics=points[start:start + 1000])
        first_page = client._tracking_client.store.get_metric_history(run_id, "loss", max_results=25_000)
        history = client.get_metric_history(run_id, "loss")
        emit(run_id=run_id, first_page=[len(first_page), first_page.token],
             history=[[m.step, m.value, m.timestamp] for m in history])
        """
    )
    expected = [[i, 1 / (i + 1), T0 + 7 * i] for i in range(points)]
    assert out["first_page"][0] == 25_000 and out["first_page"][1]
    assert out["history"] == expected
    assert Metric.objects.filter(run_id=out["run_id"], key="loss").count() == points
    latest = LatestMetric.objects.get(run_id=out["run_id"], key="loss")
    assert (latest.step, latest.value, latest.timestamp) == (points - 1, 1 / points, at(T0 + 7 * (points - 1)))


def test_nan_and_infinity_are_logged_stored_and_read_back(run_client):
    out = run_client(
        f"""
        client = MlflowClient()
        run_id = client.create_run(client.create_experiment("odd values")).info.run_id
        for step, value in enumerate([1.0, float("nan"), float("inf"), float("-inf"), 2.0]):
            client.log_metric(run_id, "odd", value, timestamp={T0} + step, step=step)
        mlflow.log_metrics({{"nan_only": float("nan")}}, run_id=run_id, step=0, timestamp={T0})
        emit(run_id=run_id, history=[repr(m.value) for m in client.get_metric_history(run_id, "odd")],
             latest={{k: repr(v) for k, v in client.get_run(run_id).data.metrics.items()}})
        """
    )
    assert out["history"] == ["1.0", "nan", "inf", "-inf", "2.0"]
    assert out["latest"] == {"odd": "2.0", "nan_only": "nan"}
    stored = list(
        Metric.objects.filter(run_id=out["run_id"], key="odd").order_by("step").values_list("value", flat=True)
    )
    assert stored[0] == 1.0 and stored[4] == 2.0
    assert (stored[1] is None or math.isnan(stored[1])) and stored[2] == math.inf and stored[3] == -math.inf


def test_a_run_the_site_made_reads_with_the_client(run_client):
    user = run_client.user
    experiment = experiments.create_experiment(name="made on the site", actor=user)
    run = experiments.create_run(experiment, actor=user, name="site run", tags={"k": "v"}, code_version="abc123")
    experiments.log_batch(
        run,
        actor=user,
        params={"alpha": "1"},
        metrics=[{"key": "loss", "value": 0.25, "timestamp": T0 + i, "step": i} for i in range(3)],
    )
    experiments.finish_run(run, actor=user)
    run.refresh_from_db()
    out = run_client(
        f"""
        client = MlflowClient()
        got = client.get_run("{run.pk}")
        found = client.search_runs(["{experiment.pk}"], "params.alpha = '1'")
        emit(name=got.info.run_name, status=got.info.status, params=got.data.params, metrics=got.data.metrics,
             tags=got.data.tags, start=got.info.start_time, end=got.info.end_time,
             experiment=client.get_experiment_by_name("made on the site").experiment_id,
             history=[[m.step, m.timestamp] for m in client.get_metric_history("{run.pk}", "loss")],
             found=[r.info.run_id for r in found])
        """
    )
    assert (out["name"], out["status"], out["experiment"]) == ("site run", "FINISHED", str(experiment.pk))
    assert out["params"] == {"alpha": "1"} and out["metrics"] == {"loss": 0.25}
    assert out["tags"]["k"] == "v" and out["tags"]["mlflow.source.git.commit"] == "abc123"
    assert out["tags"]["mlflow.user"] == user.username
    assert out["start"] == int(run.started_at.timestamp() * 1000) and out["end"] == int(run.ended_at.timestamp() * 1000)
    assert out["history"] == [[i, T0 + i] for i in range(3)]
    assert out["found"] == [str(run.pk)]


def test_runs_the_client_logged_show_on_the_sites_run_list_run_page_and_compare_page(run_client):
    out = run_client(
        f"""
        mlflow.set_experiment("pages")
        ids = []
        for name, rate, auc in (("from the client", 0.0123, 0.8765), ("second try", 0.0456, 0.9012)):
            with mlflow.start_run(run_name=name) as run:
                mlflow.log_params({{"learning_rate": rate, "booster": "dart"}})
                for step, value in enumerate([0.61, 0.72, auc]):
                    mlflow.log_metric("val_auc", value, step=step, timestamp={T0} + step)
            ids.append(run.info.run_id)
        emit(ids=ids)
        """
    )
    first, second = (Run.objects.get(pk=pk) for pk in out["ids"])
    browser = Client()
    browser.force_login(run_client.user)
    page = browser.get(f"/runs/{first.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("from the client", "learning_rate", "0.0123", "booster", "dart", "val_auc", "0.8765"):
        assert text in html, text
    listing = browser.get("/runs/", {"experiment": first.experiment_id})
    assert listing.status_code == 200
    assert "from the client" in listing.content.decode() and "second try" in listing.content.decode()
    compare = browser.get("/runs/compare/", {"run": [first.pk, second.pk]})
    assert compare.status_code == 200
    html = compare.content.decode()
    for text in ("from the client", "second try", "0.0123", "0.0456", "val_auc", "0.8765", "0.9012"):
        assert text in html, text
