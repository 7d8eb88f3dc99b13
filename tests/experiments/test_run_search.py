"""Finding runs: search expressions, ordering by metrics and params, filters, latest metric values."""

from datetime import UTC, datetime

import pytest

from experiments import services
from experiments.models import LatestMetric, Run
from tests.builders import token_client

pytestmark = pytest.mark.django_db

ALGORITHMS = ["random_forest", "knn", "logistic_regression"]


@pytest.fixture
def runs(scientist, version):
    """30 runs with known params, metrics and tags; a few lack f1 or the tag."""
    experiment = services.create_experiment(name="search", actor=scientist)
    other = services.create_experiment(name="other", actor=scientist)
    made = []
    for i in range(30):
        run = services.create_run(
            experiment if i % 10 else other,
            actor=scientist,
            name=f"run {i}",
            tags={"team": "vision" if i % 3 == 0 else "nlp"} if i % 7 else {},
            input_versions=[version.pk] if i % 2 else [],
        )
        metrics = [{"key": "loss", "value": 1.0 / (i + 1), "step": s} for s in range(3)]
        if i % 5:
            metrics.append({"key": "f1", "value": round(0.5 + (i * 37 % 50) / 100, 2)})
        services.log_batch(
            run,
            actor=scientist,
            params={"algorithm": ALGORITHMS[i % 3], "max_depth": i % 12, "lr": "1e-3" if i % 4 else "auto"},
            metrics=metrics,
        )
        if i % 4 == 0:
            services.finish_run(run, actor=scientist)
        made.append(run)
    return made


def expected(runs, predicate):
    """Ids of runs for which predicate(params, metrics, run) holds, computed from the database rows."""
    found = []
    for run in runs:
        params = dict(run.params.values_list("key", "value"))
        metrics = dict(LatestMetric.objects.filter(run=run).values_list("key", "value"))
        run.refresh_from_db()
        if predicate(params, metrics, run):
            found.append(run.pk)
    return sorted(found)


def search(client, expression, **extra):
    response = client.get("/api/runs/", {"search": expression, "page_size": 1000, **extra})
    assert response.status_code == 200, response.json()
    return response.json()


def ids(body):
    return sorted(row["id"] for row in body["results"])


def test_the_issue_example_matches_exactly_the_runs_it_describes(scientist, runs):
    body = search(token_client(scientist), 'metrics.f1 > 0.8 and params.algorithm = "random_forest"')
    want = expected(runs, lambda p, m, r: m.get("f1", 0) > 0.8 and p["algorithm"] == "random_forest")
    assert want and ids(body) == want
    row = body["results"][0]
    assert row["params"]["algorithm"] == "random_forest" and row["metrics"]["f1"] > 0.8


@pytest.mark.parametrize(
    ("expression", "predicate"),
    [
        ("metrics.f1 >= 0.9", lambda p, m, r: m.get("f1", -1) >= 0.9),
        ("metrics.f1 != 0.87", lambda p, m, r: "f1" in m and m["f1"] != 0.87),
        ("metrics.loss < 0.05", lambda p, m, r: m["loss"] < 0.05),
        ("params.max_depth > 9", lambda p, m, r: int(p["max_depth"]) > 9),  # numeric: "10" > "9"
        ("params.max_depth = 3", lambda p, m, r: p["max_depth"] == "3"),
        ("params.lr = 0.001", lambda p, m, r: p["lr"] == "1e-3"),  # "1e-3" is the number 0.001
        ('params.lr = "auto"', lambda p, m, r: p["lr"] == "auto"),
        ('params.algorithm like "%regression"', lambda p, m, r: p["algorithm"].endswith("regression")),
        ('params.algorithm ilike "KNN"', lambda p, m, r: p["algorithm"] == "knn"),
        ('params.algorithm in ("knn", "random_forest")', lambda p, m, r: p["algorithm"] in ("knn", "random_forest")),
        ('params.algorithm not in ("knn")', lambda p, m, r: p["algorithm"] != "knn"),
        ('tags.team = "vision"', lambda p, m, r: r.tags.get("team") == "vision"),
        ('tags.team != "vision"', lambda p, m, r: r.tags.get("team") == "nlp"),
        ('attributes.status = "finished"', lambda p, m, r: r.status == "finished"),
        ('attributes.name like "run 1%"', lambda p, m, r: r.name.startswith("run 1")),
        (
            'attributes.status = "running" and metrics.f1 < 0.7 and tags.team = "nlp"',
            lambda p, m, r: r.status == "running" and m.get("f1", 9) < 0.7 and r.tags.get("team") == "nlp",
        ),
    ],
)
def test_each_operator_selects_what_python_selects(scientist, runs, expression, predicate):
    want = expected(runs, predicate)
    assert want, "the fixture should give every expression something to find"
    assert ids(search(token_client(scientist), expression)) == want


