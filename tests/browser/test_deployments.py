"""An admin sends a share of traffic to a canary, promotes it and rolls back, in the browser."""

from __future__ import annotations

import pytest

from deployments import serving
from deployments.models import Deployment, Environment
from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from mlops_site import roles
from registry import services as registry_services
from tests.browser.charts import drawn
from tests.browser.test_pages import log_in, shot, watch
from tests.builders import make_user, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_canary_promote_and_rollback(live_server, page):
    # Transactional tests flush the tables between tests, the migration's environments included.
    for name in ("staging", "production"):
        Environment.objects.get_or_create(name=name, defaults={"stage": name})
    dana = make_user("dana", roles.DATA_SCIENTIST)
    rui = make_user("rui", roles.REVIEWER)
    make_user("ada", roles.ADMIN, is_staff=True)
    dataset = experiment_services.create_dataset(name="credit", actor=dana)
    frame = credit_scoring_frame(rows=1000, seed=5).drop(columns=["customer_id"])
    version, _ = experiment_services.upload_version(
        dataset,
        upload(content=frame[frame["defaulted"].notna()].to_csv(index=False).encode()),
        actor=dana,
        target="defaulted",
    )
    experiment = experiment_services.create_experiment(name="credit default", actor=dana)
    model = registry_services.create_model(name="credit-default", actor=dana)
    versions = []
    for algorithm in ("logistic_regression", "random_forest"):
        run = experiment_services.start_training(
            experiment, version, actor=dana, target="defaulted", algorithm=algorithm
        )
        run.refresh_from_db()  # trained inline: jobs run synchronously in tests
        versions.append(registry_services.register_version(model, run, actor=dana))
    promotion = registry_services.request_promotion(versions[0], "production", justification="first", actor=dana)
    promotion.refresh_from_db()
    registry_services.approve(promotion, actor=rui)
    deployment = Deployment.objects.get(environment__name="production")
    assert deployment.primary == versions[0]  # the approval deployed it
    columns = [c["name"] for c in versions[0].signature["inputs"]]
    row = frame[columns].head(1).astype(object).where(frame[columns].head(1).notna(), None).to_dict("records")
    for i in range(5):
        serving.predict(deployment, {"records": row, "entity_key": f"c{i}"})

    problems = watch(page)
    page.set_viewport_size({"width": 1300, "height": 900})
    log_in(page, live_server.url, "ada")
    page.click("nav >> text=Deployments")
    page.click("table >> text=credit-default")
    drawn(page, "#rate-chart")
    # v2 was never approved for production: a canary of it is refused, unless an admin overrides with a reason.
    page.select_option("[name=canary]", "2")
    page.fill("[name=canary_percent]", "25")
    page.click("button:has-text('Set traffic')")
    page.wait_for_selector(".message-error")
    assert "not approved for production" in page.inner_text(".messages")
    assert page.query_selector("[data-testid=override-banner]") is None
    page.select_option("[name=canary]", "2")
    page.fill("[name=canary_percent]", "25")
    traffic = page.locator("form:has(button:has-text('Set traffic'))")
    traffic.locator("[name=reason]").fill("try the forest on a quarter of traffic")
    traffic.locator("[name=override]").check()
    page.click("button:has-text('Set traffic')")
    page.wait_for_selector("text=Traffic updated.")
    assert "75 % to v1, 25 % to the canary" in page.inner_text("main")
    banner = page.inner_text("[data-testid=override-banner]")
    assert "v2" in banner and "ada" in banner and "try the forest on a quarter of traffic" in banner
    shot(page, "deployment-canary")
    # Changing the primary asks first, and says what will serve.
    page.click("button:has-text('Promote the canary')")
    page.wait_for_selector("[data-testid=confirm-change]")
    assert "from v1" in page.inner_text("[data-testid=confirm-change]")
    shot(page, "deployment-confirm")
    deployment.refresh_from_db()
    assert deployment.primary == versions[0]  # nothing changed yet
    page.click("button:has-text('Yes, change the primary')")
    page.wait_for_selector("text=The canary is now the primary version.")
    deployment.refresh_from_db()
    assert deployment.primary == versions[1] and deployment.canary is None and deployment.is_overridden
    # The model page shows the override and what each environment serves beside the registry.
    page.goto(f"{live_server.url}/models/credit-default/")
    page.wait_for_selector("[data-testid=override-banner]")
    assert "override" in page.inner_text("#serving")
    shot(page, "model-serving-override")
    page.goto(f"{live_server.url}/deployments/production/credit-default/")
    page.click("button:has-text('Roll back to the previous revision')")
    page.click("button:has-text('Yes, change the primary')")
    page.wait_for_selector("text=Rolled back to the previous revision.")
    deployment.refresh_from_db()
    assert deployment.primary == versions[0] and deployment.canary == versions[1] and deployment.canary_percent == 25
    page.wait_for_selector("td:has-text('restores r2')")
    shot(page, "deployment-rollback")
    assert problems == []
