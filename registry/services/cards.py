"""Model cards: gather a version's facts for `registry.cards.build`, and edit the sections people write.

The generated parts are rebuilt from the database on every read, so they always match the version;
only the three written sections are stored, on `ModelVersion.card`.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from experiments.models import DatasetVersion
from mlops_site import audit
from registry import cards, schemas
from registry.models import ModelVersion, PromotionRequest

__all__ = ["can_edit", "card_facts", "update_card"]


def can_edit(version: ModelVersion, user) -> bool:
    """Data scientists edit any card; a model's owner edits its cards whatever their role."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.has_perm("registry.add_modelversion") or (
        version.model.owner_id is not None and user.pk == version.model.owner_id
    )


def card_facts(version: ModelVersion) -> dict[str, Any]:
    """Plain data for `cards.build`: the version's snapshots, its data lineage with row counts, the last fairness result."""
    version = ModelVersion.objects.select_related("model", "run", "run__experiment", "created_by").get(pk=version.pk)
    inputs = (version.lineage or {}).get("inputs") or []
    versions = DatasetVersion.objects.in_bulk([item.get("version") for item in inputs if item.get("version")])
    data = []
    for item in inputs:
        stored = versions.get(item.get("version"))
        data.append(
            {
                **item,
                "rows": stored.row_count if stored else None,
                "columns": stored.column_count if stored else None,
            }
        )
    run = version.run
    training = dict(run.training_request or {})
    training.setdefault("target", version.params.get("target"))
    return {
        "model": {"name": version.model.name, "description": version.model.description},
        "version": {
            "number": version.number,
            "stage": version.stage,
            "aliases": sorted(version.aliases.values_list("name", flat=True)),
            "created_at": version.created_at,
            "created_by": version.created_by.get_username() if version.created_by else "",
            "sha256": version.sha256,
            "description": version.description,
        },
        "run": {
            "id": run.pk,
            "name": run.name,
            "experiment": (version.lineage or {}).get("experiment") or run.experiment.name,
        },
        "training": training,
        "data": data,
        "signature": version.signature or {},
        "metrics": version.metrics or {},
        "params": version.params or {},
        "fairness": latest_fairness(version),
        "sections": {key: (version.card or {}).get(key, "") for key in cards.SECTIONS},
    }


def latest_fairness(version: ModelVersion) -> dict[str, Any] | None:
    """The newest fairness gate that measured groups; failing that, the newest one that said why it could not."""
    fallback = None
    requests = PromotionRequest.objects.filter(version=version).exclude(gates=[]).order_by("-created_at", "-pk")
    for request in requests.only("pk", "gates", "evidence", "created_at"):
        result = next((gate for gate in request.gates or [] if gate.get("name") == "fairness"), None)
        if result is None:
            continue
        setting = ((request.evidence or {}).get("config") or {}).get("fairness") or {}
        found = {
            **result,
            "column": setting.get("column", ""),
            "request": request.pk,
            "requested_at": request.created_at,
        }
        if (result.get("details") or {}).get("groups"):
            return found
        fallback = fallback or found
    return fallback


@transaction.atomic
def update_card(version: ModelVersion, *, actor, **sections: str) -> ModelVersion:
    """Replace the given written sections of a version's card; audited with the before and after text.

    Sections not passed keep their text. Nothing is saved unless every section passed is valid.
    """
    version = ModelVersion.objects.select_for_update().select_related("model").get(pk=version.pk)
    if not can_edit(version, actor):
        raise PermissionDenied(
            f"Only data scientists or the owner of {version.model.name} can edit its model card; reviewers read it."
        )
    # VersionEdit checks (and strips) the written sections; it ignores keys it does not know, so those are named here.
    errors = {
        key: [f"Unknown section “{key}”. A card's written sections are {', '.join(cards.SECTIONS)}."]
        for key in sections
        if key not in cards.SECTIONS
    }
    known = {key: value for key, value in sections.items() if key in cards.SECTIONS}
    cleaned: dict[str, str] = {}
    try:
        cleaned = dict(schemas.validate(schemas.VersionEdit, known, partial=True)) if known else {}
    except ValidationError as invalid:
        errors.update(invalid.message_dict)
    if errors:
        raise ValidationError(errors)
    card = dict(version.card or {})
    reviewed = card.pop("carried_over_from", None) is not None  # saving a carried-over card is its review
    changed = {key: text for key, text in cleaned.items() if card.get(key, "") != text}
    if not changed and not reviewed:
        return version
    before = {key: card.get(key, "") for key in changed}
    card.update(changed)
    version.card = card
    version.save(update_fields=["card"])
    audit.record(actor=actor, action="model.card_updated", target=version, before=before, after=changed)
    return version