def test_filters_combine_with_search(scientist, runs, version):
    client = token_client(scientist)
    experiment = runs[1].experiment
    body = search(client, "metrics.f1 > 0.6", experiment=experiment.pk, tag="team=nlp", dataset_version=version.pk)
    want = expected(
        runs,
        lambda p, m, r: (
            m.get("f1", 0) > 0.6
            and r.experiment_id == experiment.pk
            and r.tags.get("team") == "nlp"
            and version.pk in list(r.input_versions.values_list("pk", flat=True))
        ),
    )
    assert want and ids(body) == want
    tagged = client.get("/api/runs/", {"tag": "team", "page_size": 1000}).json()
    assert ids(tagged) == expected(runs, lambda p, m, r: "team" in r.tags)


def test_ordering_by_a_metric_puts_runs_without_it_last(scientist, runs):
    client = token_client(scientist)
    for ordering, reverse in (("metrics.f1", False), ("-metrics.f1", True)):
        body = client.get("/api/runs/", {"ordering": ordering, "page_size": 1000}).json()
        values = [row["metrics"].get("f1") for row in body["results"]]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=reverse)
        assert values[len(present) :] == [None] * (len(values) - len(present))
        assert len(present) == 24


def test_ordering_by_a_param_is_numeric_when_the_values_are_numbers(scientist, runs):
    body = token_client(scientist).get("/api/runs/", {"ordering": "-params.max_depth", "page_size": 1000}).json()
    depths = [int(row["params"]["max_depth"]) for row in body["results"]]
    assert depths == sorted(depths, reverse=True) and depths[0] == 11


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"search": "metrics.f1 >"}, "search"),
        ({"search": "metrics.f1 > 0.8 or params.x = 1"}, "search"),
        ({"search": 'metrics.f1 = "0.8"'}, "search"),
        ({"search": "foo.bar = 1"}, "search"),
        ({"ordering": "metrics."}, "ordering"),
        ({"ordering": "colour"}, "ordering"),
    ],
)
def test_a_bad_expression_is_a_400_naming_the_parameter(scientist, runs, params, fragment):
    response = token_client(scientist).get("/api/runs/", params)
    assert response.status_code == 400
    body = response.json()
    assert fragment in body["errors"] and body["errors"][fragment][0]


def test_latest_metric_keeps_the_highest_step_whatever_the_arrival_order(scientist, version):
    run = services.create_run(services.create_experiment(name="order", actor=scientist), actor=scientist)
    stamp = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    later = datetime(2026, 1, 2, tzinfo=UTC).isoformat()
    services.log_batch(run, actor=scientist, metrics=[{"key": "acc", "value": 0.9, "step": 5, "timestamp": stamp}])
    services.log_batch(run, actor=scientist, metrics=[{"key": "acc", "value": 0.1, "step": 3, "timestamp": later}])
    assert LatestMetric.objects.get(run=run, key="acc").value == 0.9
    services.log_batch(run, actor=scientist, metrics=[{"key": "acc", "value": 0.7, "step": 5, "timestamp": later}])
    assert LatestMetric.objects.get(run=run, key="acc").value == 0.7  # same step, later: replaces
    services.log_batch(
        run,
        actor=scientist,
        metrics=[
            {"key": "acc", "value": 0.2, "step": 9, "timestamp": stamp},
            {"key": "acc", "value": 0.3, "step": 8, "timestamp": later},
        ],
    )
    latest = LatestMetric.objects.get(run=run, key="acc")
    assert (latest.value, latest.step) == (0.2, 9)


def test_a_rejected_batch_leaves_no_latest_value(scientist):
    run = services.create_run(services.create_experiment(name="atomic", actor=scientist), actor=scientist)
    client = token_client(scientist)
    response = client.post(
        f"/api/runs/{run.pk}/log-batch/",
        {"metrics": [{"key": "acc", "value": 0.5}, {"key": "acc", "value": "high"}]},
        format="json",
    )
    assert response.status_code == 400
    assert not LatestMetric.objects.filter(run=run).exists() and not run.metrics.exists()


