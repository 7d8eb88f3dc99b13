"""Values a categorical input never had in training: flagged in the log (default) or refused, per deployment."""

# ruff: noqa: F811  (pytest fixtures imported from other test modules are redefined as arguments)

import pytest
from django.urls import reverse
from django.utils import timezone

from deployments import selectors, serving
from deployments.models import Deployment, Prediction, RequestStat
from mlops_site.models import AuditEvent
from monitoring import services as monitoring_services
from monitoring.models import Alert, Monitor
from monitoring.services import alerts
from tests.builders import token_client
from tests.deployments.test_serving import production, rows, versions  # noqa: F401

pytestmark = pytest.mark.django_db
URL = "/api/deployments/production/credit-default/predict"
DETAIL = "/api/deployments/production/credit-default/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    serving.cache.clear()
    serving.deployments.clear()
    yield
    serving.cache.clear()
    serving.deployments.clear()


@pytest.mark.parametrize("count", [10, 150], ids=["one-statement", "copy"])
def test_an_unseen_value_is_answered_and_counted_per_feature_by_default(production, scientist, credit, count):
    assert production.unseen_values == "flag"
    batch = rows(credit, count)
    batch[3] = {**batch[3], "home_ownership": "castle"}
    batch[7] = {**batch[7], "home_ownership": "boat", "purpose": "space travel"}
    response = token_client(scientist).post(URL, {"records": batch}, format="json")
    assert response.status_code == 200, response.json()
    ids = [a["prediction_id"] for a in response.json()["predictions"]]
    logged = {str(p.id): p.unseen for p in Prediction.objects.all()}
    assert logged[ids[3]] == ["home_ownership"]
    assert sorted(logged[ids[7]]) == ["home_ownership", "purpose"]
    assert [logged[i] for i in ids if i not in (ids[3], ids[7])] == [None] * (count - 2)
    summary = selectors.unseen_summary(production, None, timezone.now())
    assert summary["rows"] == count and summary["flagged"] == 2 and summary["share"] == pytest.approx(2 / count)
    assert summary["features"] == {"home_ownership": pytest.approx(2 / count), "purpose": pytest.approx(1 / count)}


def test_only_admins_set_the_policy_it_is_audited_and_bad_values_change_nothing(production, scientist, admin_user):
    assert token_client(scientist).patch(DETAIL, {"unseen_values": "refuse"}, format="json").status_code == 403
    bad = token_client(admin_user).patch(DETAIL, {"unseen_values": "ignore"}, format="json")
    assert bad.status_code == 400 and "unseen_values" in bad.json()["errors"]
    assert Deployment.objects.get(pk=production.pk).unseen_values == "flag"
    assert not AuditEvent.objects.filter(action="deployment.unseen_policy_set").exists()

    response = token_client(admin_user).patch(DETAIL, {"unseen_values": "refuse"}, format="json")
    assert response.status_code == 200 and response.json()["unseen_values"] == "refuse"
    event = AuditEvent.objects.get(action="deployment.unseen_policy_set")
    assert event.before == {"unseen_values": "flag"} and event.after == {"unseen_values": "refuse"}
    assert event.actor == admin_user


def test_under_refuse_an_unseen_value_is_a_400_naming_row_field_and_value_and_nothing_is_logged(
    production,
    scientist,
    admin_user,
    credit,
):
    client = token_client(scientist)
    assert client.post(URL, {"records": rows(credit, 2)}, format="json").status_code == 200  # cached as "flag"
    token_client(admin_user).patch(DETAIL, {"unseen_values": "refuse"}, format="json")
    before = Prediction.objects.count()
    batch = rows(credit, 3)
    batch[2] = {**batch[2], "purpose": "space travel"}
    response = client.post(URL, {"records": batch}, format="json")
    assert response.status_code == 400, response.json()
    message = response.json()["errors"]["records"][0]
    assert message.startswith("row 2, purpose:") and '"space travel"' in message
    assert Prediction.objects.count() == before
    assert RequestStat.objects.filter(status_code=400).count() == 1
    assert client.post(URL, {"records": rows(credit, 3)}, format="json").status_code == 200  # known values answer


def test_the_policy_is_set_from_the_deployment_page_by_admins_only(production, client, scientist, admin_user):
    page = production.get_absolute_url()
    change = reverse("deployment-change", args=[production.environment.name, production.model.name])
    client.force_login(scientist)
    assert "Values training never had" in client.get(page).content.decode()
    client.post(change, {"action": "unseen_values", "unseen_values": "refuse"})
    assert Deployment.objects.get(pk=production.pk).unseen_values == "flag"
    client.force_login(admin_user)
    client.post(change, {"action": "unseen_values", "unseen_values": "refuse"})
    assert Deployment.objects.get(pk=production.pk).unseen_values == "refuse"
    assert AuditEvent.objects.filter(action="deployment.unseen_policy_set", actor=admin_user).count() == 1


def test_the_unseen_share_is_an_alert_metric_and_is_shown_on_the_monitor_page(
    production,
    scientist,
    admin_user,
    credit,
    client,
):
    monitor = Monitor.objects.get(deployment=production)
    monitor.min_rows = 1
    monitor.save()
    rule = alerts.create_rule(
        monitor,
        {"name": "new spellings", "metric": "unseen_share", "comparison": "gt", "threshold": 0.1},
        actor=scientist,
    )
    batch = rows(credit, 20)
    for i in (1, 5, 9):
        batch[i] = {**batch[i], "region": "atlantis"}
    assert token_client(scientist).post(URL, {"records": batch}, format="json").status_code == 200
    assert alerts.rule_value(rule, timezone.now()) == pytest.approx(3 / 20)
    monitoring_services.run_monitor(monitor)
    alert = Alert.objects.get(rule=rule)
    assert alert.value == pytest.approx(3 / 20) and alert.status == "open"

    client.force_login(scientist)
    page = client.get(f"/monitoring/monitors/{monitor.pk}/").content.decode()
    assert 'id="unseen-share"' in page and "3 of the window" in page and "15.0%" in page
