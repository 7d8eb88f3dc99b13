"""NaN and ±Infinity metric values: accepted on the MLflow surface, stored alike on both databases, read back
as MLflow's strings there and as null in the native API, shown as text on pages, drawn as gaps, and left out
of every aggregate (best values, means, sorting and filtering by a metric).

The runs are logged with the JSON the mlflow client sends (proto-JSON: non-finite doubles as strings).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from experiments import charts, comparison, downsample, metric_store, selectors
from experiments import services as experiments
from experiments.metrics import best, lower_is_better
from experiments.models import LatestMetric, Metric, Run
from mlops_site import services
from mlops_site.templatetags.ui import number
from tests.builders import token_client

pytestmark = pytest.mark.django_db

API = "/api/2.0/mlflow"
T0 = 1_700_000_000_000  # epoch ms of the first point

# name -> loss by step, as the client sends the values; the last point is each run's latest value.
LOSSES = {
    "nan-last": [2.0, 1.5, 1.2, "NaN"],
    "inf-mid": [3.0, "Infinity", 2.5],
    "exploded": [1.1, "Infinity"],
    "finite": [1.2, 0.5],
}


def strict(text: str):
    """JSON as a strict parser reads it: bare NaN / Infinity tokens are an error, as in browsers."""

    def refuse(token):
        raise AssertionError(f"invalid JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def as_float(value) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, value)


@pytest.fixture
def mlflow(scientist) -> Client:
    _, key = services.create_api_token(scientist, name="mlflow")
    return Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def post(client: Client, path: str, body: dict) -> dict:
    response = client.post(f"{API}/{path}", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return strict(response.content)


@pytest.fixture
def logged(mlflow) -> dict[str, Run]:
    """Four runs logged through the MLflow surface: the first point of each by log-metric, the rest by log-batch."""
    experiment_id = post(mlflow, "experiments/create", {"name": "diverging"})["experiment_id"]
    runs = {}
    for name, losses in LOSSES.items():
        run_id = post(mlflow, "runs/create", {"experiment_id": experiment_id, "run_name": name})["run"]["info"][
            "run_id"
        ]
        points = [{"key": "loss", "value": v, "timestamp": T0 + step, "step": step} for step, v in enumerate(losses)]
        post(mlflow, "runs/log-metric", {"run_id": run_id, **points[0]})
        post(mlflow, "runs/log-batch", {"run_id": run_id, "metrics": points[1:]})
        runs[name] = Run.objects.get(pk=run_id)
    nan_last = runs["nan-last"]
    # The brief's exact body, and a metric whose latest value is -Infinity.
    post(
        mlflow, "runs/log-metric", {"run_id": str(nan_last.pk), "key": "acc", "value": "NaN", "timestamp": 1, "step": 3}
    )
    post(
        mlflow,
        "runs/log-batch",
        {
            "run_id": str(nan_last.pk),
            "metrics": [
                {"key": "grad", "value": "-Infinity", "timestamp": T0, "step": 0},
                *({"key": "cv_f1", "value": v, "timestamp": T0, "step": s} for s, v in enumerate([0.8, "NaN", 0.6])),
            ],
        },
    )
    return runs


def stored_losses(run: Run) -> list[float | None]:
    return list(Metric.objects.filter(run=run, key="loss").order_by("step").values_list("value", flat=True))


# --- storage -------------------------------------------------------------------------------------


def test_nan_is_stored_as_null_and_infinity_as_itself(logged):
    """Through the PostgreSQL COPY path or SQLite's executemany, read back through the ORM."""
    assert stored_losses(logged["nan-last"]) == [2.0, 1.5, 1.2, None]
    assert stored_losses(logged["inf-mid"]) == [3.0, math.inf, 2.5]
    assert stored_losses(logged["exploded"]) == [1.1, math.inf]
    assert Metric.objects.get(run=logged["nan-last"], key="grad").value == -math.inf
    latest = dict(LatestMetric.objects.filter(key="loss").values_list("run__name", "value"))
    assert latest == {"nan-last": None, "inf-mid": 2.5, "exploded": math.inf, "finite": 0.5}
    with connection.cursor() as cursor:  # and not as a NaN the database could hold itself (PostgreSQL can)
        table = connection.ops.quote_name(Metric._meta.db_table)
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE value IS NULL")
        assert cursor.fetchone()[0] == 3  # loss, acc and one cross-validation fold


