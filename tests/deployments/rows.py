"""Rows for the query-count tests: deployments, revisions, predictions and request stats made directly."""

from __future__ import annotations

import uuid

from deployments.models import Deployment, DeploymentRevision, Environment, Prediction, RequestStat


def add_deployments(versions, count: int, start: int, stage: str = "") -> list[Deployment]:
    """`count` environments (following `stage`), each serving versions[0] with versions[1] as a 10 % canary and shadow."""
    primary, canary = versions[0], versions[1]
    made = []
    for i in range(start, start + count):
        environment = Environment.objects.create(name=f"env-{i}", stage=stage)
        deployment = Deployment.objects.create(
            environment=environment,
            model=primary.model,
            primary=primary,
            canary=canary,
            canary_percent=10,
            shadow=canary,
            revision=1,
        )
        DeploymentRevision.objects.create(deployment=deployment, number=1, kind="deploy", primary=primary)
        RequestStat.objects.create(deployment=deployment, version=primary, status_code=200, latency_ms=1.0, rows=1)
        made.append(deployment)
    return made


def add_predictions(deployment: Deployment, count: int) -> None:
    for i in range(count):
        Prediction.objects.create(
            id=uuid.uuid4(),
            deployment=deployment,
            version=deployment.primary,
            inputs={"x": i},
            prediction=1,
            latency_ms=1.0,
        )


def add_revisions(deployment: Deployment, count: int) -> None:
    for _ in range(count):
        deployment.revision += 1
        DeploymentRevision.objects.create(
            deployment=deployment,
            number=deployment.revision,
            kind="canary",
            primary=deployment.primary,
            canary=deployment.canary,
            shadow=deployment.shadow,
            canary_percent=10,
        )
    deployment.save(update_fields=["revision"])
