"""Demo step: once the registry demo has deployed v1, replay a day of traffic through the real serving path.

Requests are real: rows of the demo dataset scored by the deployed pipelines and logged. Only their
timestamps are spread over the last 24 hours, so the charts have a history on a fresh install. A few
requests are malformed (they show as errors), and half of the production predictions get their true
outcome from the dataset, which monitoring will compare with.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from django.utils import timezone

from deployments.models import Deployment, Prediction
from experiments import services as experiment_services
from experiments.models import DatasetVersion
from mlops_site import demo, lazy

serving = lazy.module("deployments.serving")

MODEL_NAME = "credit-default"
TASK = "deployments.demo.send_demo_traffic"
WAIT_SECONDS = 20
GIVE_UP_AFTER = timedelta(minutes=40)
REQUESTS = {"production": 400, "staging": 60}


def create_demo_traffic(context) -> None:
    if Prediction.objects.exists():
        context.log("  demo traffic exists already")
        return
    _schedule_again(timezone.now().isoformat(), delay=10)
    context.log("  the worker replays a day of prediction traffic once the demo model is deployed")


def demo_waiting() -> str | None:
    """What the dashboard and `serve` say while the day of demo traffic is not replayed yet."""
    pending = demo.one_off_pending(TASK)
    if pending or (pending is None and not Prediction.objects.exists()):
        return "a day of prediction traffic once the model is deployed"
    return None


def _schedule_again(started: str, *, delay: int = WAIT_SECONDS) -> None:
    from django_q.models import Schedule
    from django_q.tasks import schedule

    Schedule.objects.filter(func=TASK).delete()
    schedule(TASK, started, schedule_type=Schedule.ONCE, next_run=timezone.now() + timedelta(seconds=delay))


def send_demo_traffic(started: str) -> str:
    if Prediction.objects.exists():
        return "demo traffic exists already"
    deployments = {
        d.environment.name: d
        for d in Deployment.objects.select_related("environment", "model", "primary__artifact").filter(
            model__name=MODEL_NAME, primary__isnull=False
        )
    }
    if "production" not in deployments:
        if timezone.now() - datetime.fromisoformat(started) > GIVE_UP_AFTER:
            return "gave up: the demo model was not deployed in time"
        _schedule_again(started)
        return "waiting for the demo model's deployment"

    rng = random.Random(7)
    now = timezone.now()
    sent = {}
    for environment, deployment in deployments.items():
        # Rows of the dataset version the served model was trained on, as a JSON client sends them.
        trained_on = DatasetVersion.objects.get(pk=deployment.primary.lineage["inputs"][0]["version"])
        frame = experiment_services.load_frame(trained_on)
        columns = [c["name"] for c in deployment.primary.signature["inputs"]]
        rows = frame[columns].sample(n=min(len(frame), 3000), random_state=1)
        truth = frame.loc[rows.index, "defaulted"]
        records = json.loads(rows.to_json(orient="records"))
        count = REQUESTS.get(environment, 30)
        for i in range(count):
            at = now - timedelta(hours=24) + timedelta(seconds=86_400 * (i + rng.random()) / count)
            size = 1 if rng.random() < 0.8 else rng.randint(2, 20)
            start = rng.randrange(0, len(records) - size)
            body = {"records": records[start : start + size], "entity_key": f"customer-{rng.randint(1, 500)}"}
            if rng.random() < 0.03:  # a client bug: a misspelt column
                body = {"records": [{**records[start], "credit_scor": 600}]}
            try:
                answer = serving.predict(deployment, body, request_id=f"demo-{environment}-{i}", served_at=at)
            except serving.ServingError:
                continue
            if environment == "production" and rng.random() < 0.5:
                labels = truth.iloc[start : start + size].tolist()
                for item, label in zip(answer.predictions, labels, strict=True):
                    if label == label:  # not NaN
                        Prediction.objects.filter(id=item["prediction_id"]).update(
                            ground_truth=int(label), ground_truth_at=at + timedelta(hours=1)
                        )
        sent[environment] = count
    demo.run_waiting_now()  # the drift reports wait for this traffic
    return f"replayed {sent} requests"