def test_orm_round_trips_infinity_on_both_databases(scientist):
    run = experiments.create_run(experiments.create_experiment(name="orm", actor=scientist), actor=scientist)
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    made = Metric.objects.bulk_create(
        [Metric(run=run, key="x", value=v, step=i, timestamp=stamp) for i, v in enumerate([math.inf, -math.inf, None])]
    )
    assert list(
        Metric.objects.filter(pk__in=[m.pk for m in made]).order_by("step").values_list("value", flat=True)
    ) == [
        math.inf,
        -math.inf,
        None,
    ]
    assert Metric.objects.filter(run=run, value__gt=1e308).count() == 1  # +inf compares as a number


# --- the MLflow surface reads them back as proto-JSON strings -------------------------------------


def test_mlflow_history_and_get_run_answer_the_strings_the_client_sent(mlflow, logged):
    for name, losses in LOSSES.items():
        run_id = str(logged[name].pk)
        response = mlflow.get(f"{API}/metrics/get-history", {"run_id": run_id, "metric_key": "loss"})
        assert response.status_code == 200
        points = strict(response.content)["metrics"]
        assert [p["value"] for p in points] == losses
        assert [(p["step"], p["timestamp"]) for p in points] == [(s, T0 + s) for s in range(len(losses))]
        run = strict(mlflow.get(f"{API}/runs/get", {"run_id": run_id}).content)["run"]
        latest = {m["key"]: m["value"] for m in run["data"]["metrics"]}
        assert latest["loss"] == losses[-1]
    nan_last = strict(mlflow.get(f"{API}/runs/get", {"run_id": str(logged["nan-last"].pk)}).content)["run"]
    assert {m["key"]: m["value"] for m in nan_last["data"]["metrics"]} == {
        "acc": "NaN",
        "cv_f1": 0.6,
        "grad": "-Infinity",
        "loss": "NaN",
    }
    acc = strict(
        mlflow.get(f"{API}/metrics/get-history", {"run_id": nan_last["info"]["run_id"], "metric_key": "acc"}).content
    )
    assert acc["metrics"] == [{"key": "acc", "value": "NaN", "timestamp": 1, "step": 3}]


def test_mlflow_search_runs_filters_and_orders_by_a_metric_without_the_nan(mlflow, logged):
    experiment_id = str(logged["finite"].experiment_id)
    body = post(
        mlflow,
        "runs/search",
        {"experiment_ids": [experiment_id], "filter": "metrics.loss > 1", "order_by": ["metrics.loss ASC"]},
    )
    assert [r["info"]["run_name"] for r in body["runs"]] == ["inf-mid", "exploded"]


# --- the native API answers null ------------------------------------------------------------------


def test_native_api_answers_null_for_nan_and_infinity(scientist, logged):
    client = token_client(scientist)
    for name, losses in LOSSES.items():
        run = logged[name]
        detail = client.get(f"/api/runs/{run.pk}/")
        assert detail.status_code == 200
        want = as_float(losses[-1])
        assert strict(detail.content)["metrics"]["loss"] == (want if math.isfinite(want) else None)
        history = client.get(f"/api/runs/{run.pk}/metrics/loss/")
        assert history.status_code == 200
        values = [p["value"] for p in strict(history.content)["points"]]
        assert values == [v if math.isfinite(v) else None for v in map(as_float, losses)]
    listed = client.get("/api/runs/", {"page_size": 100})
    assert listed.status_code == 200
    metrics = {r["name"]: r["metrics"] for r in strict(listed.content)["results"]}
    assert metrics["nan-last"] == {"acc": None, "cv_f1": 0.6, "grad": None, "loss": None}
    assert metrics["exploded"] == {"loss": None}


