"""Every change to what a deployment serves: deploy, canary, shadow, promote the canary, roll back.

Each change locks the deployment row, writes a numbered `DeploymentRevision` and an audit event in the
same transaction. A version is checked before it is served: it belongs to the deployment's model and its
model file still hashes to the pinned sha256; a version that fails is refused with an audit event and the
deployment keeps serving what it served.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from deployments import guardrail, labels, schemas
from deployments.models import Deployment, DeploymentRevision, Environment, Prediction, RequestStat
from experiments import services as experiment_services
from mlops_site import audit, lazy, permissions
from mlops_site.models import AuditEvent
from mlops_site.schemas import validate
from registry.models import ModelVersion, PromotionRequest, RegisteredModel

serving = lazy.module("deployments.serving")

logger = logging.getLogger(__name__)

__all__ = [
    "can_change",
    "can_override",
    "change",
    "check_guardrail",
    "check_guardrails",
    "deploy",
    "follow_stage_change",
    "promote_canary",
    "reconcile",
    "reconcile_stages",
    "record_ground_truth",
    "rollback",
    "rollback_target",
    "set_guardrail",
    "set_traffic",
    "set_unseen_policy",
    "unapproved_versions",
    "update_deployment",
]

Kind = DeploymentRevision.Kind


CHANGE = "deployments.change_deployment"
OVERRIDE = "deployments.override_deployment"
PREDICT = "deployments.predict"


def _denied(what: str) -> str:
    return f"Your role does not allow {what}; admins manage deployments."


def can_change(user) -> bool:
    """May `user` change what a deployment serves (deploy, traffic, promote, roll back, settings)?"""
    return permissions.can(user, CHANGE)


def can_override(user) -> bool:
    """May `user` serve a version the environment's stage has not approved (an emergency override)?"""
    return permissions.can(user, OVERRIDE)


def _state(deployment: Deployment) -> dict:
    def number(version):
        return version.number if version else None

    return {
        "primary": number(deployment.primary),
        "canary": number(deployment.canary),
        "canary_percent": deployment.canary_percent,
        "shadow": number(deployment.shadow),
        "override": deployment.is_overridden,
    }


def verify_version(version: ModelVersion, deployment: Deployment, *, actor) -> None:
    """Refuse (audited, outside the caller's transaction) a version of another model or whose file changed."""
    if version.model_id != deployment.model_id:
        raise ValidationError({"version": f"{version} is not a version of {deployment.model.name}."})
    try:
        experiment_services.load_pipeline(version.artifact, version.signature)  # skops or ONNX, as serving loads it
    except (ValueError, OSError) as exc:
        with transaction.atomic():
            audit.record(
                actor=actor,
                action="deployment.version_refused",
                target=deployment,
                after={"version": version.number, "reason": str(exc)[:500]},
            )
        raise ValidationError(
            {"version": f"{version} was refused: its model file cannot be loaded or fails its sha256 check ({exc})."}
        ) from None


def approved_here(version: ModelVersion, deployment: Deployment) -> bool:
    """May `deployment` serve `version` as primary or canary without an override?

    In an environment that follows a registry stage: only versions approved for that stage, or versions it
    served as primary before without an override (what a rollback returns to). Elsewhere: any version.
    """
    stage = deployment.environment.stage
    if not stage:
        return True
    if ModelVersion.objects.approved_for(stage).filter(pk=version.pk).exists():
        return True
    return deployment.pk is not None and deployment.revisions.filter(primary=version, override=False).exists()


def approved_version_ids(deployment: Deployment) -> set[int] | None:
    """The ids `approved_here` accepts, in two queries (for forms); None when any version may be served."""
    stage = deployment.environment.stage
    if not stage:
        return None
    ids = set(
        ModelVersion.objects.approved_for(stage).filter(model_id=deployment.model_id).values_list("pk", flat=True)
    )
    if deployment.pk is not None:
        ids |= set(deployment.revisions.filter(override=False).values_list("primary_id", flat=True))
    return ids


