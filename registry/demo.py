"""Demo step: a registered model with a production champion and a challenger waiting for the demo reviewer.

The demo's training runs are trained by the worker after `manage.py demo` returns, so this step only
schedules `finish_demo_registry`; that one-off task waits for the runs (rescheduling itself) and then
registers versions, promotes the first through the real gates and approvals, and leaves a request pending.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from experiments.models import Run
from mlops_site import demo
from registry.models import PromotionRequest, RegisteredModel

MODEL_NAME = "credit-default"
TASK = "registry.demo.finish_demo_registry"
WAIT_SECONDS = 20
GIVE_UP_AFTER = timedelta(minutes=30)
ALGORITHMS = ("logistic_regression", "random_forest", "hist_gradient_boosting")
GATES = {
    "thresholds": [{"metric": "roc_auc", "op": ">=", "value": 0.7}, {"metric": "f1", "op": ">=", "value": 0.3}],
    "champion": {"metric": "f1", "tolerance": 0.02},
    "fairness": {"column": "region", "max_gap": 0.2},
    "approvals": {"staging": 1, "production": 1},
}


def create_demo_registry(context) -> None:
    if RegisteredModel.objects.filter(name=MODEL_NAME).exists():
        context.log("  demo model exists already")
        return
    _schedule_again(timezone.now().isoformat(), delay=5)
    context.log("  the worker registers the demo model once the demo runs have trained")


def demo_waiting() -> str | None:
    """What the dashboard and `serve` say while the demo model is not registered yet."""
    pending = demo.one_off_pending(TASK)
    if pending or (pending is None and not RegisteredModel.objects.filter(name=MODEL_NAME).exists()):
        return f"the {MODEL_NAME} model (three versions, v1 through the gates into production) after its runs train"
    return None


def _schedule_again(started: str, *, delay: int = WAIT_SECONDS) -> None:
    from django_q.models import Schedule
    from django_q.tasks import schedule

    Schedule.objects.filter(func=TASK).delete()
    schedule(TASK, started, schedule_type=Schedule.ONCE, next_run=timezone.now() + timedelta(seconds=delay))


def _demo_runs() -> dict[str, Run]:
    runs = Run.objects.filter(
        experiment__name__iexact="credit default", parent__isnull=True, source=Run.Source.TRAINED
    ).order_by("pk")
    found: dict[str, Run] = {}
    for run in runs.prefetch_related("params"):
        algorithm = next((p.value for p in run.params.all() if p.key == "algorithm"), None)
        if algorithm in ALGORITHMS and algorithm not in found:
            found[algorithm] = run
    return found


def finish_demo_registry(started: str) -> str:
    """Register v1–v3, put v1 in production through gates and an admin's approval, leave v3's request pending."""
    from registry import services

    if RegisteredModel.objects.filter(name=MODEL_NAME).exists():
        return "demo model exists already"
    runs = _demo_runs()
    unfinished = [run for run in runs.values() if run.status == Run.Status.RUNNING]
    if len(runs) < len(ALGORITHMS) or unfinished:
        if timezone.now() - datetime.fromisoformat(started) > GIVE_UP_AFTER:
            return "gave up: the demo runs did not finish in time"
        _schedule_again(started)
        return f"waiting for {len(unfinished) or len(ALGORITHMS) - len(runs)} demo runs"

    users = {user.username: user for user in get_user_model().objects.filter(username__in=["scientist", "admin"])}
    scientist, admin = users["scientist"], users["admin"]
    model = services.create_model(
        name=MODEL_NAME,
        description="Predicts whether a loan applicant defaults (1) within a year. Trained on credit-scoring.",
        actor=scientist,
    )
    services.update_model(model, actor=scientist, gates=GATES, tags={"team": "risk", "use": "loan decisions"})
    versions = [
        services.register_version(model, runs[algorithm], actor=scientist)
        for algorithm in ALGORITHMS
        if runs[algorithm].status == Run.Status.FINISHED
    ]
    if len(versions) < 2:
        return "too few demo runs finished to show a promotion"
    champion, challenger = versions[0], versions[-1]  # logistic regression, gradient boosting
    for stage in ("staging", "production"):
        promotion = services.request_promotion(
            champion, stage, justification=f"First model for loan decisions: {stage}.", actor=scientist
        )
        services.evaluate_gates(promotion)  # here and now, so the admin can decide at once
        promotion.refresh_from_db()
        services.approve(
            promotion,
            actor=admin,
            comment="Baseline accepted.",
            override_reason="" if promotion.gates_status == "pass" else "Demo baseline.",
        )
    services.set_alias(model, "champion", champion, actor=scientist)
    services.set_alias(model, "challenger", challenger, actor=scientist)
    services.request_promotion(
        challenger,
        "production",
        justification="Gradient boosting should catch more defaulters (F1) than the logistic-regression champion; "
        "see the champion/challenger gate for both scored on the same holdout.",
        actor=scientist,
    )
    pending = PromotionRequest.objects.filter(version=challenger).count()
    demo.run_waiting_now()  # the traffic replay waits for this deployment
    return f"registered {len(versions)} versions; v1 in production; {pending} request waiting for the reviewer"
