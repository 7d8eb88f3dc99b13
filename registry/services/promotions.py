"""Promotion requests: ask, run the gates on a worker, review, approve into a stage, reject, withdraw, roll back.

Separation of duties is enforced here, not in the views: only reviewers (or admins) decide, nobody decides
their own request, a version whose gates failed needs an admin's recorded override, and the last approval
moves the stage through `catalog.move_to_stage` in the same transaction as the review. Every transition
is audited in that transaction; the audit events are what webhooks deliver.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from experiments import services as experiment_services
from mlops_site import audit, jobs, lazy
from mlops_site.errors import Conflict
from mlops_site.permissions import can, require
from registry import gate_config, gates, schemas
from registry.models import ModelVersion, PromotionRequest, RegisteredModel, Review
from registry.services.catalog import move_to_stage

pd = lazy.module("pandas")

__all__ = [
    "actions_for",
    "approve",
    "can_override",
    "can_rerun",
    "can_review",
    "can_withdraw",
    "decide",
    "evaluate_gates",
    "reject",
    "request_promotion",
    "request_promotion_from",
    "request_rollback",
    "request_rollback_from",
    "rerun_gates",
    "withdraw",
]

Status = PromotionRequest.Status


# ---------------------------------------------------------------------------------------------------
# Who may do what: the services check these, the API and the pages show what they allow.
# ---------------------------------------------------------------------------------------------------


# The permission each decision needs and the sentence a refusal says; the API's permission class reads them too.
PERMISSIONS = {
    "request": ("registry.add_promotionrequest", "Your role does not allow requesting promotions."),
    "rollback": ("registry.add_promotionrequest", "Your role does not allow requesting a rollback."),
    "approve": ("registry.review_promotionrequest", "Only reviewers can approve promotion requests."),
    "reject": ("registry.review_promotionrequest", "Only reviewers can reject promotion requests."),
}


def _requester_or(user, promotion: PromotionRequest, perm: str) -> bool:
    return user is None or user.pk == promotion.requested_by_id or can(user, perm)


def can_review(user, promotion: PromotionRequest) -> bool:
    """A reviewer who did not open the request and has not reviewed it yet, while it awaits review."""
    return (
        promotion.status == Status.PENDING
        and user is not None
        and can(user, "registry.review_promotionrequest")
        and user.pk != promotion.requested_by_id
        and not promotion.reviews.filter(reviewer=user).exists()
    )


def can_override(user) -> bool:
    """Approving although gates failed is an admin's recorded decision."""
    return can(user, "registry.override_gates")


def can_withdraw(user, promotion: PromotionRequest) -> bool:
    return promotion.is_open and _requester_or(user, promotion, "registry.change_promotionrequest")


def can_rerun(user, promotion: PromotionRequest) -> bool:
    return promotion.status == Status.PENDING and _requester_or(user, promotion, "registry.override_gates")


def actions_for(user, promotion: PromotionRequest) -> dict[str, bool]:
    """What `user` may do with `promotion` now, for the page's buttons."""
    return {
        "can_review": can_review(user, promotion),
        "can_override": can_override(user),
        "own_request": user is not None and user.pk == promotion.requested_by_id,
        "can_withdraw": can_withdraw(user, promotion),
        "can_rerun": can_rerun(user, promotion),
    }


def _open_request_conflict(version: ModelVersion, stage: str) -> Conflict:
    existing = PromotionRequest.objects.filter(version=version, stage=stage, status__in=PromotionRequest.OPEN).first()
    number = f" (#{existing.pk})" if existing else ""
    return Conflict(f"{version} already has an open request{number} to move to {stage}.")


def _check_target(version: ModelVersion, stage: str) -> None:
    if stage not in PromotionRequest.TARGET_STAGES:
        raise ValidationError({"stage": f"Versions are promoted to {' or '.join(PromotionRequest.TARGET_STAGES)}."})
    if version.stage == stage:
        raise ValidationError({"stage": f"{version} is already in {stage}."})
    if version.stage == ModelVersion.Stage.PRODUCTION:
        raise ValidationError(
            {"stage": f"{version} is in production; promote another version to replace it, or request a rollback."}
        )