@pytest.mark.parametrize(
    "body",
    [
        '{"metrics": [{"key": "a", "value": "NaN"}]}',
        '{"metrics": [{"key": "a", "value": "Infinity"}]}',
        '{"metrics": [{"key": "a", "value": NaN}]}',
        '{"metrics": [{"key": "a", "value": -Infinity}]}',
        '{"metrics": [{"key": "a", "value": 1e400}]}',
        '{"metrics": [{"key": "a", "value": 1' + "0" * 400 + "}]}",
    ],
)
def test_native_api_still_refuses_non_finite_values(scientist, body):
    run = experiments.create_run(experiments.create_experiment(name="native", actor=scientist), actor=scientist)
    response = token_client(scientist).post(f"/api/runs/{run.pk}/log-batch/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert Metric.objects.count() == 0 and LatestMetric.objects.count() == 0


def test_native_api_refusal_names_the_point_and_says_finite(scientist):
    run = experiments.create_run(experiments.create_experiment(name="native", actor=scientist), actor=scientist)
    body = {"metrics": [{"key": "a", "value": 1}, {"key": "a", "value": "NaN"}]}
    response = token_client(scientist).post(f"/api/runs/{run.pk}/log-batch/", body, format="json")
    assert response.status_code == 400
    assert "finite number" in response.json()["errors"]["metrics[1].value"][0]
    with pytest.raises(ValidationError):  # the service itself, called as scripts here call it
        experiments.log_batch(run, actor=scientist, metrics=[{"key": "a", "value": math.nan}])
    assert Metric.objects.count() == 0


def test_huge_integers_are_refused_on_the_mlflow_surface_too(mlflow, logged):
    run_id = str(logged["finite"].pk)
    huge = "1" + "0" * 400  # an integer JSON allows and no double holds
    body = f'{{"run_id": "{run_id}", "key": "x", "value": {huge}, "timestamp": 1, "step": 0}}'
    response = mlflow.post(f"{API}/runs/log-metric", body, content_type="application/json")
    assert response.status_code == 400 and strict(response.content)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert not Metric.objects.filter(key="x").exists()


# --- pages: text in tables, gaps in charts, aggregates without them -------------------------------


def test_run_page_shows_nan_and_infinities_as_text(client, scientist, logged):
    client.force_login(scientist)
    page = client.get(reverse("run-detail", args=[logged["nan-last"].pk]))
    assert page.status_code == 200
    metrics = dict(page.context["metrics"])
    assert math.isnan(metrics["loss"]) and metrics["grad"] == -math.inf
    html = page.content.decode()
    assert '<td class="num">NaN</td>' in html and '<td class="num">−∞</td>' in html
    # The folds' mean and spread are those of the finite folds (0.8 and 0.6); the NaN fold is shown as text.
    (folds,) = page.context["cross_validation"]
    assert folds["mean"] == pytest.approx(0.7) and folds["std"] == pytest.approx(0.1)
    assert "0.8, NaN, 0.6" in html
    exploded = client.get(reverse("run-detail", args=[logged["exploded"].pk]))
    assert exploded.status_code == 200 and '<td class="num">∞</td>' in exploded.content.decode()
    assert '"connectgaps":false' in html


def test_run_page_chart_has_gaps_at_the_non_finite_steps(logged):
    for name, losses in LOSSES.items():
        history = selectors.metric_history(logged[name], "loss", max_points=2000)
        figure = charts.metric_history("loss", [{"label": name, **history}])
        (trace,) = figure.data
        want = [v if math.isfinite(v) else None for v in map(as_float, losses)]
        assert list(trace.y) == want and list(trace.x) == list(range(len(losses)))
        assert trace.connectgaps is False
        strict(figure.to_json())  # None goes out as null


def test_compare_page_shows_the_text_and_marks_only_a_finite_value_best(client, scientist, logged):
    client.force_login(scientist)
    ids = [logged[name].pk for name in LOSSES]
    page = client.get(reverse("run-compare"), {"run": ids, "history": "loss"})
    assert page.status_code == 200
    html = page.content.decode()
    assert ">NaN</td>" in html and ">∞</td>" in html
    (row,) = [row for row in page.context["metric_rows"] if row["key"] == "loss"]
    finite = [2.5, 0.5]  # the latest losses that are numbers: inf-mid, finite
    assert row["best"] == (min(finite) if lower_is_better("loss") else max(finite))
    # The history chart of all four runs (PostgreSQL reads it as arrays): gaps where the points are not finite.
    traces = {trace.meta[0].split(" ", 1)[1]: list(trace.y) for trace in page.context["history_chart"].data}
    for name, losses in LOSSES.items():
        assert traces[name] == [v if math.isfinite(v) else None for v in map(as_float, losses)]


def test_run_list_filters_and_sorts_by_the_metric_without_the_nan(client, scientist, logged):
    api = token_client(scientist)

    def names(**query) -> list[str]:
        response = api.get("/api/runs/", {"page_size": 100, **query})
        assert response.status_code == 200, response.content
        return [r["name"] for r in strict(response.content)["results"]]

    # The latest losses: NaN, 2.5, +inf, 0.5. NaN is no number: no comparison holds and it sorts last,
    # like a run without the metric; +inf is greater than every number, on both databases.
    assert sorted(names(search="metrics.loss > 1")) == ["exploded", "inf-mid"]
    assert names(search="metrics.loss < 1") == ["finite"]
    assert sorted(names(search="metrics.loss != 0.5")) == ["exploded", "inf-mid"]
    assert names(ordering="metrics.loss") == ["finite", "inf-mid", "exploded", "nan-last"]
    assert names(ordering="-metrics.loss") == ["exploded", "inf-mid", "finite", "nan-last"]
    client.force_login(scientist)
    page = client.get(reverse("runs"), {"search": "metrics.loss > 1", "ordering": "metrics.loss", "metrics": "loss"})
    assert page.status_code == 200
    assert [(row["run"].name, row["metrics"]) for row in page.context["rows"]] == [
        ("inf-mid", [2.5]),
        ("exploded", [math.inf]),
    ]
    everything = client.get(reverse("runs"), {"ordering": "metrics.loss", "metrics": "loss"})
    assert everything.status_code == 200
    html = everything.content.decode()
    assert '<td class="num">NaN</td>' in html and '<td class="num">∞</td>' in html


def test_a_sweeps_best_trial_is_a_finite_one(scientist):
    experiment = experiments.create_experiment(name="sweep", actor=scientist)
    parent = experiments.create_run(experiment, actor=scientist, name="sweep")
    for name, f1 in (("nan", math.nan), ("inf", math.inf), ("good", 0.7), ("worse", 0.6)):
        child = experiments.create_run(experiment, actor=scientist, name=name, parent=parent)
        experiments.log_batch(child, actor=scientist, metrics=[{"key": "f1", "value": f1}], non_finite=True)
    summary = selectors.sweep_summary(parent, "f1")
    assert summary["best"]["run"] == Run.objects.get(name="good").pk and summary["best"]["value"] == 0.7
    response = token_client(scientist).get(f"/api/runs/{parent.pk}/", {"metric": "f1"})
    assert response.status_code == 200
    trials = {t["run"]: t["metrics"]["f1"] for t in strict(response.content)["sweep"]["trials"]}
    assert sorted(trials.values(), key=lambda v: (v is None, v)) == [0.6, 0.7, None, None]


# --- pure pieces -----------------------------------------------------------------------------------


def test_best_and_the_comparison_rows_ignore_non_finite_values():
    assert best("f1", [math.nan, math.inf, 0.5, None]) == 0.5
    assert best("val_loss", [-math.inf, 0.3, 0.2]) == 0.2
    assert best("f1", [math.nan, math.inf]) is None
    rows = comparison.metric_rows([1, 2, 3], {1: {"f1": math.nan}, 2: {"f1": 0.4}, 3: {"f1": math.inf}})
    assert rows[0]["best"] is None  # one finite value: nothing to choose between
    assert comparison.metric_rows([1, 2], {1: {"f1": math.nan}, 2: {"f1": math.nan}})[0]["best"] is None


def test_numbers_show_nan_and_infinities_as_text():
    assert [number(math.nan), number(math.inf), number(-math.inf), number(np.float64("nan"))] == [
        "NaN",
        "∞",
        "−∞",
        "NaN",
    ]
    assert number(None) == "—" and number(0.25) == "0.25"


def test_downsampling_keeps_the_gaps_and_ignores_them_as_extremes():
    rng = np.random.default_rng(3)
    n, max_points = 20_000, 1000
    steps, values = np.arange(n), rng.normal(0, 1, n)
    values[5_000], values[12_000] = 40.0, -40.0
    values[[100, 101, 7_777, 15_000]] = [np.nan, np.inf, -np.inf, np.nan]
    kept_steps, kept_values = downsample.min_max(steps, values, max_points)
    assert len(kept_steps) <= max_points and np.all(np.diff(kept_steps) > 0)
    assert np.array_equal(values[kept_steps], kept_values, equal_nan=True)
    assert {5_000, 12_000} <= set(kept_steps.tolist())
    finite = kept_values[np.isfinite(kept_values)]
    assert finite.max() == 40.0 and finite.min() == -40.0
    # Every run of non-finite points leaves at least one gap behind: a bucket keeps its first one.
    gaps = set(kept_steps[~np.isfinite(kept_values)].tolist())
    assert 100 in gaps and 7_777 in gaps and 15_000 in gaps
    all_gaps, _ = downsample.min_max(steps, np.full(n, np.nan), max_points)
    assert 2 < len(all_gaps) <= max_points


def test_a_history_without_a_finite_point_draws_no_empty_chart(scientist):
    experiment = experiments.create_experiment(name="gaps", actor=scientist)
    run, other = (experiments.create_run(experiment, actor=scientist, name=name) for name in ("all-nan", "some"))
    experiments.log_batch(
        run, actor=scientist, metrics=[{"key": "x", "value": math.nan, "step": s} for s in range(3)], non_finite=True
    )
    experiments.log_batch(
        other,
        actor=scientist,
        metrics=[{"key": "x", "value": v, "step": s} for s, v in enumerate([1, math.inf])],
        non_finite=True,
    )
    alone = selectors.metric_history(run, "x", max_points=100)
    assert [p["value"] for p in alone["points"]] == [None, None, None]
    assert charts.metric_history("x", [{"label": "r", **alone}]) is None
    owners, steps, values = metric_store.read_points([run.pk, other.pk], "x")
    assert owners.tolist() == [run.pk] * 3 + [other.pk] * 2 and steps.tolist() == [0, 1, 2, 0, 1]
    assert np.isnan(values[:3]).all() and values[3:].tolist() == [1.0, math.inf]
    both = selectors.metric_histories([run.pk, other.pk], "x", max_points=100)
    figure = charts.metric_history("x", [{"label": str(pk), **both[pk]} for pk in (run.pk, other.pk)])
    assert [(trace.meta[0], list(trace.y)) for trace in figure.data] == [(str(other.pk), [1.0, None])]


# --- the registry and the migration ---------------------------------------------------------------


def test_a_registered_versions_metrics_are_the_finite_ones(scientist, credit, django_capture_on_commit_callbacks):
    from registry import services as registry

    experiment, version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = experiments.start_training(
            experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    stamp = datetime.now(UTC)
    metric_store.insert_points(run.pk, [("diverged", math.nan, 1, stamp), ("exploded", math.inf, 1, stamp)])
    model = registry.create_model(name="credit", actor=scientist)
    registered = registry.register_version(model, run, actor=scientist)
    registered.refresh_from_db()
    assert "diverged" not in registered.metrics and "exploded" not in registered.metrics
    assert registered.metrics["f1"] == LatestMetric.objects.get(run=run, key="f1").value


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="only PostgreSQL could hold a NaN")
def test_the_migration_turns_stored_nans_into_nulls(scientist):
    from importlib import import_module

    from django.apps import apps

    run = experiments.create_run(experiments.create_experiment(name="old", actor=scientist), actor=scientist)
    table = connection.ops.quote_name(Metric._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (run_id, key, value, step, timestamp) VALUES (%s, 'x', 'NaN'::float8, 0, now()),"
            " (%s, 'x', 'Infinity'::float8, 1, now())",
            [run.pk, run.pk],
        )
    with connection.schema_editor() as editor:
        import_module("experiments.migrations.0003_non_finite_metric_values").nan_to_null(apps, editor)
    stored = list(Metric.objects.filter(run=run).order_by("step").values_list("value", flat=True))
    assert stored == [None, math.inf]
