"""Experiment and run pages: list with search and columns, detail, compare, training form, reproduce."""

import pytest
from django.urls import reverse

from experiments import services
from experiments.models import Experiment, Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained(scientist, credit, django_capture_on_commit_callbacks):
    """Two trained runs (logistic regression, random forest) and a two-trial sweep, all finished."""
    experiment, version = credit
    common = {"target": "defaulted", "holdout": 0.25, "seed": 1}
    with django_capture_on_commit_callbacks(execute=True):
        logistic = services.start_training(
            experiment, version, actor=scientist, algorithm="logistic_regression", cv_folds=3, **common
        )
        forest = services.start_training(
            experiment, version, actor=scientist, algorithm="random_forest", params={"n_estimators": 20}, **common
        )
        sweep = services.start_sweep(
            experiment,
            version,
            actor=scientist,
            search="grid",
            space={"max_depth": [2, None]},
            algorithm="random_forest",
            params={"n_estimators": 10},
            **common,
        )
    for run in (logistic, forest, sweep):
        run.refresh_from_db()
        assert run.status == "finished"
    return experiment, version, logistic, forest, sweep


def test_experiment_list_counts_runs_and_creates_experiments(client, scientist, trained):
    client.force_login(scientist)
    page = client.get(reverse("experiments"))
    assert page.status_code == 200
    assert page.context["page"].object_list[0].run_count == 5  # 2 runs + sweep parent + 2 trials
    created = client.post(reverse("experiments"), {"new-name": "churn", "new-description": "who leaves"})
    assert created.status_code == 302 and Experiment.objects.filter(name="churn").exists()
    duplicate = client.post(reverse("experiments"), {"new-name": "CHURN"})
    assert duplicate.status_code == 200 and "already exists" in duplicate.content.decode()


def test_run_list_shows_chosen_columns_sorted_by_a_metric(client, scientist, trained):
    experiment, _, logistic, _, _ = trained
    client.force_login(scientist)
    page = client.get(
        reverse("runs"),
        {"experiment": experiment.pk, "metrics": "f1,roc_auc", "params": "algorithm", "ordering": "-metrics.f1"},
    )
    assert page.status_code == 200
    assert page.context["metrics"] == ["f1", "roc_auc"] and page.context["params"] == ["algorithm"]
    values = [row["metrics"][0] for row in page.context["rows"]]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=True) and len(present) == 4
    assert logistic.metrics.get(key="f1").value in present
    html = page.content.decode()
    assert "ordering=metrics.f1" in html  # the f1 header now sorts the other way


def test_run_list_search_narrows_and_a_bad_one_says_why(client, scientist, trained):
    _, _, logistic, _, _ = trained
    client.force_login(scientist)
    page = client.get(reverse("runs"), {"search": 'params.algorithm = "logistic_regression"'})
    assert [row["run"].pk for row in page.context["rows"]] == [logistic.pk]
    bad = client.get(reverse("runs"), {"search": "metrics.f1 >> 2"})
    assert bad.status_code == 200
    assert "Search:" in bad.content.decode() and bad.context["filter"].errors["search"]


def test_run_list_default_columns_prefer_the_headline_metrics(client, scientist, trained):
    client.force_login(scientist)
    page = client.get(reverse("runs"))
    assert page.context["metrics"][:2] == ["f1", "roc_auc"] and page.context["params"][0] == "algorithm"