def _create(version: ModelVersion, stage: str, *, kind: str, justification: str, actor, **fields) -> PromotionRequest:
    config = schemas.normalise_gates(version.model.gates)
    try:
        with transaction.atomic():
            promotion = PromotionRequest.objects.create(
                model=version.model,
                version=version,
                stage=stage,
                kind=kind,
                justification=justification,
                requested_by=actor,
                approvals_required=1 if kind == PromotionRequest.Kind.ROLLBACK else config["approvals"][stage],
                **fields,
            )
    except IntegrityError:
        raise _open_request_conflict(version, stage) from None
    return promotion


@transaction.atomic
def request_promotion(version: ModelVersion, stage: str, *, justification: str, actor) -> PromotionRequest:
    """Open a request and queue its gates (`schemas.PromotionAsk`); reviewers see it once the gates have run."""
    require(actor, *PERMISSIONS["request"])
    clean = schemas.validate(schemas.PromotionAsk, {"stage": stage, "justification": justification})
    stage, justification = clean["stage"], clean["justification"].strip()
    _check_target(version, stage)
    promotion = _create(version, stage, kind=PromotionRequest.Kind.PROMOTION, justification=justification, actor=actor)
    _queue_gates(promotion, actor)
    audit.record(
        actor=actor,
        action="promotion.requested",
        target=promotion,
        after={"model": version.model.name, "version": version.number, "stage": stage, "kind": promotion.kind},
        comment=justification,
    )
    return promotion


def request_promotion_from(data, *, actor) -> PromotionRequest:
    """`request_promotion` for a version named by model and number (`schemas.PromotionCreate`, the API's body)."""
    require(actor, *PERMISSIONS["request"])
    clean = schemas.validate(schemas.PromotionCreate, data)
    return request_promotion(clean["version"], clean["stage"], justification=clean["justification"], actor=actor)


def _queue_gates(promotion: PromotionRequest, actor) -> None:
    job = jobs.enqueue(
        kind="promotion-gates",
        task="registry.tasks.run_gates",
        actor=actor,
        title=f"Gates for {promotion.version} → {promotion.stage}",
        params={"request_id": promotion.pk},
        target=promotion,
    )
    promotion.job = job
    promotion.save(update_fields=["job"])


@transaction.atomic
def rerun_gates(promotion: PromotionRequest, *, actor) -> PromotionRequest:
    """Run the gates again (after fixing a threshold or the data); reviews given so far stay."""
    promotion = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
    if not _requester_or(actor, promotion, "registry.override_gates"):
        raise PermissionDenied("Only the requester or an admin can run the gates again.")
    if promotion.status != Status.PENDING:
        raise Conflict(
            f"Request #{promotion.pk} is {promotion.get_status_display().lower()}; gates run again only while it awaits review."
        )
    promotion.status, promotion.gates_status = Status.CHECKING, PromotionRequest.Gates.RUNNING
    promotion.save(update_fields=["status", "gates_status"])
    _queue_gates(promotion, actor)
    audit.record(actor=actor, action="promotion.gates_rerun", target=promotion)
    return promotion


