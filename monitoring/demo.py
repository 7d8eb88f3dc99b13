"""Demo step: once the deployments demo has replayed its day of traffic, production drifts, and the monitor runs.

The last six hours get extra production requests whose customers differ from the training data (higher
incomes, lower credit scores, more debt consolidation loans) and whose true outcomes are noisier, all
through the real serving path. The production monitor's window becomes those six hours, it gets alert
rules, the model gets a retraining policy, the production monitor runs as its schedule would have
every two hours over the replayed day, and each monitor with traffic runs now. So a fresh install
shows a real drift report, an open drift alert (e-mailed through the mail settings: the console by
default) and the retraining it started: a run on the training data plus the labelled production rows, a
new version and a promotion request waiting for the reviewer. Timestamps are the only thing made up.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from django.utils import timezone

from deployments import services as deployment_services
from deployments.models import Deployment, Prediction
from experiments import services as experiment_services
from experiments.models import DatasetVersion
from monitoring import services
from monitoring.models import DriftReport, Monitor, Retraining

MODEL_NAME = "credit-default"
TASK = "monitoring.demo.drift_and_report"
WAIT_SECONDS = 20
GIVE_UP_AFTER = timedelta(minutes=45)
SHIFTED_REQUESTS = 300
WINDOW_HOURS = 6
HISTORY_HOURS, HISTORY_STEP_HOURS = 22, 2


def create_demo_drift(context) -> None:
    if DriftReport.objects.exists():
        context.log("  drift reports exist already")
        return
    _schedule_again(timezone.now().isoformat(), delay=15)
    context.log("  the worker shifts the last hours of production traffic and runs the monitors once it exists")


def demo_waiting() -> str | None:
    """What the dashboard and `serve` say until the drift reports exist and the retraining they start has run."""
    from mlops_site import demo

    pending = demo.one_off_pending(TASK)
    if pending or (pending is None and not DriftReport.objects.filter(status=DriftReport.Status.OK).exists()):
        return "drift reports and the alert they open, after the traffic"
    if Retraining.objects.filter(status__in=[Retraining.Status.QUEUED, Retraining.Status.TRAINING]).exists():
        return "the retraining the drift alert started"
    return None


def _schedule_again(started: str, *, delay: int = WAIT_SECONDS) -> None:
    from django_q.models import Schedule
    from django_q.tasks import schedule

    Schedule.objects.filter(func=TASK).delete()
    schedule(TASK, started, schedule_type=Schedule.ONCE, next_run=timezone.now() + timedelta(seconds=delay))


def drift_and_report(started: str) -> str:
    # Done once the shifted traffic is there. Not "a report exists": the every-minute schedule may run the new
    # monitors before this task gets its turn, which used to skip the drift, the alert and the retraining.
    if Prediction.objects.filter(request_id__startswith="demo-shift-").exists():
        return "drift reports exist already"
    production = (
        Deployment.objects.select_related("environment", "model", "primary__artifact")
        .filter(model__name=MODEL_NAME, environment__name="production", primary__isnull=False)
        .first()
    )
    replayed = Prediction.objects.filter(deployment=production, request_id__startswith="demo-production-")
    if production is None or not replayed.filter(created_at__gte=timezone.now() - timedelta(minutes=30)).exists():
        if timezone.now() - datetime.fromisoformat(started) > GIVE_UP_AFTER:
            return "gave up: no demo traffic in time"
        _schedule_again(started)
        return "waiting for the demo traffic"
    # The schedule leaves the monitors alone while the demo shifts the traffic, so each runs once, below.
    Monitor.objects.update(last_run_at=timezone.now())
    _send_shifted_traffic(production)
    # The production monitor looks at the last six hours, when the customers changed.
    monitor = services.update_monitor(services.ensure_monitor(production), {"window_hours": WINDOW_HOURS}, actor=None)
    _rules_and_policy(monitor, production)
    # A day of history, as the every-hour schedule would have made it: a report every two hours, each
    # looking back six hours from its time. The shift enters the window in the last six hours.
    now = timezone.now()
    for hours_ago in range(HISTORY_HOURS, 0, -HISTORY_STEP_HOURS):
        services.run_monitor(monitor, now=now - timedelta(hours=hours_ago))
    reports = []
    for monitor in Monitor.objects.filter(deployment__predictions__isnull=False).distinct():
        reports.append(services.run_monitor(monitor, now=now))
    return f"{len(reports)} drift reports: " + ", ".join(f"{r.drifted_count}/{r.compared} drifted" for r in reports)


def _send_shifted_traffic(deployment: Deployment) -> None:
    rng = random.Random(11)
    trained_on = DatasetVersion.objects.get(pk=deployment.primary.lineage["inputs"][0]["version"])
    frame = experiment_services.load_frame(trained_on)
    columns = [c["name"] for c in deployment.primary.signature["inputs"]]
    rows = frame[[*columns, "defaulted"]].sample(n=min(len(frame), 2000), random_state=2).copy()
    rows["annual_income"] = rows["annual_income"] * 1.6
    rows["credit_score"] = rows["credit_score"] - 60
    if "purpose" in rows:
        rows.loc[rows.sample(frac=0.4, random_state=3).index, "purpose"] = "debt_consolidation"
    truth = rows.pop("defaulted")
    records = json.loads(rows.to_json(orient="records"))
    now = timezone.now()
    for i in range(SHIFTED_REQUESTS):
        at = now - timedelta(hours=6) + timedelta(seconds=6 * 3600 * (i + rng.random()) / SHIFTED_REQUESTS)
        start = rng.randrange(0, len(records) - 1)
        body = {"records": [records[start]], "entity_key": f"customer-{rng.randint(500, 900)}"}
        try:
            answer = deployment_services.serve(deployment, body, request_id=f"demo-shift-{i}", served_at=at)
        except deployment_services.serving.ServingError:
            continue
        label = truth.iloc[start]
        if label == label and rng.random() < 0.6:  # outcomes arrive for most; the world changed, so some flip
            label = int(label) if rng.random() > 0.25 else 1 - int(label)
            Prediction.objects.filter(id=answer.predictions[0]["prediction_id"]).update(
                ground_truth=label, ground_truth_at=at + timedelta(hours=1)
            )


RULES = (
    {"name": "Inputs drifted", "metric": "drift_share", "comparison": "gte", "threshold": 0.2, "severity": "warning"},
    {"name": "Accuracy dropped", "metric": "accuracy", "comparison": "lt", "threshold": 0.6, "severity": "critical"},
    {"name": "Slow answers", "metric": "latency_p95_ms", "comparison": "gt", "threshold": 500, "severity": "warning"},
)


def _rules_and_policy(monitor: Monitor, deployment: Deployment) -> None:
    """Rules a team would start with, and retraining on drift, set by the model's owner (the demo scientist)."""
    scientist = deployment.model.owner
    for rule in RULES:
        if not monitor.rules.filter(name=rule["name"]).exists():
            services.create_rule(
                monitor, rule | {"window_minutes": 120, "emails": ["ml-oncall@example.com"]}, actor=scientist
            )
    services.put_policy(deployment.model, {"min_labelled_rows": 100, "stage": "staging"}, actor=scientist)
