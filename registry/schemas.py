"""The registry services' inputs, one DRF serializer each; the services validate with `mlops_site.schemas.validate`.

The API documents the same classes as its request bodies, so a field is checked, named and described once.
Error keys are what the registry has always answered: a threshold's problems under `gates.thresholds[0]`,
a fairness setting without a column under `gates.fairness`, a bad approval count under
`gates.approvals.production`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from mlops_site.schemas import validate
from registry import cards, gate_config
from registry.models import PromotionRequest


class FiniteNumber(serializers.FloatField):
    """A JSON number that is finite: no text, no booleans, no NaN or infinity (a threshold of NaN never passes)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float) or not math.isfinite(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Refuses keys it does not know (a typo in a config would otherwise be silently ignored)."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            known = [name for name, field in self.fields.items() if not field.read_only]
            if unknown := sorted(set(data) - set(known)):
                raise serializers.ValidationError(f"Unknown keys: {', '.join(unknown)}. Known: {', '.join(known)}.")
        return super().to_internal_value(data)


class OneKeySerializer(serializers.Serializer):
    """Reports every problem of the object under the object's own key (`thresholds[0]`), one sentence each."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, Mapping):
                raise
            raise serializers.ValidationError(
                [str(message) for messages in exc.detail.values() for message in messages]
            ) from None


class Threshold(OneKeySerializer):
    metric = serializers.ChoiceField(
        choices=gate_config.THRESHOLD_METRICS,
        error_messages={
            "invalid_choice": f"metric must be one of {', '.join(gate_config.THRESHOLD_METRICS)}, not {{input!r}}.",
            "required": f"metric must be one of {', '.join(gate_config.THRESHOLD_METRICS)}, not None.",
            "null": f"metric must be one of {', '.join(gate_config.THRESHOLD_METRICS)}, not None.",
        },
    )
    op = serializers.ChoiceField(
        choices=list(gate_config.OPERATORS),
        default=">=",
        error_messages={
            "invalid_choice": f"op must be one of {', '.join(gate_config.OPERATORS)}, not {{input!r}}.",
            "null": f"op must be one of {', '.join(gate_config.OPERATORS)}, not None.",
        },
    )
    value = FiniteNumber(
        error_messages={
            "invalid": "value must be a finite number.",
            "required": "value must be a finite number, not None.",
            "null": "value must be a finite number, not None.",
        }
    )

    default_error_messages = {"invalid": "An object {{metric, op, value}}."}


class Champion(serializers.Serializer):
    metric = serializers.ChoiceField(
        choices=gate_config.METRICS,
        allow_null=True,
        default=None,
        error_messages={"invalid_choice": f"One of {', '.join(gate_config.METRICS)}, or null for the task's default."},
    )
    tolerance = FiniteNumber(
        min_value=0,
        default=gate_config.DEFAULT_TOLERANCE,
        help_text="How much worse than production is accepted, in the metric's units.",
        error_messages={
            "invalid": "A number of zero or more, in the metric's units.",
            "min_value": "A number of zero or more, in the metric's units.",
            "null": "A number of zero or more, in the metric's units.",
        },
    )

    default_error_messages = {"invalid": "An object {{metric, tolerance}}."}


class Fairness(serializers.Serializer):
    NEEDS_COLUMN = "An object {column, max_gap} naming the sensitive column, or null."
    GAP = "A share between 0 and 1, e.g. 0.1 for ten percentage points."

    column = serializers.CharField(max_length=200)
    max_gap = FiniteNumber(
        min_value=0,
        max_value=1,
        default=0.1,
        error_messages={"invalid": GAP, "min_value": GAP, "max_value": GAP, "null": GAP},
    )

    default_error_messages = {"invalid": NEEDS_COLUMN.replace("{", "{{").replace("}", "}}")}

    def to_internal_value(self, data):
        # Without a column there is nothing to measure: say that, rather than what else is wrong.
        if isinstance(data, Mapping) and not str(data.get("column") or "").strip():
            raise serializers.ValidationError(self.NEEDS_COLUMN)
        return super().to_internal_value(data)


class Approvals(StrictSerializer):
    COUNT = f"A whole number of approvals from 1 to {gate_config.MAX_APPROVALS}."

    staging = serializers.IntegerField(
        min_value=1,
        max_value=gate_config.MAX_APPROVALS,
        default=1,
        error_messages={"invalid": COUNT, "min_value": COUNT, "max_value": COUNT, "null": COUNT},
    )
    production = serializers.IntegerField(
        min_value=1,
        max_value=gate_config.MAX_APPROVALS,
        default=1,
        error_messages={"invalid": COUNT, "min_value": COUNT, "max_value": COUNT, "null": COUNT},
    )

    default_error_messages = {"invalid": "An object {{staging: n, production: n}}."}

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = {stage: [f"Stages needing approval are {', '.join(gate_config.STAGES)}."] for stage in data}
            unknown = {stage: message for stage, message in unknown.items() if stage not in gate_config.STAGES}
            if unknown:
                raise serializers.ValidationError(unknown)
        return super().to_internal_value(data)


class Evaluation(StrictSerializer):
    """The model's evaluation set: a dataset version whose rows score every version, and its target column."""

    dataset_version = serializers.IntegerField(
        min_value=1,
        error_messages={
            "invalid": "The id of a dataset version (GET /api/datasets/{name}/versions/).",
            "required": "The id of a dataset version (GET /api/datasets/{name}/versions/).",
            "null": "The id of a dataset version (GET /api/datasets/{name}/versions/).",
            "min_value": "The id of a dataset version (GET /api/datasets/{name}/versions/).",
        },
    )
    target = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Blank: the dataset version's own target."
    )

    default_error_messages = {"invalid": "An object {{dataset_version, target}}, or null: each version's own holdout."}

    def validate(self, data):
        from experiments.models import DatasetVersion

        found = DatasetVersion.objects.select_related("dataset").filter(pk=data["dataset_version"]).first()
        if found is None:
            raise serializers.ValidationError(
                {"dataset_version": f"No dataset version has id {data['dataset_version']}."}
            )
        target = (data.get("target") or "").strip() or found.target
        if not target:
            raise serializers.ValidationError(
                {
                    "target": f"{found.dataset.name} v{found.number} names no target: say which column the models predict."
                }
            )
        columns = [column["name"] for column in found.schema or []]
        if target not in columns:
            raise serializers.ValidationError(
                {"target": f"{found.dataset.name} v{found.number} has no column “{target}”."}
            )
        return {"dataset_version": found.pk, "target": target}