def _why_not_approved(version: ModelVersion, stage: str) -> str:
    decided = version.promotion_requests.filter(stage=stage).order_by("-created_at", "-pk").first()
    if decided is None:
        return f"it was never approved for {stage}"
    if decided.status == PromotionRequest.Status.REJECTED:
        return f"request #{decided.pk} to move it to {stage} was rejected"
    if decided.is_open:
        return f"request #{decided.pk} to move it to {stage} is still {decided.get_status_display().lower()}"
    return f"it is not approved for {stage}"


def _check_approval(
    deployment: Deployment, placed: dict[str, ModelVersion | None], *, actor, override: bool, reason: str
) -> bool:
    """Refuse a version newly placed as primary or canary that the stage has not approved, unless overridden.

    An override is an admin's emergency action with a reason. Versions already served under an override
    in effect stay allowed until it ends. Returns whether this change is an override.
    """
    in_effect = {deployment.primary_id, deployment.canary_id} if deployment.is_overridden else set()
    new = [
        (field, version)
        for field, version in placed.items()
        if version is not None and version.pk not in in_effect and not approved_here(version, deployment)
    ]
    if not new:
        return False
    stage, environment = deployment.environment.stage, deployment.environment.name
    if not override:
        field, version = new[0]
        raise ValidationError(
            {
                field: f"{version} is not approved for {stage}: {_why_not_approved(version, stage)}. {environment} "
                f"serves only versions approved for {stage}; serving it anyway is an emergency override "
                "(admins only, with a reason)."
            }
        )
    permissions.require(actor, OVERRIDE, _denied("serving versions without approval"))
    if not reason.strip():
        raise ValidationError(
            {"reason": "An override needs a reason: it is shown on the deployment, model and version pages."}
        )
    return True


def unapproved_versions(deployment: Deployment) -> list[ModelVersion]:
    """The primary and canary served without approval for the environment's stage (empty: all approved)."""
    return [v for v in (deployment.primary, deployment.canary) if v is not None and not approved_here(v, deployment)]


def _revise(
    deployment: Deployment,
    kind: str,
    *,
    actor,
    reason: str,
    before: dict,
    restores: int | None = None,
    override: bool = False,
) -> DeploymentRevision:
    """Record the new state as a revision, and start or end the override it puts in effect."""
    unapproved = unapproved_versions(deployment)
    ended = deployment.is_overridden and not unapproved
    if not unapproved:
        deployment.override_at, deployment.override_by, deployment.override_reason = None, None, ""
    elif override:
        deployment.override_at = timezone.now()
        deployment.override_by = actor if getattr(actor, "is_authenticated", False) else None
        deployment.override_reason = reason
    deployment.revision += 1
    deployment.updated_at = timezone.now()
    deployment.save()
    revision = DeploymentRevision.objects.create(
        deployment=deployment,
        number=deployment.revision,
        kind=kind,
        primary=deployment.primary,
        canary=deployment.canary,
        canary_percent=deployment.canary_percent,
        shadow=deployment.shadow,
        reason=reason,
        restores=restores,
        override=bool(unapproved),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        actor=actor,
        action="deployment.changed",
        target=deployment,
        before=before,
        after={**_state(deployment), "revision": revision.number, "kind": kind},
        comment=reason,
    )
    if override and unapproved:
        audit.record(
            actor=actor,
            action="deployment.override",
            target=deployment,
            before=before,
            after={
                **_state(deployment),
                "revision": revision.number,
                "environment": deployment.environment.name,
                "stage": deployment.environment.stage,
                "unapproved": [v.number for v in unapproved],
            },
            comment=reason,
        )
    elif ended:
        audit.record(
            actor=actor,
            action="deployment.override_ended",
            target=deployment,
            after={**_state(deployment), "revision": revision.number, "kind": kind},
            comment=reason,
        )
    return revision