def evaluate_gates(promotion: PromotionRequest, *, progress=None) -> PromotionRequest:
    """Run the five gates for a request (on a worker) and store each result as evidence.

    The rows the candidate (and the production champion) are scored on are the model's evaluation set when
    one is configured, whoever trained either version; otherwise the candidate's own holdout, which only a
    version trained here has. A version trained elsewhere without an evaluation set gets "needs_configuration"
    from the gates that need rows, and the request is "undecided" until an evaluation set is configured and
    the gates run again. A gate whose inputs cannot be obtained (the data is gone, the champion cannot score
    the rows) fails with the reason rather than crashing the job, so the reviewer sees why.
    """
    progress = progress or (lambda percent, message: None)
    version = ModelVersion.objects.select_related("model", "artifact", "run").get(pk=promotion.version_id)
    config = schemas.normalise_gates(version.model.gates)
    champion = (
        ModelVersion.objects.select_related("artifact")
        .filter(model_id=version.model_id, stage=ModelVersion.Stage.PRODUCTION)
        .exclude(pk=version.pk)
        .first()
    )
    results: list[gates.GateResult] = []
    evidence: dict = {"config": config, "champion_version": champion.number if champion else None}

    progress(5, "Verifying the artifact's sha256")
    results.append(_hash_gate(version))
    progress(10, "Reading the rows to score on")
    rows = _scoring_inputs(version, champion, config, evidence)
    task = rows.task
    metric = gate_config.champion_metric(config, task)
    progress(15, "Checking metric thresholds")
    results.append(_threshold_gate(version, config, rows))
    progress(20, "Comparing the signature with production")
    results.append(gates.signature_compatible(version.signature, champion.signature if champion else None))

    if rows.problem:
        if rows.status == gates.NEEDS_CONFIGURATION and champion is None:
            results.append(
                gates.GateResult(
                    "champion_challenger",
                    gates.SKIPPED,
                    "Skipped: no production version to compare with.",
                    {"metric": metric, "task": task},
                )
            )
        else:
            results.append(gates.GateResult("champion_challenger", rows.status, rows.problem, {"metric": metric}))
    else:
        progress(50, "Scoring candidate and champion on the same rows")
        results.append(_champion_gate(rows, version, champion, metric, config, evidence))
    progress(80, "Measuring fairness")
    results.append(_fairness_gate(rows, version, config))

    with transaction.atomic():
        promotion = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
        if promotion.status != Status.CHECKING:
            return promotion  # withdrawn while the gates ran: keep its history as it was
        promotion.gates = [result.to_dict() for result in results]
        promotion.gates_status = gates.overall(results)
        promotion.evidence = evidence
        promotion.champion = champion
        promotion.status = Status.PENDING
        promotion.save(update_fields=["gates", "gates_status", "evidence", "champion", "status"])
        audit.record(
            actor=None,
            action="promotion.gates_checked",
            target=promotion,
            after={"gates": promotion.gates_status, **{r.name: r.status for r in results}},
        )
    return promotion


def gates_crashed(promotion: PromotionRequest, error: str) -> None:
    """The gates job died: the request waits for review with an error gate, which blocks approval like a failure."""
    with transaction.atomic():
        promotion = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
        if promotion.status != Status.CHECKING:
            return
        promotion.gates = [
            {"name": "gates", "status": gates.FAIL, "message": f"The gates could not run: {error}", "details": {}}
        ]
        promotion.gates_status, promotion.status = PromotionRequest.Gates.ERROR, Status.PENDING
        promotion.save(update_fields=["gates", "gates_status", "status"])
        audit.record(
            actor=None, action="promotion.gates_checked", target=promotion, after={"gates": "error", "error": error}
        )


def _hash_gate(version: ModelVersion) -> gates.GateResult:
    try:
        with default_storage.open(version.artifact.file, "rb") as handle:
            data = handle.read()
    except OSError:
        return gates.GateResult("artifact_hash", gates.FAIL, "The model file is missing from storage.", {})
    return gates.artifact_hash(data, version.sha256)


HOLDOUT, EVALUATION_SET = "holdout", "evaluation_set"
NOT_TRAINED_HERE = "was not trained here"  # `holdout_of`'s sentence for a run whose holdout rows are unknown


def needs_evaluation_set(version: ModelVersion) -> str:
    return (
        f"{version} was not trained here, so its holdout rows are unknown: configure an evaluation set on the "
        f"model (a dataset version with the target column) and re-run the gates."
    )


