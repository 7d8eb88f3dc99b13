"""A new user uploads the demo CSV, reads its quality problems, cleans it and compares the versions."""

from __future__ import annotations

import pytest

from experiments.demo_data import DEMO_RECIPE, credit_scoring_csv
from mlops_site import roles
from tests.browser.test_pages import log_in, shot, watch
from tests.builders import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_profile_clean_compare(live_server, page, tmp_path):
    import json

    make_user("dana", roles.DATA_SCIENTIST)
    problems = watch(page)
    log_in(page, live_server.url, "dana")
    page.click("nav.nav >> text=Datasets")
    page.fill("#id_new-name", "credit-scoring")
    page.click("text=Create dataset")
    page.wait_for_selector("text=No versions yet")

    csv = tmp_path / "credit_scoring_raw.csv"
    csv.write_bytes(credit_scoring_csv(rows=2000))
    page.set_input_files("#id_file", str(csv))
    page.fill("#id_target", "defaulted")
    page.click("button:has-text('Upload')")
    page.wait_for_selector("#quality table", timeout=30_000)
    quality = page.inner_text("#quality")
    assert "fail" in quality and "inconsistent" in quality.lower()
    # Charts are drawn as they come near the viewport: the last column's, far below, not yet.
    last = page.locator(".plotly-chart").last
    assert page.locator(".plotly-chart").count() > 5 and last.locator("svg.main-svg").count() == 0
    page.locator("#missing-chart").scroll_into_view_if_needed()
    page.wait_for_selector("#missing-chart svg.main-svg")
    last.scroll_into_view_if_needed()
    last.locator("svg.main-svg").first.wait_for()
    assert "distribution" in last.inner_text() or "values" in last.inner_text()  # drawn with its title
    page.set_viewport_size({"width": 1280, "height": 1400})
    page.locator("#quality").scroll_into_view_if_needed()
    shot(page, "dataset-version", full_page=False)

    page.fill("textarea[name=steps]", json.dumps(DEMO_RECIPE))
    page.click("button[value=preview]")
    page.wait_for_selector("#preview")
    page.fill("textarea[name=steps]", json.dumps(DEMO_RECIPE))
    page.click("button[value=run]")
    page.wait_for_selector("#job-status .badge-succeeded", timeout=60_000)
    page.click("text=credit-scoring v2")
    page.click("text=Compare…")
    page.select_option("select[name=other]", label="v1")
    page.click("button:has-text('Compare')")
    assert "Column statistics" in page.inner_text("main")
    shot(page, "dataset-compare", full_page=False)
    assert problems == []
