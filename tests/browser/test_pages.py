"""Every role logs in and visits every navigation page in a real browser: no server or console errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops_site import roles
from tests.browser.charts import drawn
from tests.builders import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAV_PAGES = ["Datasets", "Experiments", "Models", "Approvals", "Deployments", "Monitoring", "Jobs", "Audit", "API docs"]
SCREENSHOTS = os.environ.get("SCREENSHOTS_DIR")


def watch(page) -> list[str]:
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}") if r.status >= 500 else None)
    return problems


def log_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def shot(page, name: str, *, full_page: bool = True) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=full_page)


@pytest.mark.parametrize("role", [roles.DATA_SCIENTIST, roles.REVIEWER, roles.ADMIN])
def test_role_visits_every_page_without_errors(live_server, page, role):
    make_user(f"user-{role}", role, is_staff=role == roles.ADMIN)
    problems = watch(page)
    log_in(page, live_server.url, f"user-{role}")

    drawn(page, "#jobs-per-day", timeout=15_000)
    assert "Jobs per day" in page.inner_text("#jobs-per-day")

    for label in NAV_PAGES:
        page.click(f"nav.nav >> text={label}")
        page.wait_for_load_state("networkidle")
        if label == "API docs":  # Swagger UI, served from our static files
            page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
        else:
            assert page.locator("main h1").first.is_visible(), label
    assert problems == []


def test_self_check_from_dashboard_to_finished_job(live_server, page):
    make_user("dana", roles.DATA_SCIENTIST)
    problems = watch(page)
    log_in(page, live_server.url, "dana")
    page.click("text=Run a platform self-check")
    page.wait_for_selector("#job-status .badge-succeeded", timeout=30_000)
    assert "cv_accuracy_mean" in page.inner_text("#job-result")
    shot(page, "job-detail")
    page.click("nav.nav >> text=Jobs")
    assert "Platform self-check" in page.inner_text("#job-table")
    shot(page, "jobs")
    page.goto(f"{live_server.url}/")
    drawn(page, "#jobs-per-day")
    shot(page, "dashboard")
    page.goto(f"{live_server.url}/audit/")
    shot(page, "audit")
    page.goto(f"{live_server.url}/accounts/profile/")
    page.fill("#id_name", "laptop script")
    page.click("text=Create token")
    assert len(page.inner_text("pre.token").strip()) > 30
    shot(page, "profile")
    assert problems == []


def test_user_without_role_sees_a_clear_refusal(live_server, page):
    make_user("newcomer")
    log_in(page, live_server.url, "newcomer")
    response = page.goto(f"{live_server.url}/audit/")
    assert response.status == 403
    assert "Ask an admin" in page.inner_text("main")