@dataclass
class ScoringRows:
    """What the champion, threshold and fairness gates score: the rows, the loaded candidate, or why not."""

    holdout: experiment_services.Holdout | None = None
    candidate: object = None
    task: str = ""
    problem: str = ""
    status: str = gates.FAIL  # of the gates that need rows, when there is a problem
    source: str = HOLDOUT
    described: str = ""  # "the evaluation set credit v2 (sha256 1a2b3c4d5e6f…, 400 rows)"
    facts: dict = field(default_factory=dict)


def _scoring_inputs(version: ModelVersion, champion: ModelVersion | None, config: dict, evidence: dict) -> ScoringRows:
    task = version.task or ""
    try:
        candidate = experiment_services.load_pipeline(version.artifact, version.signature)
    except ValueError as exc:
        return ScoringRows(task=task, problem=f"Cannot score the candidate: {exc}")
    if not task:
        task = gates.CLASSIFICATION if hasattr(candidate, "classes_") else gates.REGRESSION
    if config["evaluation"]:
        return _evaluation_rows(version, champion, candidate, task, config["evaluation"], evidence)
    try:
        holdout = experiment_services.holdout_of(version.run)
    except ValueError as exc:
        if NOT_TRAINED_HERE in str(exc):
            return ScoringRows(
                candidate=candidate,
                task=task,
                problem=needs_evaluation_set(version),
                status=gates.NEEDS_CONFIGURATION,
            )
        return ScoringRows(task=task, problem=f"Cannot score the candidate: {exc}")
    return ScoringRows(holdout, candidate, version.task or holdout.task)


def _evaluation_rows(version, champion, candidate, task, evaluation, evidence) -> ScoringRows:
    """The configured evaluation set's labelled rows, less those either version is known to have trained on."""
    from experiments import training
    from experiments.models import DatasetVersion

    found = DatasetVersion.objects.select_related("dataset").filter(pk=evaluation["dataset_version"]).first()
    if found is None:
        return ScoringRows(
            task=task, problem=f"The evaluation set (dataset version {evaluation['dataset_version']}) is gone."
        )
    target = evaluation["target"]
    facts = {
        "dataset_version": found.pk,
        "dataset": found.dataset.name,
        "number": found.number,
        "sha256": found.sha256,
        "target": target,
    }
    evidence["evaluation"] = facts
    name = f"the evaluation set {found.dataset.name} v{found.number}"
    try:
        frame = experiment_services.load_frame(found)
        if target not in frame.columns:
            raise ValueError(f"it has no column “{target}”")
        frame = frame[frame[target].notna()]
        y = training._target_values(frame[target], task)
    except (OSError, ValueError) as exc:
        return ScoringRows(task=task, problem=f"Cannot read {name}: {exc}.")
    facts["rows"] = len(frame)
    missing = [c for c in _columns(version) if c not in frame.columns]
    if missing:
        return ScoringRows(
            task=task, problem=f"{name[0].upper()}{name[1:]} lacks columns {version} needs: {', '.join(missing)}."
        )
    # Rows a version trained here learnt from would flatter it; rows of a version trained elsewhere are unknown.
    keep = np.ones(len(frame), dtype=bool)
    seen = {}
    for each in (version, champion):
        if each is None:
            continue
        unseen = _unseen_by(each, frame, [*_columns(each), target])
        if unseen is not None:
            seen[f"v{each.number}"] = int((~unseen).sum())
            keep &= unseen
    facts["seen_in_training"] = seen
    facts["scored_rows"] = int(keep.sum())
    if keep.sum() < MIN_COMPARED_ROWS:
        return ScoringRows(
            task=task,
            problem=f"Only {int(keep.sum())} rows of {name} were not used to train the versions compared; at least "
            f"{MIN_COMPARED_ROWS} are needed.",
        )
    holdout = experiment_services.Holdout(frame[keep], np.asarray(y)[keep], target, task, found)
    described = f"{name} (sha256 {found.sha256[: gates.HASH_PREFIX]}…, {int(keep.sum())} rows)"
    return ScoringRows(holdout, candidate, task, source=EVALUATION_SET, described=described, facts=facts)