def _locked(environment: Environment, model: RegisteredModel) -> Deployment:
    deployment, _ = Deployment.objects.get_or_create(environment=environment, model=model)
    # of=("self",): PostgreSQL cannot lock the nullable side of the outer joins to the versions.
    return (
        Deployment.objects.select_for_update(of=("self",))
        .select_related("model", "environment", "primary", "canary", "shadow")
        .get(pk=deployment.pk)
    )


def deploy(
    environment: Environment,
    version: ModelVersion,
    *,
    actor,
    reason: str = "",
    kind: str = Kind.DEPLOY,
    override: bool = False,
) -> Deployment:
    """Serve `version` as the primary of its model in `environment`; a running canary is cleared.

    In an environment that follows a stage, the version must be approved for it (`override` otherwise).
    """
    permissions.require(actor, CHANGE, _denied("deploying models"))
    with transaction.atomic():
        deployment, _ = Deployment.objects.get_or_create(environment=environment, model_id=version.model_id)
    if version.model_id == deployment.model_id:  # cheap refusal before the model file is read
        _check_approval(deployment, {"version": version}, actor=actor, override=override, reason=reason)
    verify_version(version, deployment, actor=actor)
    with transaction.atomic():
        deployment = _locked(environment, version.model)
        overriding = _check_approval(deployment, {"version": version}, actor=actor, override=override, reason=reason)
        before = _state(deployment)
        deployment.primary = version
        deployment.canary, deployment.canary_percent, deployment.canary_since = None, 0, None
        if deployment.shadow_id == version.pk:
            deployment.shadow = None
        _revise(
            deployment, kind, actor=actor, reason=reason or f"Deployed {version}.", before=before, override=overriding
        )
    return deployment


def set_traffic(
    deployment: Deployment,
    *,
    actor,
    reason: str = "",
    canary: ModelVersion | str | None = "keep",
    canary_percent: int | None = None,
    shadow: ModelVersion | str | None = "keep",
    override: bool = False,
) -> Deployment:
    """Set or clear the canary (with its share of traffic) and the shadow. `"keep"` leaves one as it is.

    A canary answers callers, so it must be approved like a primary; a shadow never answers, so any
    version of the model may be one.
    """
    permissions.require(actor, CHANGE, _denied("changing traffic"))
    for version in (canary, shadow):
        if isinstance(version, ModelVersion):
            verify_version(version, deployment, actor=actor)
    with transaction.atomic():
        deployment = _locked(deployment.environment, deployment.model)
        before = _state(deployment)
        if deployment.primary is None:
            raise ValidationError({"canary_version": "Deploy a primary version before adding a canary or a shadow."})
        overriding = False
        if canary != "keep":
            if canary is not None and canary.pk == deployment.primary_id:
                raise ValidationError({"canary_version": f"{canary} is already the primary version."})
            overriding = _check_approval(
                deployment, {"canary_version": canary}, actor=actor, override=override, reason=reason
            )
            if canary is None or canary.pk != deployment.canary_id:  # the same canary keeps its baking window
                deployment.canary_since = timezone.now() if canary is not None else None
            deployment.canary = canary
            if canary is None:
                deployment.canary_percent = 0
        if canary_percent is not None:
            if not 0 <= int(canary_percent) <= 100:
                raise ValidationError({"canary_percent": "A share of traffic from 0 to 100."})
            if deployment.canary is None and canary_percent:
                raise ValidationError({"canary_percent": "Set a canary version to send it traffic."})
            deployment.canary_percent = int(canary_percent)
        if shadow != "keep":
            deployment.shadow = shadow
        kind = Kind.SHADOW if canary == "keep" and canary_percent is None else Kind.CANARY
        _revise(deployment, kind, actor=actor, reason=reason or "Traffic changed.", before=before, override=overriding)
    return deployment


@transaction.atomic
def promote_canary(deployment: Deployment, *, actor, reason: str = "") -> Deployment:
    permissions.require(actor, CHANGE, _denied("promoting canaries"))
    deployment = _locked(deployment.environment, deployment.model)
    if deployment.canary is None:
        raise ValidationError({"canary_version": "There is no canary to promote."})
    before = _state(deployment)
    deployment.primary = deployment.canary
    deployment.canary, deployment.canary_percent, deployment.canary_since = None, 0, None
    _revise(deployment, Kind.PROMOTE_CANARY, actor=actor, reason=reason or "Canary promoted to primary.", before=before)
    return deployment


