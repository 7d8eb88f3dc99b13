"""MLflow's run filter and order_by in the site's search language (pure)."""

import pytest

from experiments import search
from mlflow_compat.search import translate_filter, translate_order


@pytest.mark.parametrize(
    ("mlflow", "site"),
    [
        ("metrics.x > 1 and params.y = 'a'", "metrics.x > 1 and params.y = 'a'"),
        ("attributes.run_name = 'child'", "attributes.name = 'child'"),
        ("run_name LIKE 'ch%'", "attributes.name LIKE 'ch%'"),
        ("attributes.run_id IN ('3', '4')", "attributes.id IN ( 3 , 4 )"),
        ("attributes.status = 'FINISHED'", "attributes.status = 'FINISHED'"),
        ("tags.`mlflow.runName` = 'p'", "attributes.name = 'p'"),
        ("tags.\"team name\" = 'v'", "tags.`team name` = 'v'"),
        ("attributes.user_id = 'sci'", "attributes.user = 'sci'"),
        ("tags.mlflow.parentRunId = '7'", "attributes.parent = 7"),
        ("tags.`mlflow.parentRunId` IN ('7', '8')", "attributes.parent IN ( 7 , 8 )"),
        ("tags.mlflow.user != 'sci'", "attributes.user != 'sci'"),
        ("tags.mlflow.parentRunId != '7'", "attributes.parent != 7 and attributes.parent > 0"),
        ("tags.mlflow.parentRunId NOT IN ('7')", "attributes.parent NOT IN ( 7 ) and attributes.parent > 0"),
        ("attributes.lifecycle_stage = 'active' and metrics.x < 2", "metrics.x < 2"),
        ("", ""),
    ],
)
def test_filters_are_renamed_into_the_sites_language(mlflow, site):
    translated = translate_filter(mlflow)
    assert translated.text == site
    search.parse(translated.text)  # and the site's parser accepts the result


def test_time_clauses_are_lifted_out():
    translated = translate_filter("attributes.start_time > 1700000000000 and metrics.x >= 0 and end_time <= 5")
    assert translated.text == "metrics.x >= 0"
    assert translated.times == [("started_at", ">", 1700000000000), ("ended_at", "<=", 5)]


@pytest.mark.parametrize(
    "bad",
    [
        "attributes.start_time > 'yesterday'",
        "datasets.name = 'x'",
        "metrics.x > 1 or metrics.y < 2",
        "attributes.artifact_uri = 'x'",
        "metrics.x >",
        "params.y = 'unterminated",
    ],
)
def test_what_cannot_be_translated_or_parsed_is_a_search_error(bad):
    with pytest.raises(search.SearchError):
        search.parse(translate_filter(bad).text)


def test_null_clauses_are_lifted_out():
    translated = translate_filter(
        "tags.team IS NULL and params.`my p` IS NOT NULL and tags.mlflow.parentRunId IS NULL and metrics.x > 1"
    )
    assert translated.text == "metrics.x > 1"
    assert translated.nulls == [("tags", "team", True), ("params", "my p", False), ("attributes", "parent", True)]
    with pytest.raises(search.SearchError):
        translate_filter("metrics.x IS NULL")


def test_order_by():
    assert translate_order(["metrics.loss DESC"]) == ["-metrics.loss"]
    assert translate_order(["attributes.start_time ASC"]) == ["started_at"]
    assert translate_order(["run_name"]) == ["name"]
    assert translate_order([]) == []
    assert translate_order(["metrics.a", "attributes.start_time DESC", "params.`my p` DESC"]) == [
        "metrics.a",
        "-started_at",
        "-params.`my p`",
    ]
    with pytest.raises(search.SearchError):
        translate_order(["metrics.a"] * 11)
