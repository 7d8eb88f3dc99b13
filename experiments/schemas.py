"""What each experiments service accepts: one DRF serializer per input, validated by the service.

The training request is checked in two layers: the fields here (types and ranges), then, in `validate`,
what only the dataset version's schema can tell (`training.validate_request`: columns, task, rows
enough for the split, hyperparameters judged by scikit-learn). The log batch is the hot path (up to
10,000 points), so its metric list is one field with a plain loop rather than a serializer per point.
"""

from __future__ import annotations

import itertools
import math
import sys
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from experiments.models import DatasetVersion, Experiment
from mlops_site import lazy
from mlops_site.api.parsers import as_utc

training = lazy.module("experiments.training")

MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_SWEEP_TRIALS = 100
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seed range
DOUBLE_MAX = sys.float_info.max  # an int past it (JSON allows 10**400) has no float

HOLDOUT_MESSAGE = "The holdout fraction must be greater than 0 and at most 0.9."
FOLDS_MESSAGE = "Cross-validation folds must be a whole number from 2 to 20, or empty."
SEED_MESSAGE = "The seed must be a whole number from 0 to 4,294,967,295."


class TrainingSettings(serializers.Serializer):
    """A training request as stored on the run (`Run.training_request`), checked against `context["version"]`."""

    target = serializers.CharField()
    algorithm = serializers.CharField(
        help_text="logistic_regression, linear_regression, ridge, random_forest, hist_gradient_boosting or knn."
    )
    params = serializers.DictField(required=False, default=dict, help_text="Hyperparameters of the estimator.")
    features = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True, default=None)
    task = serializers.ChoiceField(
        choices=["classification", "regression"],
        required=False,
        allow_null=True,
        default=None,
        help_text="Inferred from the target when omitted.",
        error_messages={"invalid_choice": "Unknown task {input!r}; choose classification or regression."},
    )
    holdout = serializers.FloatField(required=False, default=0.2, error_messages={"invalid": HOLDOUT_MESSAGE})
    cv_folds = serializers.IntegerField(
        required=False, allow_null=True, default=None, error_messages={"invalid": FOLDS_MESSAGE}
    )
    seed = serializers.IntegerField(required=False, default=0, error_messages={"invalid": SEED_MESSAGE})

    SETTINGS = ("target", "algorithm", "params", "features", "task", "holdout", "cv_folds", "seed")

    def validate_algorithm(self, value: str) -> str:
        if value not in training.ALGORITHMS:
            raise serializers.ValidationError(
                f"Unknown algorithm {value!r}; choose one of {', '.join(sorted(training.ALGORITHMS))}."
            )
        return value

    def validate_holdout(self, value: float) -> float:
        if not math.isfinite(value) or not 0 < value <= 0.9:
            raise serializers.ValidationError(HOLDOUT_MESSAGE)
        return value

    def validate_cv_folds(self, value: int | None) -> int | None:
        if value is not None and not 2 <= value <= 20:
            raise serializers.ValidationError(FOLDS_MESSAGE)
        return value

    def validate_seed(self, value: int) -> int:
        if not 0 <= value <= MAX_SEED:
            raise serializers.ValidationError(SEED_MESSAGE)
        return value

    def version(self, attrs) -> DatasetVersion:
        return attrs.get("dataset_version") or self.context["version"]

    def validate(self, attrs):
        """The request normalised against the version's schema (features resolved, task settled where it can be)."""
        version = self.version(attrs)
        try:
            normalised = training.validate_request(
                version.schema, version.row_count, **{key: attrs[key] for key in self.SETTINGS}
            )
        except training.TrainingError as exc:
            raise serializers.ValidationError(exc.errors) from None
        return {**attrs, **normalised}


class TrainingRequest(TrainingSettings):
    """POST /api/training/ and the training page: which experiment, which data, and the settings."""

    experiment = serializers.PrimaryKeyRelatedField(queryset=Experiment.objects.all())
    dataset_version = serializers.PrimaryKeyRelatedField(queryset=DatasetVersion.objects.all())
    name = serializers.CharField(required=False, allow_blank=True, default="")

    def get_fields(self):  # experiment and dataset_version first, as the API documented them
        fields = super().get_fields()
        first = ["experiment", "dataset_version"]
        return {key: fields[key] for key in first} | {k: v for k, v in fields.items() if k not in first}