def rollback_target(deployment: Deployment) -> DeploymentRevision | None:
    """The revision a rollback would restore: follow a chain of rollbacks to the revision whose state is
    in effect, then step before it."""
    in_effect = deployment.revision
    seen = set()
    while in_effect not in seen:
        seen.add(in_effect)
        revision = deployment.revisions.filter(number=in_effect).first()
        if revision is None or not revision.restores:
            break
        in_effect = revision.restores
    return deployment.revisions.filter(number__lt=in_effect, primary__isnull=False).order_by("-number").first()


@transaction.atomic
def rollback(deployment: Deployment, *, actor, reason: str = "", override: bool = False) -> Deployment:
    """Undo the change in effect: restore the revision before it (versions, canary share, shadow).

    Rolling back twice walks further back (a rollback of revision 5 restored 4; the next restores 3),
    like an undo stack, instead of flipping between two states. Restoring a revision that served an
    unapproved version is an override like any other.
    """
    permissions.require(actor, CHANGE, _denied("rolling back deployments"))
    deployment = _locked(deployment.environment, deployment.model)
    previous = rollback_target(deployment)
    if previous is None:
        raise ValidationError({"deployment": f"{deployment} has no earlier revision to roll back to."})
    placed = {
        "primary_version": previous.primary if previous.primary_id != deployment.primary_id else None,
        "canary_version": previous.canary if previous.canary_id != deployment.canary_id else None,
    }
    overriding = _check_approval(deployment, placed, actor=actor, override=override, reason=reason)
    before = _state(deployment)
    deployment.primary, deployment.canary, deployment.shadow = previous.primary, previous.canary, previous.shadow
    deployment.canary_percent = previous.canary_percent
    deployment.canary_since = timezone.now() if previous.canary_id else None
    _revise(
        deployment,
        Kind.ROLLBACK,
        actor=actor,
        reason=reason or f"Rolled back to revision {previous.number}.",
        before=before,
        restores=previous.number,
        override=overriding,
    )
    return deployment


# A version the registry moves while the holder is being verified makes the follower start again; past
# this many rounds the next stage event or the reconcile schedule finishes the job.
FOLLOW_ATTEMPTS = 5


def _serve_stage_holder(
    environment: Environment, model: RegisteredModel, *, kind: str, reason: str
) -> Deployment | None:
    """Make `environment` serve the version that holds its stage in the registry *now*.

    The model file is verified outside the row lock (it can be slow), then the holder is read again
    under the lock: if the registry moved meanwhile (two approvals at once), start over with the new
    holder, so the version approved first can never land last.
    """
    for _ in range(FOLLOW_ATTEMPTS):
        holder = ModelVersion.objects.stage_holder(model.pk, environment.stage)
        if holder is None:
            return None
        with transaction.atomic():
            deployment, _ = Deployment.objects.get_or_create(environment=environment, model=model)
        if deployment.primary_id != holder.pk:
            verify_version(holder, deployment, actor=None)
        with transaction.atomic():
            deployment = _locked(environment, model)
            current = ModelVersion.objects.stage_holder(model.pk, environment.stage)
            if current is None or current.pk != holder.pk:
                continue  # the registry moved while we verified: follow the new holder
            if deployment.primary_id == holder.pk:
                return deployment
            before = _state(deployment)
            deployment.primary = holder
            deployment.canary, deployment.canary_percent, deployment.canary_since = None, 0, None
            if deployment.shadow_id == holder.pk:
                deployment.shadow = None
            _revise(deployment, kind, actor=None, reason=reason.format(version=holder), before=before)
            return deployment
    logger.warning("%s kept moving while %s followed it; the reconcile schedule will finish", model, environment)
    return None


