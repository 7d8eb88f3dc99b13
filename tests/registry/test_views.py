"""Registry pages: model list and creation, model detail with versions, registering a run."""

import pytest
from django.urls import reverse

from registry import services
from registry.models import ModelVersion, RegisteredModel
from tests.registry.test_services import model, second_run, trained_run  # noqa: F401

pytestmark = pytest.mark.django_db


def test_model_list_creates_and_lists(client, scientist):
    client.force_login(scientist)
    response = client.post(reverse("models"), {"new-name": "churn", "new-description": "who leaves"})
    assert response.status_code == 302 and response["Location"] == reverse("model-detail", args=["churn"])
    page = client.get(reverse("models"))
    assert [m.name for m in page.context["page"].object_list] == ["churn"]
    again = client.post(reverse("models"), {"new-name": "CHURN"})
    assert again.status_code == 200 and "already registered" in again.content.decode()


def test_register_a_run_from_the_model_page_and_chart_versions(client, scientist, model, trained_run, second_run):  # noqa: F811
    client.force_login(scientist)
    page = client.get(reverse("model-detail", args=[model.name]))
    assert trained_run in list(page.context["recent_runs"])
    response = client.post(reverse("model-register", args=[model.name]), {"run": trained_run.pk})
    assert response.status_code == 302
    client.post(reverse("model-register", args=[model.name]), {"run": second_run.pk})
    page = client.get(reverse("model-detail", args=[model.name]))
    assert [v.number for v in page.context["versions"]] == [2, 1]
    chart = page.context["chart"]
    assert chart is not None and list(chart.data[0].x) == ["v1", "v2"]
    assert list(chart.data[0].y) == [ModelVersion.objects.get(number=1).metrics["f1"]] * 2


def test_registering_an_unknown_run_says_why_and_stores_nothing(client, scientist, model):  # noqa: F811
    client.force_login(scientist)
    response = client.post(reverse("model-register", args=[model.name]), {"run": 99999}, follow=True)
    assert "valid choice" in response.content.decode() and not ModelVersion.objects.exists()


def test_reviewers_see_models_but_cannot_register(client, reviewer, scientist, model, trained_run):  # noqa: F811
    services.register_version(model, trained_run, actor=scientist)
    client.force_login(reviewer)
    assert client.get(reverse("models")).status_code == 200
    assert client.get(reverse("model-detail", args=[model.name])).status_code == 200
    assert client.post(reverse("model-register", args=[model.name]), {"run": trained_run.pk}).status_code == 403
    assert client.post(reverse("models"), {"new-name": "mine"}).status_code == 403
    assert RegisteredModel.objects.count() == 1 and ModelVersion.objects.count() == 1


def test_unknown_model_is_a_404(client, scientist):
    client.force_login(scientist)
    assert client.get(reverse("model-detail", args=["nope"])).status_code == 404
