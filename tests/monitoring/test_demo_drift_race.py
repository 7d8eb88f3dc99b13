"""The demo's drift step still shifts the traffic and opens its alert when the schedule ran the monitors first."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Prediction
from monitoring import demo, services
from monitoring.models import Alert, DriftReport
from tests.builders import inputs_of, serve

pytestmark = pytest.mark.django_db


def test_drift_step_runs_even_if_the_schedule_made_a_report_first(
    deployed,
    django_capture_on_commit_callbacks,
):
    deployment, version, dataset_version = deployed
    serve(deployment, inputs_of(version, dataset_version).sample(200, random_state=0))
    Prediction.objects.update(request_id="demo-production-1", created_at=timezone.now() - timedelta(minutes=20))
    # What run_due_monitors did on a real `make run` (seen here): a report before the demo's drift step ran.
    services.run_monitor(deployment.monitor)
    assert DriftReport.objects.filter(status=DriftReport.Status.OK).exists()

    with django_capture_on_commit_callbacks(execute=True):
        message = demo.drift_and_report(timezone.now().isoformat())

    assert "drift reports:" in message, message
    assert Prediction.objects.filter(request_id__startswith="demo-shift-").count() > 0
    assert list(Alert.objects.values_list("rule__name", flat=True)) == ["Inputs drifted"]
    assert demo.drift_and_report(timezone.now().isoformat()) == "drift reports exist already"