def _on_evaluation_set(result: gates.GateResult, rows: ScoringRows) -> gates.GateResult:
    """The result, saying it was measured on the evaluation set, with the set's facts in its details."""
    if rows.source != EVALUATION_SET or (result.status == gates.SKIPPED and not result.details):
        return result
    return gates.GateResult(
        result.name,
        result.status,
        f"{result.message[:-1]}, on {rows.described}.",
        {**result.details, "evaluation_set": rows.facts},
    )


def _threshold_gate(version: ModelVersion, config: dict, rows: ScoringRows) -> gates.GateResult:
    """On an evaluation set, the thresholds hold on metrics computed on its rows; otherwise on the recorded ones."""
    thresholds = config["thresholds"]
    if not thresholds:
        return gates.metric_thresholds(version.metrics, thresholds)
    if config["evaluation"]:
        if rows.problem:
            return gates.GateResult("metric_thresholds", rows.status, rows.problem, {"checks": []})
        try:
            computed = _metrics_on(rows.candidate, rows.holdout, version)
        except (ValueError, KeyError) as exc:
            return gates.GateResult(
                "metric_thresholds", gates.FAIL, f"Cannot score the candidate on {rows.described}: {exc}", {}
            )
        return gates.metric_thresholds(
            computed,
            thresholds,
            source=f"computed by the platform on {rows.described}",
            source_details={"kind": EVALUATION_SET, **rows.facts},
        )
    if version.metrics_source == "uploader":
        return gates.metric_thresholds(
            version.metrics,
            thresholds,
            source="metrics reported by the uploader, not computed by the platform: configure an evaluation set "
            "to measure them here",
            source_details={"kind": "uploader"},
        )
    return gates.metric_thresholds(version.metrics, thresholds)


def _metrics_on(pipeline, holdout, version: ModelVersion) -> dict:
    from experiments import metrics

    X = holdout.frame[_columns(version)]
    predicted = pipeline.predict(X)
    if holdout.task != metrics.CLASSIFICATION:
        return metrics.score(holdout.task, holdout.y, predicted)
    proba = pipeline.predict_proba(X) if hasattr(pipeline, "predict_proba") else None
    return metrics.score(holdout.task, holdout.y, predicted, proba=proba, classes=list(pipeline.classes_))


def _columns(version: ModelVersion) -> list[str]:
    return [column["name"] for column in version.signature.get("inputs") or []]


def _predict(pipeline, frame, version: ModelVersion, metric: str):
    X = frame[_columns(version)]
    if metric != "roc_auc":
        return pipeline.predict(X)
    classes = list(pipeline.classes_)
    return pipeline.predict_proba(X)[:, classes.index(sorted(classes)[-1])]


def _champion_gate(rows: ScoringRows, version, champion, metric, config, evidence) -> gates.GateResult:
    name = "champion_challenger"
    holdout, candidate = rows.holdout, rows.candidate
    on_evaluation_set = rows.source == EVALUATION_SET
    key = "evaluation" if on_evaluation_set else "holdout"
    where = rows.described if on_evaluation_set else "the candidate's holdout"
    if not on_evaluation_set:
        evidence["holdout"] = {"rows": len(holdout.frame), "dataset_version": holdout.version.pk}
    champion_scores = None
    try:
        candidate_scores = _predict(candidate, holdout.frame, version, metric)
        if champion is not None:
            missing = [c for c in _columns(champion) if c not in holdout.frame.columns]
            if missing:
                return gates.GateResult(
                    name,
                    gates.FAIL,
                    f"The champion v{champion.number} cannot score {where}: "
                    f"it needs {', '.join(missing)}, which that data lacks.",
                    {"metric": metric},
                )
            # On an evaluation set the rows either version trained on are already left out (`_evaluation_rows`).
            unseen = (
                None
                if on_evaluation_set
                else _unseen_by(champion, holdout.frame, [*_columns(champion), holdout.target])
            )
            if unseen is not None and not unseen.all():
                # A candidate retrained on the champion's data plus new rows has some of the champion's training
                # rows in its holdout; the champion would be scored on rows it learnt. Compare on the others.
                evidence["holdout"]["seen_by_champion"] = int((~unseen).sum())
                if unseen.sum() < MIN_COMPARED_ROWS:
                    return gates.GateResult(
                        name,
                        gates.FAIL,
                        f"Only {int(unseen.sum())} of the candidate's holdout rows were not used to train the "
                        f"champion v{champion.number}; at least {MIN_COMPARED_ROWS} are needed for a fair comparison.",
                        {"metric": metric},
                    )
                candidate_scores = candidate_scores[unseen]
                holdout = experiment_services.Holdout(
                    holdout.frame[unseen], np.asarray(holdout.y)[unseen], holdout.target, holdout.task, holdout.version
                )
            champion_scores = _predict(
                experiment_services.load_pipeline(champion.artifact, champion.signature),
                holdout.frame,
                champion,
                metric,
            )
        evidence[key]["compared_rows"] = len(holdout.frame)
        result = gates.champion_challenger(
            holdout.y,
            candidate_scores,
            champion_scores,
            metric=metric,
            tolerance=config["champion"]["tolerance"],
            task=holdout.task,
        )
        return _on_evaluation_set(result, rows)
    except ValueError as exc:
        return gates.GateResult(name, gates.FAIL, f"Could not compare with the champion: {exc}", {"metric": metric})