class SweepSettings(serializers.Serializer):
    """The search of a sweep: grid or random over a space of hyperparameter values."""

    search = serializers.ChoiceField(
        choices=["grid", "random"], error_messages={"invalid_choice": "Use “grid” or “random”."}
    )
    space = serializers.DictField(
        child=serializers.ListField(),
        help_text='e.g. {"max_depth": [3, 6, null]}',
        error_messages={"not_a_dict": 'Give each hyperparameter a list of values, e.g. {"C": [0.1, 1]}.'},
    )
    trials = serializers.IntegerField(required=False, allow_null=True, default=None)

    def to_internal_value(self, data):
        space = data.get("space") if hasattr(data, "get") else None
        bad = (
            [name for name, values in space.items() if not isinstance(values, list) or not values]
            if isinstance(space, dict)
            else []
        )
        if bad:  # name the hyperparameter whose values are not a non-empty list
            raise serializers.ValidationError({f"space.{bad[0]}": ["A non-empty list of values."]})
        return super().to_internal_value(data)

    def validate_space(self, value: dict) -> dict:
        if not value:
            raise serializers.ValidationError('Give each hyperparameter a list of values, e.g. {"C": [0.1, 1]}.')
        return value

    def validate(self, attrs):
        combinations = math.prod(len(values) for values in attrs["space"].values())
        if attrs["search"] == "grid" and combinations > MAX_SWEEP_TRIALS:
            raise serializers.ValidationError(
                {"space": f"The grid has {combinations} combinations; at most {MAX_SWEEP_TRIALS}."}
            )
        trials = attrs.get("trials")
        if attrs["search"] == "random" and (trials is None or not 1 <= trials <= MAX_SWEEP_TRIALS):
            raise serializers.ValidationError({"trials": f"A random search needs 1 to {MAX_SWEEP_TRIALS} trials."})
        return attrs


def sweep_trials(search: str, space: dict, trials: int | None, seed: int) -> list[dict]:
    """The combinations a validated sweep trains: the whole grid, or a reproducible sample of distinct ones."""
    import random

    names = sorted(space)
    grid = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(space[n] for n in names))]
    if search == "grid":
        return grid
    return random.Random(seed).sample(grid, min(trials, len(grid)))


class SweepRequest(TrainingRequest, SweepSettings):
    """POST /api/sweeps/: a training request plus its search; each trial is validated as a training request."""

    def validate(self, attrs):
        return SweepSettings.validate(self, attrs)  # the trials are checked one by one by `start_sweep`


# ---------------------------------------------------------------------------------------------------
# Tracking
# ---------------------------------------------------------------------------------------------------


