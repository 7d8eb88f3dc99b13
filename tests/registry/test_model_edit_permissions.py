"""A model's description and tags, like its gates, are changed by its owner or an admin only (API and page)."""

import pytest

from mlops_site import roles
from mlops_site.models import AuditEvent
from registry import services
from registry.models import RegisteredModel
from tests.builders import PASSWORD, make_user, token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(scientist):
    return services.create_model(name="churn", description="first", actor=scientist)


@pytest.fixture
def editors(users_by_role):
    return {
        **users_by_role,
        "owner": users_by_role["data-scientist"],
        "other-scientist": make_user("sci2", roles.DATA_SCIENTIST),
    }


@pytest.mark.parametrize(
    "who, status",
    [("owner", 200), ("admin", 200), ("other-scientist", 403), ("reviewer", 403), ("none", 403)],
)
def test_patch_description_and_tags_per_role(model, editors, who, status):
    client = token_client(editors[who])
    events = AuditEvent.objects.count()

    response = client.patch(
        f"/api/models/{model.name}/", {"description": "changed", "tags": {"team": "x"}}, format="json"
    )

    assert response.status_code == status, response.content
    model.refresh_from_db()
    if status == 200:
        assert (model.description, model.tags) == ("changed", {"team": "x"})
        assert AuditEvent.objects.filter(action="model.updated").count() == 1
    else:
        assert response.json()["code"] == "permission_denied"
        assert (model.description, model.tags) == ("first", {})
        assert AuditEvent.objects.count() == events


def test_another_scientist_cannot_edit_on_the_page_and_sees_no_edit_form(client, model):
    make_user("sci2", roles.DATA_SCIENTIST)
    client.login(username="sci2", password=PASSWORD)

    page = client.get(f"/models/{model.name}/")
    response = client.post(f"/models/{model.name}/edit/", {"description": "changed", "tags": "team=x"}, follow=True)

    assert page.status_code == 200 and "Edit description and tags" not in page.content.decode()
    assert "owner or an admin" in response.content.decode()
    assert RegisteredModel.objects.get(pk=model.pk).description == "first"


def test_the_owner_sees_the_edit_form(client, model, scientist):
    client.login(username=scientist.username, password=PASSWORD)
    assert "Edit description and tags" in client.get(f"/models/{model.name}/").content.decode()


def test_tag_values_of_any_type_are_kept_as_text_cut_at_500_characters(admin_user):
    services.create_model(name="tagged", actor=admin_user)
    api = token_client(admin_user)
    answer = api.patch(
        "/api/models/tagged/",
        {"tags": {"flag": True, "n": 3, "long": "x" * 600}, "description": "d" * 6000},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["tags"] == {"flag": "True", "n": "3", "long": "x" * 500}
    assert len(body["description"]) == 6000