def follow_stage_change(*, model: str, version_id: int, stage: str, **kwargs) -> list[Deployment]:
    """Receiver of the registry's stage event: environments following `stage` serve whatever holds it now.

    Runs after the approval committed; a refused version is audited and the environment keeps serving.
    """
    version = ModelVersion.objects.select_related("model").get(pk=version_id)
    deployed = []
    for environment in Environment.objects.filter(stage=stage):
        try:
            deployment = _serve_stage_holder(
                environment, version.model, kind=Kind.PROMOTION, reason=f"{{version}} approved for {stage}."
            )
        except ValidationError as exc:
            logger.warning("did not deploy %s to %s: %s", version, environment, exc)
            continue
        if deployment is not None:
            deployed.append(deployment)
    return deployed


def reconcile(deployment: Deployment) -> str:
    """Compare what a stage-following deployment serves with the registry's version for that stage.

    "repaired" when the deployment was following the registry and missed a move (a lost stage event, a
    worker that died): it is redeployed, audited. "mismatch" when a person chose what is served after the
    registry's last decision (a rollback or deploy of an earlier approved version): audited once per
    revision as `deployment.stage_mismatch`, a webhook event. "override" while an override is in effect.
    """
    environment = deployment.environment
    holder = ModelVersion.objects.stage_holder(deployment.model_id, environment.stage) if environment.stage else None
    if holder is None or deployment.primary_id == holder.pk:
        return "ok"
    if deployment.is_overridden:
        return "override"
    last = deployment.revisions.order_by("-number").first()
    approved_at = (
        PromotionRequest.objects.filter(
            version=holder, stage=environment.stage, status=PromotionRequest.Status.APPROVED
        )
        .order_by("-decided_at")
        .values_list("decided_at", flat=True)
        .first()
    )
    following = (
        last is None
        or last.kind in (Kind.PROMOTION, Kind.RECONCILE)
        or (approved_at is not None and approved_at > last.created_at)
    )
    served = deployment.primary.number if deployment.primary else None
    if following:
        repaired = _serve_stage_holder(
            environment,
            deployment.model,
            kind=Kind.RECONCILE,
            reason=f"The registry says {{version}} holds {environment.stage}; this deployment served v{served}.",
        )
        if repaired is not None and repaired.primary_id == holder.pk:
            with transaction.atomic():
                audit.record(
                    actor=None,
                    action="deployment.reconciled",
                    target=repaired,
                    before={"primary": served},
                    after={"primary": holder.number, "stage": environment.stage, "revision": repaired.revision},
                )
            return "repaired"
        return "mismatch"
    already = AuditEvent.objects.filter(
        action="deployment.stage_mismatch", target_id=str(deployment.pk), after__revision=deployment.revision
    ).exists()
    if not already:
        with transaction.atomic():
            audit.record(
                actor=None,
                action="deployment.stage_mismatch",
                target=deployment,
                after={
                    "environment": environment.name,
                    "stage": environment.stage,
                    "registry_version": holder.number,
                    "served": served,
                    "revision": deployment.revision,
                },
            )
    return "mismatch"


def reconcile_stages() -> dict:
    """Schedule entry: every deployment of an environment that follows a stage, checked against the registry."""
    counts = {"ok": 0, "repaired": 0, "mismatch": 0, "override": 0}
    for deployment in Deployment.objects.exclude(environment__stage="").select_related(
        "environment", "model", "primary", "canary"
    ):
        try:
            counts[reconcile(deployment)] += 1
        except ValidationError as exc:  # the holder's file fails its check: it was audited; keep serving
            logger.warning("could not reconcile %s: %s", deployment, exc)
            counts["mismatch"] += 1
    return counts


def set_guardrail(deployment: Deployment, config: dict, *, actor) -> Deployment:
    """Store the canary guardrail's limits (checked; defaults filled in); audited."""
    permissions.require(actor, CHANGE, _denied("changing guardrails"))
    normalised = validate(schemas.GuardrailSettings, {"guardrail": config})["guardrail"] or dict(guardrail.DEFAULTS)
    with transaction.atomic():
        deployment = _locked(deployment.environment, deployment.model)
        before = dict(deployment.guardrail)
        deployment.guardrail = normalised
        deployment.save(update_fields=["guardrail"])
        audit.record(actor=actor, action="deployment.guardrail_set", target=deployment, before=before, after=normalised)
    return deployment