MIN_COMPARED_ROWS = 20


def _unseen_by(champion: ModelVersion, frame, columns: list[str]):
    """A boolean mask of the rows of `frame` that are not among the champion's training rows (compared on
    `columns`, numbers as floats, the rest as text), or None when the champion's training rows are unknown."""
    if champion.run_id is None:
        return None
    trained = experiment_services.training_rows_of(champion.run)
    if trained is None or any(c not in trained.columns or c not in frame.columns for c in columns):
        return None
    keys = [_row_keys(trained, columns), _row_keys(frame, columns)]
    return ~keys[1].isin(set(keys[0])).to_numpy()


def _row_keys(frame, columns: list[str]):
    normal = pd.DataFrame(index=frame.index)
    for column in columns:
        numbers = pd.to_numeric(frame[column], errors="coerce")
        numeric = numbers.notna().sum() >= frame[column].notna().sum()  # every present value is a number
        normal[column] = numbers.astype(float) if numeric else frame[column].astype(str)
    return pd.util.hash_pandas_object(normal, index=False)


def _fairness_gate(rows: ScoringRows, version, config) -> gates.GateResult:
    name = "fairness"
    setting = config["fairness"]
    if setting is None:
        return gates.GateResult(name, gates.SKIPPED, "No sensitive column is configured for this model.", {})
    if rows.task != "classification":
        return gates.GateResult(name, gates.SKIPPED, "Skipped: fairness gaps are measured for classifiers.", setting)
    if rows.problem:
        return gates.GateResult(name, rows.status, rows.problem, setting)
    holdout, column = rows.holdout, setting["column"]
    if column not in holdout.frame.columns:
        data = rows.described if rows.source == EVALUATION_SET else "the holdout data"
        return gates.GateResult(name, gates.FAIL, f"The sensitive column “{column}” is not in {data}.", setting)
    predicted = rows.candidate.predict(holdout.frame[_columns(version)])
    result = gates.fairness(holdout.y, predicted, holdout.frame[column], max_gap=setting["max_gap"])
    return _on_evaluation_set(result, rows)


# ---------------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------------


def _locked_open(promotion: PromotionRequest) -> PromotionRequest:
    promotion = PromotionRequest.objects.select_for_update().select_related("version", "model").get(pk=promotion.pk)
    if promotion.status == Status.CHECKING:
        raise Conflict(f"The gates of request #{promotion.pk} are still running; decide once their evidence is in.")
    if promotion.status != Status.PENDING:
        raise Conflict(f"Request #{promotion.pk} is already {promotion.status}; its decision cannot change.")
    return promotion