def test_run_detail_shows_params_metrics_charts_artifacts_and_log(client, scientist, trained):
    _, version, logistic, _, _ = trained
    client.force_login(scientist)
    page = client.get(reverse("run-detail", args=[logistic.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert dict(page.context["params"])["algorithm"] == "logistic_regression"
    assert dict(page.context["metrics"])["f1"] == logistic.metrics.get(key="f1").value
    assert [row["key"] for row in page.context["cross_validation"]]  # cv folds summarised
    titles = [figure.layout.title.text for figure in page.context["figures"]]
    assert any("Confusion" in title for title in titles) and any("ROC" in title for title in titles)
    for artifact in logistic.artifacts.all():
        assert artifact.sha256 in html
    assert version.get_absolute_url() in html and "Reproduce" in html
    assert logistic.job.log and logistic.job.log.splitlines()[0] in html


def test_artifact_download_returns_the_bytes_with_the_recorded_hash(client, scientist, trained):
    import hashlib

    _, _, logistic, _, _ = trained
    artifact = logistic.artifacts.get(path="model/pipeline.skops")
    client.force_login(scientist)
    response = client.get(reverse("run-artifact", args=[logistic.pk, artifact.pk]))
    assert response.status_code == 200
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == artifact.sha256
    assert client.get(reverse("run-artifact", args=[logistic.pk + 999, artifact.pk])).status_code == 404


def test_sweep_parent_page_names_the_best_trial(client, scientist, trained):
    *_, sweep = trained
    client.force_login(scientist)
    page = client.get(reverse("run-detail", args=[sweep.pk]))
    summary = page.context["sweep"]
    scores = {child.pk: child.metrics.get(key="f1").value for child in sweep.children.all()}
    assert summary["metric"] == "f1" and summary["best"]["value"] == max(scores.values())
    assert page.context["sweep_chart"] is not None


def test_compare_highlights_differing_params_and_best_metrics(client, scientist, trained):
    _, _, logistic, forest, _ = trained
    client.force_login(scientist)
    page = client.get(reverse("run-compare"), {"run": [logistic.pk, forest.pk]})
    assert page.status_code == 200
    rows = {row["key"]: row for row in page.context["param_rows"]}
    assert rows["algorithm"]["differs"] and not rows["seed"]["differs"]
    f1 = {row["key"]: row for row in page.context["metric_rows"]}["f1"]
    assert f1["best"] == max(logistic.metrics.get(key="f1").value, forest.metrics.get(key="f1").value)
    assert page.context["bars_chart"] is not None and page.context["scatter_chart"] is not None


@pytest.mark.parametrize("runs", [[], ["1"], ["x", "y"], [str(n) for n in range(1, 23)]])
def test_compare_needs_two_to_twenty_known_runs(client, scientist, trained, runs):
    client.force_login(scientist)
    response = client.get(reverse("run-compare"), {"run": runs})
    assert response.status_code == 400 and response.context["error"]


def test_compare_unknown_run_is_a_400(client, scientist, trained):
    client.force_login(scientist)
    response = client.get(reverse("run-compare"), {"run": [trained[2].pk, 99999]})
    assert response.status_code == 400 and "99999" in response.context["error"]


def test_compare_query_count_is_bounded(client, scientist, trained, django_assert_max_num_queries):
    client.force_login(scientist)
    ids = list(Run.objects.filter(parent__isnull=True, status="finished").values_list("pk", flat=True))
    with django_assert_max_num_queries(12):
        assert client.get(reverse("run-compare"), {"run": ids}).status_code == 200


def test_training_form_queues_a_run(client, scientist, credit, django_capture_on_commit_callbacks):
    experiment, version = credit
    client.force_login(scientist)
    form = {
        "experiment": experiment.pk,
        "dataset_version": version.pk,
        "target": "defaulted",
        "algorithm": "knn",
        "params": '{"n_neighbors": 7}',
        "holdout": 0.2,
        "seed": 3,
        "mode": "single",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("run-new"), form)
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    run.refresh_from_db()
    assert run.status == "finished" and run.params.get(key="n_neighbors").value == "7"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"params": '{"n_neighbors": -3}'}, "params"),
        ({"params": "{not json"}, "params"),
        ({"target": "no_such_column"}, "target"),
        ({"experiment": "", "new_experiment": ""}, "new_experiment"),
        ({"mode": "grid", "space": ""}, "space"),
        ({"mode": "grid", "space": '{"n_neighbors": [3, "many"]}'}, "space"),
    ],
)
def test_training_form_errors_name_the_field_and_store_nothing(client, scientist, credit, change, field):
    experiment, version = credit
    client.force_login(scientist)
    form = {
        "experiment": experiment.pk,
        "dataset_version": version.pk,
        "target": "defaulted",
        "algorithm": "knn",
        "holdout": 0.2,
        "seed": 0,
        "mode": "single",
    } | change
    response = client.post(reverse("run-new"), form)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not Run.objects.exists()