def check_guardrail(deployment: Deployment, *, now=None) -> guardrail.Verdict | None:
    """Judge a running canary on its requests since it started (within the baking window); trip it if unhealthy.

    Tripping removes the canary from traffic as a GUARDRAIL revision (audited, actor: the system) and mails
    the admins through Django's mail settings.
    """
    if deployment.canary_id is None or not deployment.canary_percent or deployment.canary_since is None:
        return None
    config = guardrail.normalise(deployment.guardrail)
    now = now or timezone.now()
    window_end = min(now, deployment.canary_since + timedelta(minutes=config["baking_minutes"]))
    stats = list(
        RequestStat.objects.filter(
            deployment=deployment,
            version_id=deployment.canary_id,
            role="canary",
            created_at__gte=deployment.canary_since,
            created_at__lte=window_end,
        ).values_list("latency_ms", "status_code")
    )
    # Server errors only: a caller's malformed request (4xx) says nothing about the canary's health.
    verdict = guardrail.evaluate([s[0] for s in stats], [s[1] >= 500 for s in stats], config)
    if not verdict.tripped:
        return verdict
    with transaction.atomic():
        locked = _locked(deployment.environment, deployment.model)
        if (locked.canary_id, locked.canary_since) != (deployment.canary_id, deployment.canary_since):
            return verdict  # changed meanwhile: the numbers judged another canary period
        before = _state(locked)
        canary = locked.canary
        locked.canary, locked.canary_percent, locked.canary_since = None, 0, None
        _revise(
            locked, Kind.GUARDRAIL, actor=None, reason=f"Guardrail took {canary} out: {verdict.reason}", before=before
        )
        audit.record(
            actor=None,
            action="deployment.guardrail_tripped",
            target=locked,
            after={"canary": canary.number, "reason": verdict.reason, "requests": verdict.requests},
        )
    mail_admins(
        f"Canary {canary} taken out of {deployment.environment.name}",
        f"The guardrail removed the canary {canary} from {deployment}: {verdict.reason}",
        fail_silently=True,
    )
    return verdict


def check_guardrails() -> dict:
    """Schedule entry: every running canary."""
    tripped = 0
    for deployment in Deployment.objects.filter(canary__isnull=False, canary_percent__gt=0).select_related(
        "environment", "model", "canary"
    ):
        verdict = check_guardrail(deployment)
        tripped += bool(verdict and verdict.tripped)
    return {"tripped": tripped}


def serve(deployment: Deployment, body, **options):
    """Answer a predict request as the API does (`serving.predict`), for callers above this app, e.g. demos."""
    return serving.predict(deployment, body, **options)


UNSEEN_POLICIES = tuple(value for value, _ in Deployment._meta.get_field("unseen_values").choices)


def set_unseen_policy(deployment: Deployment, policy: str, *, actor) -> Deployment:
    """Choose what predict does with a categorical value training never had: `flag` (answer, and count it in
    the log) or `refuse` (a 400 naming row, field and value). Admins only; audited. Moving `updated_at`
    makes every serving process see the change on its next request."""
    permissions.require(actor, CHANGE, _denied("changing how unseen values are handled"))
    policy = validate(schemas.UnseenPolicy, {"unseen_values": policy})["unseen_values"]
    with transaction.atomic():
        deployment = _locked(deployment.environment, deployment.model)
        before = deployment.unseen_values
        if before == policy:
            return deployment
        deployment.unseen_values, deployment.updated_at = policy, timezone.now()
        deployment.save(update_fields=["unseen_values", "updated_at"])
        audit.record(
            actor=actor,
            action="deployment.unseen_policy_set",
            target=deployment,
            before={"unseen_values": before},
            after={"unseen_values": policy},
        )
    return deployment