class GateConfig(StrictSerializer):
    """A model's gate configuration, stored on `RegisteredModel.gates` with every default filled in."""

    thresholds = Threshold(
        many=True,
        required=False,
        allow_null=True,
        error_messages={"not_a_list": "A list of {{metric, op, value}} objects."},
    )
    champion = Champion(required=False, allow_null=True)
    fairness = Fairness(required=False, allow_null=True, default=None)
    approvals = Approvals(required=False, allow_null=True)
    evaluation = Evaluation(required=False, allow_null=True, default=None)

    default_error_messages = {"invalid": "The gate configuration is an object."}

    def validate(self, data):
        defaults = gate_config.default()
        config = {key: defaults[key] if data.get(key) is None else data[key] for key in defaults}
        if config["evaluation"] and config["fairness"]:
            from experiments.models import DatasetVersion

            found = DatasetVersion.objects.select_related("dataset").get(pk=config["evaluation"]["dataset_version"])
            if config["fairness"]["column"] not in [column["name"] for column in found.schema or []]:
                raise serializers.ValidationError(
                    {
                        "fairness": {
                            "column": f"The evaluation set {found.dataset.name} v{found.number} has no column "
                            f"“{config['fairness']['column']}” to measure fairness by."
                        }
                    }
                )
        return {
            "thresholds": [dict(item) for item in config["thresholds"]],
            "champion": dict(config["champion"]),
            "fairness": dict(config["fairness"]) if config["fairness"] else None,
            "approvals": dict(config["approvals"]),
            "evaluation": dict(config["evaluation"]) if config["evaluation"] else None,
        }


