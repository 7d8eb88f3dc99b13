"""What is served is what was approved: stage-following environments, overrides, reconciliation."""

import os

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from deployments import services
from deployments.models import Deployment
from mlops_site.models import AuditEvent, Webhook
from registry import services as registry_services
from registry.models import ModelVersion, PromotionRequest
from tests.builders import make_user, token_client
from tests.deployments.test_serving import _fresh_cache, approve, production, versions  # noqa: F401
from tests.registry.test_concurrency import race

pytestmark = pytest.mark.django_db

URL = "/api/deployments/production/credit-default/"


@pytest.fixture
def rejected(versions, scientist, reviewer, django_capture_on_commit_callbacks):  # noqa: F811
    """v2 asked for production and turned down by a reviewer."""
    with django_capture_on_commit_callbacks(execute=True):
        promotion = registry_services.request_promotion(versions[1], "production", justification="go", actor=scientist)
    promotion.refresh_from_db()
    registry_services.reject(promotion, actor=reviewer, comment="worse recall on the holdout")
    return versions[1]


def served(deployment) -> tuple:
    deployment.refresh_from_db()
    return deployment.primary_id, deployment.canary_id, deployment.canary_percent


def test_the_follower_serves_whatever_holds_the_stage_when_it_takes_the_lock(
    versions,  # noqa: F811
    scientist,
    reviewer,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    """v1 is approved first, but v2's approval lands while v1 is being verified: production ends on v2."""
    first, second = versions
    for version in versions:
        with django_capture_on_commit_callbacks(execute=True):
            registry_services.request_promotion(version, "production", justification="go", actor=scientist)
    requests = {p.version_id: p for p in PromotionRequest.objects.all()}
    with django_capture_on_commit_callbacks(execute=False):  # v1's own follower runs below, by hand
        registry_services.approve(requests[first.pk], actor=reviewer)

    verify = services.verify_version
    interleaved = []

    def slow_verify(version, deployment, *, actor):
        verify(version, deployment, actor=actor)
        if version.pk == first.pk and not interleaved:
            interleaved.append(True)  # meanwhile a second reviewer approves v2, whose follower runs at once
            with django_capture_on_commit_callbacks(execute=True):
                registry_services.approve(requests[second.pk], actor=make_user("rita", "reviewer"))

    monkeypatch.setattr(services, "verify_version", slow_verify)
    services.follow_stage_change(model="credit-default", version_id=first.pk, stage="production")

    assert interleaved
    assert ModelVersion.objects.get(stage="production") == second
    deployment = Deployment.objects.get(environment__name="production")
    assert deployment.primary == second  # on main: v1, archived by the registry
    assert services.reconcile(deployment) == "ok"


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_approving_two_versions_at_once_leave_production_serving_the_production_version(credit):
    """Real threads and connections, as two reviewers' requests: the served primary is the registry's."""
    from deployments.models import Environment
    from experiments import services as experiment_services

    for name in ("staging", "production"):  # a transactional test starts from a flushed database
        Environment.objects.get_or_create(name=name, defaults={"stage": name})
    scientist = make_user("sam", "data-scientist")
    reviewers = [make_user("rev1", "reviewer"), make_user("rev2", "reviewer")]
    experiment, dataset_version = credit
    runs = [
        experiment_services.start_training(
            experiment, dataset_version, actor=scientist, target="defaulted", algorithm=algorithm, seed=1
        )
        for algorithm in ("logistic_regression", "random_forest")
    ]
    for run in runs:
        run.refresh_from_db()
        assert run.status == "finished"
    rounds, wrong = int(os.environ.get("APPROVAL_RACE_ROUNDS", "3")), []  # more for the figures in the README
    for round_ in range(rounds):
        model = registry_services.create_model(name=f"credit-{round_}", actor=scientist)
        pair = [registry_services.register_version(model, run, actor=scientist) for run in runs]
        requests = [
            registry_services.request_promotion(v, "production", justification="go", actor=scientist) for v in pair
        ]
        assert all(PromotionRequest.objects.get(pk=r.pk).status == "pending" for r in requests)
        outcomes = race(
            *[
                lambda r=r, who=who: registry_services.approve(r, actor=who)
                for r, who in zip(requests, reviewers, strict=True)
            ]
        )
        assert all(isinstance(o, PromotionRequest) for o in outcomes), outcomes
        holder = ModelVersion.objects.get(model=model, stage="production")
        deployment = Deployment.objects.get(model=model, environment__name="production")
        if deployment.primary_id != holder.pk:
            wrong.append(round_)
    assert wrong == [], f"{len(wrong)} of {rounds} rounds served a version the registry had archived"


def test_a_rejected_version_is_refused_as_primary_and_canary_without_an_override(
    production,  # noqa: F811
    rejected,
    admin_user,
):
    before = served(production), production.revision, AuditEvent.objects.count()
    with pytest.raises(ValidationError, match="rejected"):
        services.deploy(production.environment, rejected, actor=admin_user)
    with pytest.raises(ValidationError, match="not approved for production"):
        services.set_traffic(production, actor=admin_user, canary=rejected, canary_percent=10)
    production.refresh_from_db()
    assert (served(production), production.revision, AuditEvent.objects.count()) == before
    # A shadow never answers callers: any registered version may be one.
    services.set_traffic(production, actor=admin_user, shadow=rejected)
    production.refresh_from_db()
    assert production.shadow == rejected and not production.is_overridden


def test_an_override_is_admin_only_needs_a_reason_and_is_audited_bannered_and_sent(
    client,
    production,  # noqa: F811
    rejected,
    admin_user,
    scientist,
):
    other_admin = make_user("ops", "admin", is_staff=True)
    other_admin.user_permissions.clear()
    with pytest.raises(ValidationError, match="reason"):
        services.deploy(production.environment, rejected, actor=admin_user, override=True, reason="  ")
    # change_deployment without override_deployment cannot override
    deployer = make_user("deployer")
    from django.contrib.auth.models import Permission

    deployer.user_permissions.add(Permission.objects.get(codename="change_deployment"))
    deployer = type(deployer).objects.get(pk=deployer.pk)
    with pytest.raises(PermissionDenied):
        services.deploy(production.environment, rejected, actor=deployer, override=True, reason="hotfix")
    assert served(production)[0] == production.primary_id

    services.deploy(production.environment, rejected, actor=admin_user, override=True, reason="v1 crashes on nulls")
    production.refresh_from_db()
    assert production.primary == rejected and production.is_overridden
    assert production.override_by == admin_user and production.override_reason == "v1 crashes on nulls"
    event = AuditEvent.objects.get(action="deployment.override")
    assert event.after["unapproved"] == [2] and event.comment == "v1 crashes on nulls"
    assert "deployment.override" in Webhook.EVENTS
    assert production.revisions.first().override is True

    client.force_login(scientist)
    for url in (
        "/deployments/production/credit-default/",
        "/models/credit-default/",
        "/models/credit-default/versions/2/",
    ):
        page = client.get(url).content.decode()
        assert "Override in effect" in page and "v1 crashes on nulls" in page and "adm" in page, url
    assert "Override in effect" not in client.get("/models/credit-default/versions/1/").content.decode()

    api = token_client(scientist).get(URL).json()
    assert api["override"]["versions"] == [2] and api["override"]["reason"] == "v1 crashes on nulls"


def test_a_rollback_or_an_approved_promotion_ends_the_override(
    production,  # noqa: F811
    rejected,
    versions,  # noqa: F811
    admin_user,
    scientist,
    reviewer,
    django_capture_on_commit_callbacks,
):
    services.deploy(production.environment, rejected, actor=admin_user, override=True, reason="hotfix")
    production.refresh_from_db()
    services.rollback(production, actor=admin_user, reason="hotfix did not help")
    production.refresh_from_db()
    assert production.primary == versions[0] and not production.is_overridden
    assert AuditEvent.objects.filter(action="deployment.override_ended").count() == 1

    services.set_traffic(production, actor=admin_user, canary=rejected, canary_percent=5, override=True, reason="try")
    production.refresh_from_db()
    assert production.is_overridden
    with django_capture_on_commit_callbacks(execute=True):
        promotion = registry_services.request_promotion(
            versions[1], "production", justification="fixed", actor=scientist
        )
    promotion.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):  # v2 loses to the champion: an admin's reasoned approval
        registry_services.approve(promotion, actor=admin_user, override_reason="accepted trade-off")
    production.refresh_from_db()
    assert production.primary == versions[1] and production.canary is None and not production.is_overridden


