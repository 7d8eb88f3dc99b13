"""A data scientist registers a version and asks for production; a reviewer approves it in the browser.

An admin's webhook receives the signed events of that story on a local HTTP server.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from playwright.sync_api import expect

from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from mlops_site import roles
from mlops_site.models import Webhook, WebhookDelivery
from mlops_site.webhooks import wire as webhooks
from registry.models import ModelVersion, PromotionRequest
from tests.browser.test_pages import log_in, shot, watch
from tests.builders import make_user, upload

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"body": body, "signature": self.headers["X-MLOps-Signature"]})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()


def log_out(page):
    page.click("header button:has-text('Log out')")


def test_register_request_review_and_approve(live_server, page, receiver):
    url, received = receiver
    dana = make_user("dana", roles.DATA_SCIENTIST)
    make_user("rui", roles.REVIEWER)
    make_user("ada", roles.ADMIN, is_staff=True)
    dataset = experiment_services.create_dataset(name="credit", actor=dana)
    frame = credit_scoring_frame(rows=1200, seed=5).drop(columns=["customer_id"])
    version, _ = experiment_services.upload_version(
        dataset,
        upload(content=frame[frame["defaulted"].notna()].to_csv(index=False).encode()),
        actor=dana,
        target="defaulted",
    )
    experiment = experiment_services.create_experiment(name="credit default", actor=dana)
    run = experiment_services.start_training(
        experiment, version, actor=dana, target="defaulted", algorithm="logistic_regression", seed=1
    )
    problems = watch(page)
    page.set_viewport_size({"width": 1300, "height": 900})

    # The admin subscribes a receiver to every event; the secret is shown once.
    log_in(page, live_server.url, "ada")
    page.goto(f"{live_server.url}/webhooks/")
    page.fill("[name=new-url]", url)
    page.fill("[name=new-description]", "CI notifications")
    page.click("text=Add webhook")
    secret = page.inner_text("pre.token").strip()
    assert len(secret) >= 32 and Webhook.objects.get().url == url
    log_out(page)

    # Dana registers the model and its first version, then asks for production.
    log_in(page, live_server.url, "dana")
    page.goto(f"{live_server.url}/models/")
    page.fill("[name=new-name]", "credit-default")
    page.click("text=Register model")
    page.wait_for_url(f"{live_server.url}/models/credit-default/")
    page.select_option("[name=run]", str(run.pk))
    page.click("button:has-text('Register as v1')")
    page.click("table >> text=v1")
    assert ModelVersion.objects.get().sha256[:12] in page.inner_text("main")
    page.select_option("#promote-stage", "production")
    page.fill("#promote-justification", "First model for loan pre-screening.")
    page.click("button:has-text('Request promotion')")
    promotion = PromotionRequest.objects.get()
    page.wait_for_url(f"{live_server.url}/approvals/{promotion.pk}/")
    text = page.inner_text("main")
    assert "Artifact hash" in text and "Champion vs challenger" in text and "no production version" in text
    assert "You opened this request" in text and not page.locator("button:has-text('Approve')").count()
    shot(page, "promotion-request")
    log_out(page)

    # Rui sees it in the queue, with its evidence, and approves.
    log_in(page, live_server.url, "rui")
    page.click("nav >> text=Approvals")
    expect(page.locator("table tbody tr")).to_have_count(1)
    shot(page, "approvals")
    page.click(f"text=#{promotion.pk}")
    page.fill("[name=comment]", "Gates pass; baseline accepted.")
    page.click("button:has-text('Approve')")
    assert "now in production" in page.inner_text(".messages")
    assert ModelVersion.objects.get().stage == "production"
    assert "Gates pass; baseline accepted." in page.inner_text("main")
    shot(page, "promotion-approved")
    page.goto(f"{live_server.url}/models/credit-default/versions/1/")
    assert "production" in page.inner_text("h1") or "production" in page.inner_text("main")
    shot(page, "model-version")
    assert problems == []

    # Every event of the story reached the receiver, signed with the secret.
    events = []
    for delivery in received:
        assert webhooks.verify(secret, delivery["signature"], delivery["body"])
        events.append(json.loads(delivery["body"])["event"])
    # The approval moved the version to production, and the production environment followed it.
    assert sorted(events) == sorted(
        [
            "model.version_created",
            "promotion.requested",
            "promotion.approved",
            "model.stage_changed",
            "deployment.changed",
        ]
    )
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