def _check_reviewer(promotion: PromotionRequest, actor, verb: str) -> None:
    require(actor, *PERMISSIONS[verb])
    if actor is not None and actor.pk == promotion.requested_by_id:
        raise PermissionDenied(f"You opened request #{promotion.pk}; someone else has to {verb} it.")
    if promotion.reviews.filter(reviewer=actor).exists():
        raise Conflict(f"You have already reviewed request #{promotion.pk}.")


def _add_review(promotion: PromotionRequest, actor, decision: str, comment: str) -> Review:
    try:
        with transaction.atomic():
            return Review.objects.create(request=promotion, reviewer=actor, decision=decision, comment=comment)
    except IntegrityError:
        raise Conflict(f"You have already reviewed request #{promotion.pk}.") from None


def _verify_file(version: ModelVersion) -> None:
    result = _hash_gate(version)
    if result.status != gates.PASS:
        raise ValidationError({"version": f"{version} cannot be promoted: {result.message}"})


@transaction.atomic
def approve(promotion: PromotionRequest, data=None, *, actor, **fields) -> PromotionRequest:
    """Add an approval (`schemas.Approval`); the one that reaches `approvals_required` moves the version into the stage."""
    clean = schemas.validate(schemas.Approval, schemas.merged(data, fields))
    comment, override_reason = clean["comment"], clean["override_reason"].strip()
    promotion = _locked_open(promotion)
    _check_reviewer(promotion, actor, "approve")
    if promotion.gates_status != PromotionRequest.Gates.PASS:
        if not override_reason and promotion.gates_status == PromotionRequest.Gates.UNDECIDED:
            waiting = [g["message"] for g in promotion.gates if g["status"] == gates.NEEDS_CONFIGURATION]
            raise Conflict(
                f"The gates of request #{promotion.pk} cannot decide yet: {waiting[0] if waiting else ''} "
                f"Approving it before then needs an admin's override reason."
            )
        if not override_reason:
            failed = ", ".join(g["name"] for g in promotion.gates if g["status"] == gates.FAIL) or "the gates"
            raise Conflict(
                f"Request #{promotion.pk} failed gates ({failed}): approving it needs an admin's override reason."
            )
        if not can_override(actor):
            raise PermissionDenied("Only admins can override failed gates.")
    _verify_file(promotion.version)  # what reaches the stage is byte for byte what the gates scored
    _add_review(promotion, actor, Review.Decision.APPROVE, (comment or "").strip())
    if override_reason:
        promotion.override_reason, promotion.overridden_by = override_reason, actor
        promotion.save(update_fields=["override_reason", "overridden_by"])
        audit.record(actor=actor, action="promotion.gates_overridden", target=promotion, comment=override_reason)
    approvals = promotion.reviews.filter(decision=Review.Decision.APPROVE).count()
    audit.record(
        actor=actor,
        action="promotion.review_added",
        target=promotion,
        after={"decision": "approve", "approvals": approvals, "required": promotion.approvals_required},
        comment=comment,
    )
    if approvals >= promotion.approvals_required:
        promotion.status, promotion.decided_at = Status.APPROVED, timezone.now()
        promotion.save(update_fields=["status", "decided_at"])
        audit.record(
            actor=actor,
            action="promotion.approved",
            target=promotion,
            after=_summary(promotion, approvals=approvals),
            comment=comment,
        )
        move_to_stage(promotion.version, promotion.stage, actor=actor)
    return promotion


@transaction.atomic
def reject(promotion: PromotionRequest, data=None, *, actor, **fields) -> PromotionRequest:
    """One rejection (`schemas.Rejection`) closes the request; its gates and reviews stay as history."""
    promotion = _locked_open(promotion)
    _check_reviewer(promotion, actor, "reject")
    comment = schemas.validate(schemas.Rejection, schemas.merged(data, fields))["comment"].strip()
    _add_review(promotion, actor, Review.Decision.REJECT, comment)
    promotion.status, promotion.decided_at = Status.REJECTED, timezone.now()
    promotion.save(update_fields=["status", "decided_at"])
    audit.record(actor=actor, action="promotion.rejected", target=promotion, after=_summary(promotion), comment=comment)
    return promotion