MAX_LABELS = schemas.MAX_LABELS
MAX_LABEL_ERRORS = 20


def record_ground_truth(items: Any, *, actor) -> int:
    """Attach true outcomes to served predictions: `[{prediction_id, label}, ...]`, all or nothing.

    Each label is checked against the version that answered (`labels.check`: one of its classes, 1, 1.0
    and "1" being one class, stored as the class itself; a finite number for a regressor). Any bad item is
    a ValidationError keyed `items[<index>].<field>`, and nothing of the batch is stored. One audit event
    per batch. Returns the number of predictions updated.
    """
    permissions.require(actor, PREDICT, _denied("attaching ground truth"))
    items = items if isinstance(items, list) else [items]
    try:
        clean = validate(schemas.GroundTruthBatch, {"items": items})["items"]
    except ValidationError as exc:  # a batch of 10,000 bad labels answers with the first few
        raise ValidationError(dict(list(exc.message_dict.items())[:MAX_LABEL_ERRORS])) from None
    errors: dict[str, list[str]] = {}

    def add(where: str, message: str) -> None:
        if len(errors) < MAX_LABEL_ERRORS:
            errors.setdefault(where, []).append(message)

    wanted: dict[uuid.UUID, int] = {}
    for index, item in enumerate(clean):
        key = item["prediction_id"]
        if key in wanted:
            add(f"items[{index}].prediction_id", f"Also at index {wanted[key]}: send each prediction once.")
            continue
        wanted[key] = index
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        found = {
            p.id: p
            for p in Prediction.objects.select_for_update(of=("self",))
            .select_related("version", "deployment__environment", "deployment__model")
            .filter(id__in=wanted)
        }
        now = timezone.now()
        for key, index in wanted.items():
            prediction = found.get(key)
            if prediction is None:
                add(f"items[{index}].prediction_id", f"Unknown prediction id {key}.")
                continue
            try:
                prediction.ground_truth = labels.check(
                    clean[index]["label"], prediction.version.signature.get("output")
                )
            except labels.LabelError as exc:
                add(f"items[{index}].label", f"{exc} (prediction {key}, answered by {prediction.version})")
                continue
            prediction.ground_truth_at = now
        if errors:
            raise ValidationError(errors)
        Prediction.objects.bulk_update(found.values(), ["ground_truth", "ground_truth_at"], batch_size=1_000)
        deployments = sorted({str(p.deployment) for p in found.values()})
        targets = {p.deployment_id for p in found.values()}
        audit.record(
            actor=actor,
            action="ground_truth.recorded",
            target=next(iter(found.values())).deployment if len(targets) == 1 else None,
            after={"labels": len(found), "deployments": deployments},
        )
    return len(found)


def _fresh(deployment: Deployment) -> Deployment:
    return Deployment.objects.select_related("environment", "model", "primary", "canary", "shadow").get(
        pk=deployment.pk
    )


def _version(deployment: Deployment, number: int | None, field: str) -> ModelVersion | None:
    """Version `number` of the deployment's model (None stays None), or a ValidationError on `field`."""
    if number is None:
        return None
    version = (
        ModelVersion.objects.select_related("artifact", "model").filter(model=deployment.model, number=number).first()
    )
    if version is None:
        raise ValidationError({field: f"{deployment.model.name} has no version {number}."})
    return version