def merged(data, fields: dict):
    """A service's input as one mapping: a request's body (a QueryDict is passed whole to DRF) plus keyword fields."""
    fields = {key: value for key, value in fields.items() if value is not None}
    if not fields:
        return data if data is not None else {}
    return {**dict(data.items() if hasattr(data, "getlist") else (data or {})), **fields}


def normalise_gates(raw: Any) -> dict[str, Any]:
    """The gate configuration with defaults filled in; ValidationError naming each bad field."""
    return validate(GateConfig, {} if raw is None else raw)


class Tags(serializers.DictField):
    """Names to values; values are kept as text (any JSON value, cut at 500 characters, as always)."""

    child = serializers.CharField(allow_blank=True, allow_null=True, max_length=500)

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"not_a_dict": "Tags are an object of names to values."})
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and not all(isinstance(key, str) and key.strip() for key in data):
            self.fail("not_a_dict", input_type=type(data).__name__)
        if isinstance(data, Mapping):
            data = {key: None if value is None else str(value)[:500] for key, value in data.items()}
        tags = super().to_internal_value(data)
        return {key.strip()[:64]: "" if value is None else value for key, value in tags.items()}


class ModelEdit(serializers.Serializer):
    """An edit of a registered model: any of its description, tags and gate configuration."""

    description = serializers.CharField(required=False, allow_blank=True)  # a model's description has no limit
    tags = Tags(required=False)
    gates = serializers.JSONField(
        required=False,
        help_text="Gate configuration: {thresholds: [{metric, op, value}], champion: {metric, tolerance}, "
        "fairness: {column, max_gap} or null, approvals: {staging: n, production: n}, "
        "evaluation: {dataset_version: id, target: column} or null (the rows every version is scored on)}. "
        "Only the owner or an admin may change it.",
    )

    def validate_gates(self, value):
        try:
            return normalise_gates(value)
        except DjangoValidationError as exc:  # keyed by the nested field: `gates.thresholds[0]`
            raise serializers.ValidationError(exc.message_dict) from None


class VersionEdit(serializers.Serializer):
    """PATCH of a version: its description, tags and the model card's written sections."""

    description = serializers.CharField(required=False, allow_blank=True)
    tags = Tags(required=False)
    intended_use = serializers.CharField(required=False, allow_blank=True, max_length=cards.MAX_SECTION_CHARS)
    limitations = serializers.CharField(required=False, allow_blank=True, max_length=cards.MAX_SECTION_CHARS)
    ethical_considerations = serializers.CharField(required=False, allow_blank=True, max_length=cards.MAX_SECTION_CHARS)

    def validate_description(self, value):
        return value[:5000]  # a version's description is cut at 5,000 characters, as it always was

    def validate(self, data):
        if not data:
            raise serializers.ValidationError("Send description, tags or a card section.")
        return data


STAGE_CHOICE = f"Versions are promoted to {' or '.join(PromotionRequest.TARGET_STAGES)}."


class PromotionAsk(serializers.Serializer):
    """What a person asks when opening a promotion request for a version."""

    stage = serializers.ChoiceField(
        choices=[(s, s.title()) for s in PromotionRequest.TARGET_STAGES],
        error_messages={"invalid_choice": STAGE_CHOICE, "required": STAGE_CHOICE, "null": STAGE_CHOICE},
    )
    justification = serializers.CharField(
        help_text="Why this version should move; reviewers read it first.",
        error_messages={
            "blank": "Say why this version should move; reviewers read it first.",
            "required": "Say why this version should move; reviewers read it first.",
            "null": "Say why this version should move; reviewers read it first.",
        },
    )


class PromotionCreate(PromotionAsk):
    """A promotion request through the API: the version is named by its model and number."""

    model = serializers.CharField(help_text="The registered model's name.")
    version = serializers.IntegerField(help_text="The version number to promote.")

    def validate(self, data):
        from registry.models import ModelVersion, RegisteredModel

        model = RegisteredModel.objects.filter(name=data["model"]).first()
        if model is None:
            raise serializers.ValidationError({"model": f"No registered model named “{data['model']}”."})
        version = ModelVersion.objects.filter(model=model, number=data["version"]).first()
        if version is None:
            raise serializers.ValidationError({"version": f"{model.name} has no version {data['version']}."})
        return {**data, "version": version}


