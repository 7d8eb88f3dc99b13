"""A service's Conflict or RateLimited on an experiments page is a message on the page, never a 500."""

import pytest
from django.urls import reverse

from experiments import services
from mlops_site.errors import Conflict, RateLimited

REFUSALS = [Conflict("Someone else changed it first."), RateLimited("Too many trainings; wait.", retry_after=60)]


def refuse(exc):
    def refused(*args, **kwargs):
        raise exc

    return refused


@pytest.mark.parametrize("exc", REFUSALS, ids=["conflict", "rate-limited"])
def test_training_page_shows_the_refusal(client, scientist, version, monkeypatch, exc):
    monkeypatch.setattr(services, "start_training_request", refuse(exc))
    client.force_login(scientist)
    form = {"new_experiment": "e", "dataset_version": version.pk, "target": "age", "algorithm": "knn"}
    page = client.post(reverse("run-new"), form | {"holdout": 0.2, "seed": 0, "mode": "single"}, follow=True)
    assert page.status_code == 200 and exc.message in page.content.decode()


@pytest.mark.parametrize("exc", REFUSALS, ids=["conflict", "rate-limited"])
def test_reproduce_shows_the_refusal(client, scientist, monkeypatch, exc):
    run = services.create_run(services.create_experiment(name="e", actor=scientist), actor=scientist)
    monkeypatch.setattr(services, "reproduce_run", refuse(exc))
    client.force_login(scientist)
    page = client.post(reverse("run-reproduce", args=[run.pk]), follow=True)
    assert page.status_code == 200 and exc.message in page.content.decode()


@pytest.mark.parametrize(
    ("url", "service", "form"),
    [
        ("experiments", "create_experiment", {"new-name": "churn"}),
        ("datasets", "create_dataset", {"new-name": "credit"}),
    ],
)
@pytest.mark.parametrize("exc", REFUSALS, ids=["conflict", "rate-limited"])
def test_create_forms_show_the_refusal(client, scientist, monkeypatch, url, service, form, exc):
    monkeypatch.setattr(services, service, refuse(exc))
    client.force_login(scientist)
    page = client.post(reverse(url), form, follow=True)
    assert page.status_code == 200 and exc.message in page.content.decode()
