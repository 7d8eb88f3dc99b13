"""Registry rows made straight in the database, for tests that count queries rather than train models."""

from experiments.models import Experiment, Run, RunArtifact
from registry.models import ModelVersion, PromotionRequest, RegisteredModel, Review
from tests.builders import make_user

SIGNATURE = {"inputs": [{"name": "x", "kind": "numeric"}], "output": {"task": "classification", "classes": [0, 1]}}


def _artifact(owner) -> RunArtifact:
    experiment, _ = Experiment.objects.get_or_create(name="query-counts", defaults={"owner": owner})
    run = Run.objects.filter(experiment=experiment).first() or Run.objects.create(
        experiment=experiment, status=Run.Status.FINISHED, user=owner
    )
    artifact, _ = RunArtifact.objects.get_or_create(
        run=run, path="model/pipeline.skops", defaults={"file": "x", "size_bytes": 1, "sha256": "0" * 64}
    )
    return artifact


def add_rows(owner, start: int, count: int, shared: str = "shared") -> None:
    """`count` models with a version each, as many versions of the model `shared`, and a reviewed promotion
    request (its own requester and reviewer) on each new version: every list grows by `count` rows."""
    artifact = _artifact(owner)
    common, _ = RegisteredModel.objects.get_or_create(name=shared, defaults={"owner": owner})
    for i in range(start, start + count):
        requester, reviewer = make_user(f"req{i}", "data-scientist"), make_user(f"rev{i}", "reviewer")
        model = RegisteredModel.objects.create(name=f"model-{i}", owner=requester, tags={"i": str(i)})
        versions = [
            ModelVersion.objects.create(
                model=model,
                number=1,
                run=artifact.run,
                artifact=artifact,
                sha256=artifact.sha256,
                signature=SIGNATURE,
                metrics={"f1": 0.5},
                created_by=requester,
            ),
            ModelVersion.objects.create(
                model=common,
                number=common.versions.count() + 1,
                run=artifact.run,
                artifact=artifact,
                sha256=artifact.sha256,
                signature=SIGNATURE,
                metrics={"f1": 0.5 + i / 100},
                created_by=requester,
            ),
        ]
        model.aliases.create(name="champion", version=versions[0])
        for version in versions:
            promotion = PromotionRequest.objects.create(
                model=version.model,
                version=version,
                stage="staging",
                justification="why",
                requested_by=requester,
                status=PromotionRequest.Status.PENDING,
                approvals_required=2,
                gates=[{"name": "artifact_hash", "status": "pass", "message": "ok", "details": {}}],
                gates_status="pass",
            )
            Review.objects.create(request=promotion, reviewer=reviewer, decision=Review.Decision.APPROVE, comment="ok")