def update_deployment(deployment: Deployment, data: Any, *, actor) -> Deployment:
    """The deployment PATCH (`schemas.DeploymentChange`): primary, canary and share, shadow, guardrail and
    unseen-value policy, all or nothing.

    Every named version is resolved and its file checked first, outside the transaction, so an unknown
    number is refused before anything changes and a refused file's audit event is not rolled back.
    """
    permissions.require(actor, CHANGE, _denied(_purpose_of(data)))
    clean = validate(schemas.DeploymentChange, data)
    reason, override = clean["reason"], clean["override"]
    fields = ("primary_version", "canary_version", "shadow_version")
    chosen = {field: _version(deployment, clean[field], field) for field in fields if field in clean}
    for version in chosen.values():
        if version is not None:
            verify_version(version, deployment, actor=actor)
    with transaction.atomic():
        if "primary_version" in chosen:
            deploy(deployment.environment, chosen["primary_version"], actor=actor, reason=reason, override=override)
            deployment = _fresh(deployment)
        traffic = {}
        if "canary_version" in chosen:
            traffic["canary"] = chosen["canary_version"]
        if "canary_percent" in clean:
            traffic["canary_percent"] = clean["canary_percent"]
        if "shadow_version" in chosen:
            traffic["shadow"] = chosen["shadow_version"]
        if traffic:
            set_traffic(deployment, actor=actor, reason=reason, override=override, **traffic)
        if "guardrail" in clean:
            set_guardrail(_fresh(deployment), clean["guardrail"], actor=actor)
        if "unseen_values" in clean:
            set_unseen_policy(_fresh(deployment), clean["unseen_values"], actor=actor)
    return _fresh(deployment)


def _purpose_of(data: Any) -> str:
    """What a PATCH asks for, in the words of the refusal each single change has always given."""
    keys = set(data) if isinstance(data, dict) else set()
    if "primary_version" in keys:
        return ACTIONS["deploy"]
    if keys & {"canary_version", "canary_percent", "shadow_version"}:
        return ACTIONS["traffic"]
    if "guardrail" in keys:
        return "changing guardrails"
    if "unseen_values" in keys:
        return ACTIONS["unseen_values"]
    return "changing deployments"


# The changes a person asks for by name (the deployment page's buttons, the API's verbs), and what a
# refusal says each one is.
ACTIONS = {
    "deploy": "deploying models",
    "traffic": "changing traffic",
    "promote_canary": "promoting canaries",
    "rollback": "rolling back deployments",
    "unseen_values": "changing how unseen values are handled",
}


def primary_change(deployment: Deployment, action: str, data: Any) -> dict | None:
    """What `action` would serve as the primary, for a confirmation; None when it leaves the primary alone."""
    if action == "deploy":
        after = _version(deployment, validate(schemas.Deploy, data)["version"], "version")
    elif action == "promote_canary":
        after = deployment.canary
    elif action == "rollback":
        previous = rollback_target(deployment)
        after = previous.primary if previous else None
    else:
        return None
    approved = approved_version_ids(deployment)
    in_effect = {deployment.primary_id, deployment.canary_id} if deployment.is_overridden else set()
    return {
        "before": deployment.primary,
        "after": after,
        "approved": after is None or approved is None or after.pk in approved,
        "under_override": after is not None and after.pk in in_effect,
    }


def change(deployment: Deployment, action: str, data: Any, *, actor) -> tuple[Deployment, str]:
    """Run one named change with its input (see ACTIONS); returns the deployment after it and what was done.

    `traffic` takes the PATCH's fields (`canary_version`, `canary_percent`, `shadow_version`).
    """
    if action not in ACTIONS:
        raise ValidationError("Unknown action.")
    permissions.require(actor, CHANGE, _denied(ACTIONS[action]))
    if action == "deploy":
        clean = validate(schemas.Deploy, data)
        version = _version(deployment, clean["version"], "version")
        deployment = deploy(
            deployment.environment, version, actor=actor, reason=clean["reason"], override=clean["override"]
        )
        return _fresh(deployment), f"Deployed v{version.number}."
    if action == "traffic":
        return update_deployment(deployment, data, actor=actor), "Traffic updated."
    if action == "promote_canary":
        return _fresh(promote_canary(deployment, actor=actor, **validate(schemas.Reason, data))), (
            "The canary is now the primary version."
        )
    if action == "rollback":
        return _fresh(rollback(deployment, actor=actor, **validate(schemas.DeploymentRollback, data))), (
            "Rolled back to the previous revision."
        )
    policy = validate(schemas.UnseenPolicy, data)["unseen_values"]
    return _fresh(set_unseen_policy(deployment, policy, actor=actor)), f"Unseen values: {policy}."