def parse_timestamp(raw: Any, now: datetime) -> datetime:
    """ISO 8601 text, or milliseconds since the epoch as MLflow clients send; default now. ValueError otherwise."""
    if raw is None:
        return now
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        try:
            return datetime.fromtimestamp(raw / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(raw, str):
        try:
            parsed = parse_datetime(raw)
        except ValueError:
            parsed = None
        if parsed is not None and (utc := as_utc(parsed)) is not None:
            return utc
    raise ValueError("Use ISO 8601 text or milliseconds since the epoch.")


class MetricPoints(serializers.ListField):
    """[{key, value, step?, timestamp?}] as (key, value, step, time) tuples, checked in one tight loop.

    A serializer per point costs about a second for a 10,000-point batch; this loop a few milliseconds.
    Errors name the point (`metrics[3].value`).
    """

    def __init__(self, **kwargs):
        super().__init__(child=serializers.DictField(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list):
            raise serializers.ValidationError("Metrics must be a list of {key, value, step?, timestamp?} objects.")
        limit = settings.RUN_LOG_BATCH_LIMIT
        if len(data) > limit:
            raise serializers.ValidationError(f"At most {limit:,} points per batch; this one has {len(data):,}.")
        now = self.context.get("now") or datetime.now(UTC)
        # NaN and ±Infinity only where the caller speaks a protocol that has them (the MLflow surface).
        non_finite = bool(self.context.get("non_finite"))
        parsed = []
        append, epoch = parsed.append, datetime.fromtimestamp
        for index, point in enumerate(data):  # the hot loop: no work beyond the checks
            if type(point) is not dict:
                raise serializers.ValidationError({index: ["Each point must be an object with key and value."]})
            key, value, step, stamp = point.get("key"), point.get("value"), point.get("step", 0), point.get("timestamp")
            if type(key) is not str or not key or len(key) > MAX_KEY:
                raise serializers.ValidationError(
                    {index: {"key": [f"A metric name of 1 to {MAX_KEY} characters is required."]}}
                )
            kind = type(value)
            # value - value is 0.0 for a finite float, NaN for NaN and ±inf; an int must fit a double.
            if (kind is not float or (value - value != 0.0 and not non_finite)) and (
                kind is not int or not -DOUBLE_MAX <= value <= DOUBLE_MAX
            ):
                raise serializers.ValidationError(
                    {index: {"value": [f"The value must be a finite number, got {value!r}."]}}
                )
            if type(step) is not int or not -(2**63) <= step < 2**63:
                raise serializers.ValidationError(
                    {index: {"step": [f"The step must be a 64-bit integer, got {step!r}."]}}
                )
            if type(stamp) is int and 0 <= stamp < 253_402_300_800_000:  # epoch ms up to year 9999
                when = epoch(stamp / 1000, tz=UTC)
            else:
                try:
                    when = parse_timestamp(stamp, now)
                except ValueError as exc:
                    raise serializers.ValidationError({index: {"timestamp": [str(exc)]}}) from None
            append((key, float(value), step, when))
        return parsed


class Tags(serializers.DictField):
    """name → value, values kept as text."""

    default_error_messages = {"not_a_dict": "Tags must be an object of names to values."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        cleaned = {}
        for key, value in data.items():
            if not isinstance(key, str) or not key or len(key) > MAX_KEY:
                raise serializers.ValidationError(f"Tag names must be 1 to {MAX_KEY} characters.")
            cleaned[key] = "" if value is None else str(value)
        return cleaned


class Params(serializers.DictField):
    """name → value, each set once; values are text, numbers or booleans, stored as text."""

    default_error_messages = {"not_a_dict": "Params must be an object of names to values."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("not_a_dict", input_type=type(data).__name__)
        cleaned = {}
        for key, value in data.items():
            if not key or len(key) > MAX_KEY:
                raise serializers.ValidationError(f"Param names must be 1 to {MAX_KEY} characters.")
            if isinstance(value, dict | list):
                raise serializers.ValidationError({key: ["Param values must be text, numbers or booleans."]})
            text = "" if value is None else str(value)
            if len(text) > MAX_PARAM_VALUE:
                raise serializers.ValidationError({key: [f"At most {MAX_PARAM_VALUE} characters."]})
            cleaned[key] = text
        return cleaned


class RunTags(serializers.Serializer):
    """The tags a run is created with."""

    tags = Tags(required=False, default=dict)


class LogBatch(serializers.Serializer):
    """POST /api/runs/{id}/log-batch/: params, metric points and tags, stored together or not at all."""

    default_error_messages = {"invalid": "Send a JSON object."}

    params = Params(required=False, default=dict, help_text="name → value; a param is set once.")
    metrics = MetricPoints(
        required=False,
        default=list,
        help_text="[{key, value, step?, timestamp?}] — up to 10,000 points; timestamp ISO 8601 or epoch ms.",
    )
    tags = Tags(required=False, default=dict)

    def to_internal_value(self, data):
        if isinstance(data, dict):  # null for a part means "nothing of that kind", as clients send it
            data = {key: value for key, value in data.items() if value is not None}
        return super().to_internal_value(data)
