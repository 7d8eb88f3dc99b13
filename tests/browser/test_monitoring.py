"""A data scientist compares two dataset versions and reads which features drifted, in the browser."""

from __future__ import annotations

import pytest

from experiments import services as experiment_services
from mlops_site import roles
from tests.browser.test_pages import log_in, shot, watch
from tests.conftest import make_user
from tests.experiments.conftest import upload
from tests.monitoring.conftest import frame

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_compare_two_dataset_versions(live_server, page):
    dana = make_user("dana", roles.DATA_SCIENTIST)
    dataset = experiment_services.create_dataset(name="credit", actor=dana)
    versions = [
        experiment_services.upload_version(
            dataset, upload(content=frame(seed, shift).to_csv(index=False).encode()), actor=dana
        )[0]
        for seed, shift in ((1, 0.0), (2, 25_000.0))
    ]
    problems = watch(page)
    page.set_viewport_size({"width": 1300, "height": 900})
    log_in(page, live_server.url, "dana")
    page.click("nav >> text=Monitoring")
    page.click("text=Compare dataset versions")
    page.select_option("[name=reference]", str(versions[0].pk))
    page.select_option("[name=current]", str(versions[1].pk))
    page.click("button:has-text('Compare')")
    page.wait_for_selector("#scores-chart svg.main-svg")
    page.wait_for_selector("#distribution-chart svg.main-svg")
    first = page.locator("table tbody tr").first
    assert "annual_income" in first.inner_text() and "drifted" in first.inner_text()
    assert page.locator("h2:has-text('features drifted')").count() == 1
    shot(page, "drift-compare")
    page.click("table >> text=region")
    page.wait_for_selector("#distribution-chart svg.main-svg")
    assert page.locator("h2:has-text('region')").count() == 1
    assert not problems, problems