@transaction.atomic
def withdraw(promotion: PromotionRequest, *, actor) -> PromotionRequest:
    promotion = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
    if not _requester_or(actor, promotion, "registry.change_promotionrequest"):
        raise PermissionDenied("Only the requester or an admin can withdraw a request.")
    if not promotion.is_open:
        raise Conflict(f"Request #{promotion.pk} is already {promotion.status}.")
    promotion.status, promotion.decided_at = Status.WITHDRAWN, timezone.now()
    promotion.save(update_fields=["status", "decided_at"])
    audit.record(actor=actor, action="promotion.withdrawn", target=promotion, after=_summary(promotion))
    return promotion


DECISIONS = ("approve", "reject", "withdraw", "rerun")


def decide(promotion: PromotionRequest, action: str, data, *, actor) -> tuple[PromotionRequest, str]:
    """One of the page's decisions (approve / reject / withdraw / rerun), and the sentence that reports it."""
    if action == "approve":
        promotion = approve(promotion, data, actor=actor)
        if promotion.status == Status.APPROVED:
            return promotion, f"Approved: {promotion.version} is now in {promotion.stage}."
        return promotion, "Your approval is recorded; more reviewers must approve."
    if action == "reject":
        return reject(promotion, data, actor=actor), "Rejected; the requester sees your comment."
    if action == "withdraw":
        return withdraw(promotion, actor=actor), "Request withdrawn; it stays in the history."
    if action == "rerun":
        return rerun_gates(promotion, actor=actor), "The gates run again on a worker."
    raise ValidationError({"action": f"Unknown action; one of {', '.join(DECISIONS)}."})


def _summary(promotion: PromotionRequest, **extra) -> dict:
    return {
        "model": promotion.model.name,
        "version": promotion.version.number,
        "stage": promotion.stage,
        "kind": promotion.kind,
        "status": promotion.status,
        **extra,
    }


def request_rollback_from(data, *, actor) -> PromotionRequest:
    """`request_rollback` for a model named in the body (`schemas.Rollback`, the API's body)."""
    require(actor, *PERMISSIONS["rollback"])
    clean = schemas.validate(schemas.Rollback, data)
    return request_rollback(clean["model"], justification=clean["justification"], actor=actor)


def rollback_target(model: RegisteredModel) -> ModelVersion | None:
    """The version that left production most recently."""
    return (
        model.versions.filter(stage=ModelVersion.Stage.ARCHIVED, production_until__isnull=False)
        .order_by("-production_until")
        .first()
    )


@transaction.atomic
def request_rollback(model: RegisteredModel, *, justification: str, actor) -> PromotionRequest:
    """Fast track back to the previous production version: no worker, one reviewer.

    It was production already, so the metric, champion and fairness gates are not re-run; its file's
    sha256 and its signature against the current production version are checked here and now.
    """
    require(actor, *PERMISSIONS["rollback"])
    justification = schemas.validate(schemas.RollbackAsk, {"justification": justification})["justification"].strip()
    target = rollback_target(model)
    if target is None:
        raise ValidationError({"model": f"{model.name} has no earlier production version to roll back to."})
    current = model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).first()
    results = [
        _hash_gate(target),
        gates.signature_compatible(target.signature, current.signature if current else None),
    ]
    promotion = _create(
        target,
        ModelVersion.Stage.PRODUCTION,
        kind=PromotionRequest.Kind.ROLLBACK,
        justification=justification,
        actor=actor,
        status=Status.PENDING,
        gates=[result.to_dict() for result in results],
        gates_status=gates.overall(results),
        champion=current,
        evidence={"rollback_from": current.number if current else None, "fast_track": True},
    )
    audit.record(
        actor=actor,
        action="promotion.requested",
        target=promotion,
        after={"model": model.name, "version": target.number, "stage": "production", "kind": promotion.kind},
        comment=justification,
    )
    return promotion
