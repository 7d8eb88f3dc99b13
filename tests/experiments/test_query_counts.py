"""Every experiments list costs the same number of queries for N rows as for 2N (no query per row)."""

import pytest

from experiments.models import Dataset, Experiment, Run, RunArtifact
from tests.builders import queries, token_client
from tests.experiments import rows

pytestmark = pytest.mark.django_db
N = 3


class Lists:
    """Each list's URL for the rows made so far; `grow(start)` adds N more of what the list shows."""

    def __init__(self):
        self.dataset = self.experiment = self.parent = self.run = None
        self.runs: list[int] = []

    def datasets(self, start):
        rows.add_datasets(N, start)
        return "datasets/"

    def dataset_versions(self, start):
        if self.dataset is None:
            self.dataset = Dataset.objects.create(name="one", owner=rows.make_user("one-owner"))
        for number in range(start + 1, start + N + 1):
            rows.add_version(self.dataset, number)
        return f"datasets/{self.dataset.pk}/"

    def all_versions(self, start):
        rows.add_datasets(N, start)
        return "dataset-versions/"

    def experiments(self, start):
        rows.add_experiments(N, start)
        return "experiments/"

    def runs_list(self, start):
        version = rows.add_datasets(1, 100 + start)[0].versions.first()
        experiments = rows.add_experiments(N, start, version=version)
        self.runs += [run.pk for experiment in experiments for run in experiment.runs.all()]
        return "runs/"

    def sweep(self, start):
        if self.parent is None:
            experiment = Experiment.objects.create(name="sweep", owner=rows.make_user("sweeper"))
            self.parent = Run.objects.create(experiment=experiment, user=experiment.owner, tags={"sweep": "grid"})
        for i in range(start, start + N):
            rows.add_run(self.parent.experiment, i, parent=self.parent)
        return f"runs/{self.parent.pk}/"

    def artifacts(self, start):
        if self.run is None:
            experiment = Experiment.objects.create(name="files", owner=rows.make_user("filer"))
            self.run = rows.add_run(experiment, 0)
        for i in range(start, start + N):
            RunArtifact.objects.create(
                run=self.run, path=f"more/{i}.txt", file=f"runs/{self.run.pk}/more/{i}", size_bytes=1, sha256="0"
            )
        return f"runs/{self.run.pk}/"


PAGES = {
    "datasets": "/datasets/",
    "dataset_versions": "/{}",
    "experiments": "/experiments/",
    "runs_list": "/runs/",
    "sweep": "/{}",
    "artifacts": "/{}",
}
ENDPOINTS = {
    "datasets": "/api/datasets/",
    "dataset_versions": "/api/{}versions/",
    "all_versions": "/api/dataset-versions/",
    "experiments": "/api/experiments/",
    "runs_list": "/api/runs/",
    "sweep": "/api/{}",
    "artifacts": "/api/{}artifacts/",
}
CASES = [(name, url, False) for name, url in PAGES.items()] + [(name, url, True) for name, url in ENDPOINTS.items()]


@pytest.mark.parametrize(("kind", "template", "api"), CASES, ids=[f"{'api' if c[2] else 'page'}-{c[0]}" for c in CASES])
def test_lists_do_not_query_per_row(client, scientist, kind, template, api):
    client.force_login(scientist)
    fetch = token_client(scientist) if api else client
    lists = Lists()
    path = getattr(lists, kind)(0)
    url = template.format(path) if "{}" in template else template
    small = queries(fetch, url)
    getattr(lists, kind)(N)
    assert queries(fetch, url) == small, url


@pytest.mark.parametrize("extra", ["", "&search=metrics.f1 > 0&ordering=-metrics.f1", "&sort=name"])
def test_run_list_with_search_and_order_does_not_query_per_run(client, scientist, extra):
    client.force_login(scientist)
    lists = Lists()
    lists.runs_list(0)
    small = queries(client, f"/runs/?page=1{extra}")
    lists.runs_list(N)
    assert queries(client, f"/runs/?page=1{extra}") == small


def test_compare_does_not_query_per_run(client, scientist):
    client.force_login(scientist)
    lists = Lists()
    lists.runs_list(0)
    small = queries(client, "/runs/compare/?run=" + ",".join(map(str, lists.runs)))
    lists.runs_list(N)
    assert queries(client, "/runs/compare/?run=" + ",".join(map(str, lists.runs))) == small
