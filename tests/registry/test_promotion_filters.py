"""A verb on a promotion answers from the promotion itself, whatever list filter the URL carries."""

import pytest

from registry import services
from registry.models import PromotionRequest
from tests.builders import token_client
from tests.registry.test_services import model, trained_run  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(scientist, model, trained_run, django_capture_on_commit_callbacks):  # noqa: F811
    version = services.register_version(model, trained_run, actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        promotion = services.request_promotion(version, "staging", justification="first", actor=scientist)
    promotion.refresh_from_db()
    return promotion


def test_approve_with_a_status_filter_in_the_url_answers_the_approved_promotion(reviewer, pending):
    answer = token_client(reviewer).post(f"/api/promotions/{pending.pk}/approve/?status=pending", {}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "approved" and answer.json()["id"] == pending.pk


def test_reject_and_withdraw_ignore_list_filters(scientist, reviewer, pending):
    answer = token_client(reviewer).post(
        f"/api/promotions/{pending.pk}/reject/?status=pending&stage=staging", {"comment": "no"}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["status"] == "rejected"
    # A filter that does not match the object does not hide it from a verb either: the state decides (409).
    again = token_client(scientist).post(f"/api/promotions/{pending.pk}/withdraw/?status=approved")
    assert again.status_code == 409
    assert PromotionRequest.objects.get().status == "rejected"


def test_list_filters_still_filter_the_list(reviewer, pending):
    client = token_client(reviewer)
    assert client.get("/api/promotions/?status=approved").json()["results"] == []
    assert [p["id"] for p in client.get("/api/promotions/?status=pending").json()["results"]] == [pending.pk]