class Approval(serializers.Serializer):
    """A reviewer's approval."""

    comment = serializers.CharField(required=False, allow_blank=True, default="")
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Admins only: approve although gates failed; the reason is recorded.",
    )


class Rejection(serializers.Serializer):
    """A reviewer's rejection: the comment is required, the requester reads it."""

    WHY = "Say why: the requester reads it to fix the version."

    comment = serializers.CharField(
        help_text="Why; the requester reads it.",
        error_messages={"blank": WHY, "required": WHY, "null": WHY},
    )


class RollbackAsk(serializers.Serializer):
    """A fast-track request to put back the version that left production last."""

    WHY = "Say why production must roll back."

    justification = serializers.CharField(error_messages={"blank": WHY, "required": WHY, "null": WHY})


class Rollback(RollbackAsk):
    """A rollback through the API: the model is named."""

    model = serializers.CharField()

    def validate_model(self, value):
        from registry.models import RegisteredModel

        model = RegisteredModel.objects.filter(name=value).first()
        if model is None:
            raise serializers.ValidationError("No registered model by that name.")
        return model


class SignatureColumn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=["numeric", "categorical", "boolean", "datetime", "text"])
    dtype = serializers.CharField(required=False, max_length=50, help_text="The pandas dtype it was fitted with.")
    categories = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False, max_length=1000)


class SignatureOutput(serializers.Serializer):
    task = serializers.ChoiceField(choices=["classification", "regression"], required=False, allow_null=True)
    classes = serializers.ListField(child=serializers.JSONField(), required=False, allow_null=True, max_length=10_000)


class Signature(serializers.Serializer):
    """A model's inputs (one per column, with its kind and, for categories, the known values) and its output."""

    inputs = serializers.ListField(child=SignatureColumn(), min_length=1, max_length=5000)
    output = SignatureOutput(required=False)

    def validate_inputs(self, value):
        names = [column["name"] for column in value]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("Each input column is named once.")
        return value


class JsonText(serializers.JSONField):
    """A JSON value sent as text (a multipart form field) or as JSON itself."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            import json

            try:
                data = json.loads(data)
            except ValueError as exc:
                raise serializers.ValidationError(f"Not valid JSON: {exc}.") from None
            except RecursionError:  # "[[[[…" thousands deep
                raise serializers.ValidationError("Not valid JSON: nested too deeply.") from None
        return super().to_internal_value(data)


class VersionUpload(serializers.Serializer):
    """A model trained anywhere: its file (skops or ONNX) and what the platform cannot read from it."""

    file = serializers.FileField(help_text="The model: a skops file (scikit-learn) or an ONNX model.")
    signature = JsonText(
        required=False,
        help_text='Input columns and output: {"inputs": [{"name", "kind", "categories"?}], "output": {"task", "classes"}}.',
    )
    sample = serializers.FileField(
        required=False, help_text="A few input rows (CSV, or a JSON list of objects) to infer the signature from."
    )
    task = serializers.ChoiceField(choices=["classification", "regression"], required=False)
    run = serializers.IntegerField(required=False, min_value=1, help_text="A logged run the version belongs to.")
    training_dataset_version = serializers.IntegerField(
        required=False, min_value=1, help_text="The dataset version the model was fitted on (lineage, drift, refit)."
    )
    target = serializers.CharField(required=False, max_length=200, help_text="The label column of that data.")
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    def validate_signature(self, value):
        return validate(Signature, value)

    def validate(self, attrs):
        if "signature" not in attrs and "sample" not in attrs:
            raise serializers.ValidationError({"signature": "Send a signature, or a sample of input rows to infer it."})
        if "target" in attrs and "training_dataset_version" not in attrs:
            raise serializers.ValidationError({"target": "A target names a column of training_dataset_version."})
        return attrs