def test_the_api_refuses_an_unapproved_primary_with_the_field_and_accepts_an_admin_override(
    production,  # noqa: F811
    rejected,
    admin_user,
):
    admin = token_client(admin_user)
    revisions = production.revisions.count()
    refused = admin.patch(URL, {"primary_version": 2}, format="json")
    assert refused.status_code == 400 and "rejected" in refused.json()["errors"]["version"][0]
    no_reason = admin.patch(URL, {"primary_version": 2, "override": True}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    assert production.revisions.count() == revisions
    ok = admin.patch(URL, {"primary_version": 2, "override": True, "reason": "incident 42"}, format="json")
    assert ok.status_code == 200 and ok.json()["primary_version"] == 2
    assert ok.json()["override"]["by"] == "adm"


def test_reconcile_repairs_a_missed_stage_move_and_reports_a_deliberate_one_once(
    production,  # noqa: F811
    versions,  # noqa: F811
    scientist,
    reviewer,
    admin_user,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        promotion = registry_services.request_promotion(versions[1], "production", justification="go", actor=scientist)
    promotion.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):  # the stage event is lost (a dead web worker)
        registry_services.approve(promotion, actor=admin_user, override_reason="accepted trade-off")
    assert served(production)[0] == versions[0].pk
    assert services.reconcile_stages() == {"ok": 0, "repaired": 1, "mismatch": 0, "override": 0}
    production.refresh_from_db()
    assert production.primary == versions[1] and production.revisions.first().kind == "reconcile"
    assert AuditEvent.objects.filter(action="deployment.reconciled").count() == 1

    # An admin rolls production back to v1 (it held production before): deliberate, reported, not undone.
    services.rollback(production, actor=admin_user, reason="v2 misroutes")
    production.refresh_from_db()
    assert production.primary == versions[0]
    for _ in range(2):
        assert services.reconcile_stages()["mismatch"] == 1
    assert served(production)[0] == versions[0].pk
    mismatch = AuditEvent.objects.get(action="deployment.stage_mismatch")
    assert (mismatch.after["registry_version"], mismatch.after["served"]) == (2, 1)


def test_the_deploy_form_preselects_nothing_and_confirms_before_changing_the_primary(
    client,
    production,  # noqa: F811
    rejected,
    admin_user,
):
    client.force_login(admin_user)
    page = client.get("/deployments/production/credit-default/").content.decode()
    assert '<option value="" selected>— choose a version —</option>' in page
    assert "v2 — none, not approved for production: override only" in page
    url = "/deployments/production/credit-default/change/"
    asked = client.post(url, {"action": "deploy", "version": "2", "override": "on", "reason": "incident"})
    assert asked.status_code == 200 and "Emergency override" in asked.content.decode()
    assert served(production)[0] == production.primary_id
    client.post(url, {"action": "deploy", "version": "2", "override": "on", "reason": "incident", "confirm": "yes"})
    production.refresh_from_db()
    assert production.primary == rejected and production.is_overridden
    refused = client.post(url, {"action": "deploy", "version": "1", "confirm": "yes"}, follow=True)
    production.refresh_from_db()
    assert production.primary.number == 1 and not production.is_overridden  # v1 held production: allowed
    assert refused.status_code == 200


def test_the_model_page_shows_served_versions_beside_the_registry_and_flags_a_difference(
    client,
    production,  # noqa: F811
    versions,  # noqa: F811
    admin_user,
    scientist,
    reviewer,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        promotion = registry_services.request_promotion(versions[1], "production", justification="go", actor=scientist)
    promotion.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        registry_services.approve(promotion, actor=admin_user, override_reason="accepted trade-off")
    production.refresh_from_db()
    assert production.primary == versions[1]
    services.rollback(production, actor=admin_user, reason="v2 slow")
    client.force_login(scientist)
    page = client.get("/models/credit-default/").content.decode()
    assert "Served" in page and "differs" in page and "served v1, registry v2" in page
