"""The kernel's one-way helpers: schema validation, the permission check, page refusals."""

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import RequestFactory
from rest_framework import serializers

from mlops_site import permissions, ui
from mlops_site.errors import Conflict
from mlops_site.forms import CreateTokenForm
from mlops_site.schemas import validate


class Point(serializers.Serializer):
    value = serializers.FloatField()


class Batch(serializers.Serializer):
    name = serializers.CharField(max_length=5)
    thresholds = serializers.DictField(child=serializers.FloatField())
    points = Point(many=True)


def test_validate_names_nested_fields_dotted_and_returns_clean_data():
    with pytest.raises(ValidationError) as caught:
        validate(Batch, {"name": "too long", "thresholds": {"psi": "x"}, "points": [{"value": 1}, {"value": "a"}]})
    assert set(caught.value.message_dict) == {"name", "thresholds.psi", "points[1].value"}
    clean = validate(Batch, {"name": "ok", "thresholds": {"psi": "0.2"}, "points": [{"value": 3}]})
    assert clean["thresholds"] == {"psi": 0.2} and clean["points"][0]["value"] == 3.0
    with pytest.raises(ValidationError) as caught:
        validate(Batch, "not an object")
    assert "non_field_errors" in caught.value.message_dict


def test_require_lets_the_platform_through_and_refuses_a_person_without_the_permission(scientist, reviewer):
    permissions.require(None, "mlops_site.add_job")
    permissions.require(scientist, "mlops_site.add_job")
    with pytest.raises(PermissionDenied, match="no way"):
        permissions.require(reviewer, "experiments.add_run", "no way")


def _request():
    request = RequestFactory().post("/")
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_service_errors_puts_field_errors_on_the_form_and_conflicts_in_messages(db):
    form = CreateTokenForm({"name": "x", "expires_in_days": 5})
    form.is_valid()
    with ui.service_errors(None, form) as call:
        raise ValidationError({"name": "Taken.", "elsewhere": "Odd."})
    assert call.failed and form.errors["name"] == ["Taken."]
    assert "elsewhere: Odd." in form.non_field_errors()

    request = _request()
    with ui.service_errors(request) as call:
        raise Conflict("Already running.")
    assert call.messages == ["Already running."]
    assert [str(m) for m in request._messages] == ["Already running."]

    with ui.service_errors(request) as call:
        pass
    assert not call.failed


def test_service_errors_leaves_permission_denied_and_bugs_alone_unless_asked():
    with pytest.raises(PermissionDenied), ui.service_errors(_request()):
        raise PermissionDenied("no")
    with pytest.raises(KeyError), ui.service_errors(_request(), denied="message"):
        raise KeyError("bug")
    with ui.service_errors(_request(), denied="message") as call:
        raise PermissionDenied("no")
    assert call.messages == ["no"]


def test_job_list_sorts_by_the_header_and_keeps_the_sort_in_the_filter_form(client, admin_user):
    from mlops_site.models import Job

    for kind in ("b.kind", "a.kind", "c.kind"):
        Job.objects.create(kind=kind, task="x", title=kind, created_by=admin_user)
    client.force_login(admin_user)
    page = client.get("/jobs/?sort=kind").content.decode()
    assert page.index("a.kind") < page.index("b.kind") < page.index("c.kind")
    assert 'type="hidden" name="sort" value="kind"' in page
    fallback = client.get("/jobs/?sort=nonsense").content.decode()  # unknown key: newest first, no error
    assert fallback.index("c.kind") < fallback.index("a.kind") < fallback.index("b.kind")