def test_training_form_sweep_with_a_new_experiment(client, scientist, credit, django_capture_on_commit_callbacks):
    _, version = credit
    client.force_login(scientist)
    form = {
        "new_experiment": "knn sweep",
        "dataset_version": version.pk,
        "target": "defaulted",
        "algorithm": "knn",
        "holdout": 0.2,
        "seed": 0,
        "mode": "random",
        "space": '{"n_neighbors": [3, 5, 9, 15]}',
        "trials": 2,
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("run-new"), form)
    parent = Run.objects.get(parent__isnull=True)
    assert response.status_code == 302 and parent.experiment.name == "knn sweep"
    assert parent.children.count() == 2


def test_reproduce_button_starts_a_run_with_equal_metrics(
    client, scientist, trained, django_capture_on_commit_callbacks
):
    _, _, logistic, _, _ = trained
    client.force_login(scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("run-reproduce", args=[logistic.pk]))
    copy = Run.objects.get(reproduced_from=logistic)
    assert response.status_code == 302 and response["Location"] == copy.get_absolute_url()
    original = dict(logistic.latest_metrics.values_list("key", "value"))
    assert dict(copy.latest_metrics.values_list("key", "value")) == original


@pytest.mark.parametrize("name", ["runs", "run-new", "experiments"])
def test_pages_refuse_users_without_a_role(client, nobody, name):
    client.force_login(nobody)
    assert client.get(reverse(name)).status_code == 403


def test_reviewers_see_runs_but_cannot_train(client, reviewer, trained):
    client.force_login(reviewer)
    assert client.get(reverse("runs")).status_code == 200
    assert client.get(reverse("run-new")).status_code == 403
    assert client.post(reverse("run-reproduce", args=[trained[2].pk])).status_code == 403


def test_a_logged_evaluation_json_does_not_break_the_run_page(client, scientist, credit):
    from django.core.files.uploadedfile import SimpleUploadedFile

    experiment, _ = credit
    run = services.create_run(experiment, actor=scientist)
    upload = SimpleUploadedFile("evaluation.json", b'{"evaluation": {"confusion_matrix": {"matrix": [[1]]}}}')
    services.upload_artifact(run, upload, actor=scientist)
    client.force_login(scientist)
    assert client.get(reverse("run-detail", args=[run.pk])).status_code == 200


@pytest.mark.parametrize("query", ["experiment=%C2%B2", "version=%C2%B2", "version=99999999999999999999"])
def test_training_form_ignores_odd_query_ids(client, scientist, credit, query):
    client.force_login(scientist)
    assert client.get(f"{reverse('run-new')}?{query}").status_code == 200


def test_training_form_puts_a_taken_experiment_name_on_its_field(client, scientist, credit):
    experiment, version = credit
    client.force_login(scientist)
    form = {
        "new_experiment": experiment.name.upper(),
        "dataset_version": version.pk,
        "target": "defaulted",
        "algorithm": "knn",
        "holdout": 0.2,
        "seed": 0,
        "mode": "single",
    }
    response = client.post(reverse("run-new"), form)
    assert "already exists" in " ".join(response.context["form"].errors["new_experiment"])
    assert not Run.objects.exists()


def test_compare_refuses_out_of_range_ids(client, scientist):
    client.force_login(scientist)
    response = client.get(reverse("run-compare"), {"run": ["99999999999999999999", "1"]})
    assert response.status_code == 400
