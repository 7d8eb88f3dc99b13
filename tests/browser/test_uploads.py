"""A data scientist uploads a model trained in a notebook: infer the signature, confirm it, upload, see the version."""

from __future__ import annotations

import pytest
import skops.io as sio
from playwright.sync_api import expect

from mlops_site import roles
from registry import services
from registry.models import ModelVersion
from tests.browser.test_pages import log_in, shot, watch
from tests.builders import make_user
from tests.registry.test_uploads import boosted_classifier, frame

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_a_version_trained_elsewhere(live_server, page, tmp_path):
    dana = make_user("dana", roles.DATA_SCIENTIST)
    model = services.create_model(name="credit", actor=dana)
    sample, _ = frame(rows=8, seed=2)
    (tmp_path / "sample.csv").write_text(sample.to_csv(index=False))
    (tmp_path / "model.skops").write_bytes(sio.dumps(boosted_classifier()))
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    problems = watch(page)
    page.set_viewport_size({"width": 1300, "height": 1000})
    log_in(page, live_server.url, "dana")

    page.goto(f"{live_server.url}{model.get_absolute_url()}")
    page.click("#upload-version")
    page.set_input_files("[name=sample]", str(tmp_path / "sample.csv"))
    page.click("#infer-button")
    expect(page.locator("#inferred-columns tbody tr")).to_have_count(3)
    assert '"income"' in page.input_value("[name=signature]")
    shot(page, "version-upload-inferred")

    page.set_input_files("[name=file]", str(tmp_path / "model.pkl"))
    page.click("#upload-button")
    expect(page.locator(".form-error, .messages")).to_contain_text("pickle")
    assert not ModelVersion.objects.exists()

    page.set_input_files("[name=file]", str(tmp_path / "model.skops"))
    page.fill("[name=description]", "Gradient boosting from my notebook")
    page.click("#upload-button")
    page.wait_for_url(f"**{model.get_absolute_url()}versions/1/")
    version = ModelVersion.objects.get()
    assert version.format == "skops" and version.signature["output"]["classes"] == ["bad", "good"]
    assert "credit v1" in page.inner_text("h1")
    shot(page, "version-uploaded")
    assert problems == []