def test_run_list_api_query_count_does_not_grow_with_the_page(scientist, runs, django_assert_max_num_queries):
    client = token_client(scientist)
    with django_assert_max_num_queries(12):
        small = client.get("/api/runs/", {"page_size": 2, "search": "metrics.loss > 0", "ordering": "-metrics.f1"})
    with django_assert_max_num_queries(12):
        large = client.get("/api/runs/", {"page_size": 30, "search": "metrics.loss > 0", "ordering": "-metrics.f1"})
    assert len(small.json()["results"]) == 2 and len(large.json()["results"]) == 30
    assert Run.objects.count() == 30


def test_histories_of_several_runs_read_back_in_step_order(scientist):
    """The compare page's one-query read (packed arrays on PostgreSQL) returns each run's points by step."""
    import random

    import numpy as np

    from experiments import downsample, selectors

    experiment = services.create_experiment(name="histories", actor=scientist)
    made, expected_points = [], {}
    rng = random.Random(3)
    for n in (1500, 40, 0):
        run = services.create_run(experiment, actor=scientist)
        points = [{"key": "loss", "value": rng.uniform(-1, 1), "step": step} for step in range(n)]
        rng.shuffle(points)  # logged out of order, in two batches
        services.log_batch(run, actor=scientist, metrics=points[: n // 2])
        services.log_batch(run, actor=scientist, metrics=points[n // 2 :])
        services.log_batch(run, actor=scientist, metrics=[{"key": "other", "value": 1.0}])
        made.append(run.pk)
        expected_points[run.pk] = sorted((p["step"], p["value"]) for p in points)
    histories = selectors.metric_histories(made, "loss", max_points=200)
    for run_id in made:
        steps = np.array([s for s, _ in expected_points[run_id]], dtype=np.int64)
        values = np.array([v for _, v in expected_points[run_id]])
        want_steps, want_values = downsample.min_max(steps, values, 200)
        got = histories[run_id]
        assert got["total_points"] == len(steps)
        assert got["steps"].tolist() == want_steps.tolist() and got["values"].tolist() == want_values.tolist()
    assert histories[made[0]]["downsampled"] and not histories[made[1]]["downsampled"]


@pytest.mark.parametrize(
    "params",
    [
        {"search": "metrics.f1 > 1" + "0" * 400},
        {"search": "params.max_depth = 99999999999999999999"},
        {"search": "attributes.id in (99999999999999999999)"},
        {"search": 'params.algorithm like "%a%b%c%d%e%"'},
        {"experiment": "99999999999999999999"},
        {"dataset_version": "-1"},
    ],
)
def test_out_of_range_input_is_a_400_not_a_500(scientist, runs, params):
    response = token_client(scientist).get("/api/runs/", params)
    assert response.status_code == 400, response.content


def test_like_collapses_wildcards_and_crosses_newlines(scientist, runs):
    client = token_client(scientist)
    run = runs[1]  # still running
    services.log_batch(run, actor=scientist, params={"note": "first line\nsecond line"})
    assert ids(search(client, 'params.note like "first%%%%%line"')) == [run.pk]
    assert ids(search(client, 'params.note like "%second line"')) == [run.pk]
    assert ids(search(client, 'params.note like "%first"')) == []


def test_dataset_version_not_equal_is_the_negation_of_equal(scientist, runs, version):
    client = token_client(scientist)
    uses = set(ids(search(client, f"attributes.dataset_version = {version.pk}")))
    others = set(ids(search(client, f"attributes.dataset_version != {version.pk}")))
    assert uses and others and uses.isdisjoint(others) and uses | others == {run.pk for run in runs}


def test_a_metric_key_with_a_space_sorts_from_its_column_header(client, scientist, runs):
    for i, run in enumerate(runs[1:4]):  # runs[0] is finished
        services.log_batch(run, actor=scientist, metrics=[{"key": "val loss", "value": float(i)}])
    client.force_login(scientist)
    page = client.get("/runs/", {"metrics": "val loss", "ordering": "-metrics.`val loss`"})
    assert not page.context["filter"].errors
    assert [row["metrics"][0] for row in page.context["rows"][:3]] == [2.0, 1.0, 0.0]
    assert "ordering=metrics.%60val+loss%60" in page.content.decode()


def test_page_with_a_bad_search_lists_no_runs(client, scientist, runs):
    client.force_login(scientist)
    page = client.get("/runs/", {"search": "metrics.f1 >"})
    assert page.status_code == 200 and page.context["rows"] == [] and page.context["filter"].errors
