"""A fitted platform pipeline re-expressed as a few numpy operations, for serving. Pure: no Django, no ORM.

Why: scikit-learn validates, converts and wraps at every step, which costs ~10 ms for one row through the
pipelines `experiments.training` builds, against ~0.1 ms for the arithmetic itself. Serving one row at a
time is where that overhead dominates. Their ColumnTransformer holds, per block:

- numbers: SimpleImputer → (StandardScaler);
- real booleans: an identity StandardScaler (True/False/None to 1.0/0.0/NaN) → SimpleImputer → OneHotEncoder;
- text: SimpleImputer (NaN) → SimpleImputer (None) → OneHotEncoder;
- and, in pipelines trained before issue 16, FunctionTransformer(as_float) → SimpleImputer → (StandardScaler)
  and FunctionTransformer(as_text) → SimpleImputer → OneHotEncoder, which keep compiling.

`compile_pipeline(pipeline)` reads the fitted statistics (imputation values, means and scales, one-hot
categories, linear coefficients) and returns a `FastPipeline`, or None when any step is one this module does
not know exactly (another transformer, `add_indicator`, infrequent categories, a dropped category, a column
the imputer dropped at fit time...): the caller then uses scikit-learn as before. The final estimator is
computed here for linear models (logistic regression, linear and ridge regression) and called through
scikit-learn otherwise, with the same kind of matrix (dense or sparse) it was fitted on.

A compiled pipeline is only trusted after `verify(pipeline, fast)`: probe rows built from the fitted
encoders (every category, an unseen one, missing values, values around each mean) go through both, and
features, predictions and probabilities must agree to 1e-9, or the pipeline is served by scikit-learn.

Inputs are the column arrays `deployments.records.parse_columns` returns (float64 for numeric inputs,
object arrays otherwise); an array of another type raises `NotFast` and the caller falls back for that
request.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import expit, softmax
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

__all__ = ["FastPipeline", "NotFast", "categories", "compile_pipeline", "verify"]

logger = logging.getLogger(__name__)
TOLERANCE = 1e-9
# The converters experiments.training puts first in each block, known by name so this module stays pure.
TRAINING_MODULE = "experiments.training"


def _is_training(func: Any, name: str) -> bool:
    return getattr(func, "__module__", None) == TRAINING_MODULE and getattr(func, "__name__", None) == name


class NotFast(Exception):
    """These inputs (or this pipeline) are for scikit-learn, not for the fast path."""


@dataclass(frozen=True)
class _Numeric:
    columns: tuple[str, ...]
    fill: np.ndarray  # the imputer's statistics, one per column
    mean: np.ndarray | None
    scale: np.ndarray | None

    @property
    def width(self) -> int:
        return len(self.columns)

    def write(self, out: np.ndarray, start: int, inputs: Mapping[str, np.ndarray]) -> None:
        block = out[:, start : start + self.width]
        for j, name in enumerate(self.columns):
            values = inputs[name]
            if values.dtype != np.float64:
                raise NotFast(f"{name} is {values.dtype}, not float64")
            block[:, j] = values
        missing = np.isnan(block)
        if missing.any():
            block[missing] = np.broadcast_to(self.fill, block.shape)[missing]
        if self.mean is not None:
            block -= self.mean
        if self.scale is not None:
            block /= self.scale


@dataclass(frozen=True)
class _Categorical:
    columns: tuple[str, ...]
    fill: tuple[Any, ...]  # the value a missing one becomes, one per column
    positions: tuple[dict[Any, int], ...]  # category -> column of the block, per input column
    width: int
    # How a value is compared with the categories: "text" (as_text's str of the value, the pipelines trained
    # before issue 16), "value" (the value itself, as the encoder's dict lookup does) or "boolean"
    # (True/False, which the identity StandardScaler turned into 1.0/0.0 before encoding).
    compare: str = "text"
    fill_none: tuple[Any, ...] | None = None  # the second imputer's fill for None, where there is one

    def write(self, out: np.ndarray, start: int, inputs: Mapping[str, np.ndarray]) -> None:
        for j, (name, fill, positions) in enumerate(zip(self.columns, self.fill, self.positions, strict=True)):
            values = inputs[name]
            if values.dtype != object:
                raise NotFast(f"{name} is {values.dtype}, not object")
            for row, value in enumerate(values):
                if value is None and self.fill_none is not None:
                    key = self.fill_none[j]
                elif value is None or (isinstance(value, float) and math.isnan(value)):
                    key = fill
                elif self.compare == "text":
                    key = value if type(value) is str else str(value)  # as_text's astype(str)
                elif self.compare == "boolean":
                    if not isinstance(value, bool | np.bool_):
                        raise NotFast(f"{name} holds {type(value).__name__}, not a boolean")
                    key = float(value)
                elif type(value) is str:
                    key = value
                else:
                    raise NotFast(f"{name} holds {type(value).__name__}, not text")
                position = positions.get(key)
                if position is not None:  # handle_unknown="ignore": an unseen category is all zeros
                    out[row, start + position] = 1.0

    def probe_values(self, j: int) -> list[Any]:
        """Every category as serving sends it, an unseen value (where one can be sent) and a missing one."""
        if self.compare == "boolean":
            return [bool(category) for category in self.positions[j]] + [None]
        return [*self.positions[j], "\x00never seen in training\x00", None]


@dataclass(frozen=True)
class FastPipeline:
    blocks: tuple[_Numeric | _Categorical, ...]
    width: int
    sparse_output: bool  # what the ColumnTransformer gave the estimator at fit time
    estimator: Any
    linear: str | None  # "logistic", "regression" or None (call the estimator)
    has_proba: bool

    def features(self, inputs: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
        out = np.zeros((rows, self.width))
        start = 0
        for block in self.blocks:
            block.write(out, start, inputs)
            start += block.width
        return out

    def score(self, inputs: Mapping[str, np.ndarray], rows: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(predictions, class probabilities or None) for `rows` rows of column arrays."""
        features = self.features(inputs, rows)
        estimator = self.estimator
        if self.linear == "logistic":
            decision = features @ estimator.coef_.T + estimator.intercept_
            classes = estimator.classes_
            if decision.shape[1] == 1:
                positive = expit(decision[:, 0])
                return classes[(decision[:, 0] > 0).astype(int)], np.column_stack([1 - positive, positive])
            return classes[decision.argmax(axis=1)], softmax(decision, axis=1)
        if self.linear == "regression":
            return features @ estimator.coef_.T + estimator.intercept_, None
        matrix = sparse.csr_matrix(features) if self.sparse_output else features
        probabilities = estimator.predict_proba(matrix) if self.has_proba else None
        return estimator.predict(matrix), probabilities


def compile_pipeline(pipeline: Any) -> FastPipeline | None:
    """The fast equivalent of a fitted training pipeline, or None when it has a step not known here."""
    try:
        return _compile(pipeline)
    except (NotFast, AttributeError, TypeError, ValueError) as exc:
        logger.info("No fast path for this pipeline: %s", exc)
        return None


def _compile(pipeline: Any) -> FastPipeline:
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        raise NotFast("not a two-step Pipeline (preprocessing, estimator)")
    prepare, estimator = pipeline.steps[0][1], pipeline.steps[1][1]
    if not isinstance(prepare, ColumnTransformer):
        raise NotFast("the first step is not a ColumnTransformer")
    blocks = []
    for name, transformer, columns in prepare.transformers_:
        if transformer == "drop" or (name == "remainder" and len(columns) == 0):
            continue
        if not isinstance(transformer, Pipeline) or not all(isinstance(c, str) for c in columns):
            raise NotFast(f"transformer {name} is not a Pipeline over named columns")
        blocks.append(_block(transformer, tuple(columns)))
    width = sum(block.width for block in blocks)
    if width != getattr(estimator, "n_features_in_", width):
        raise NotFast("the blocks do not add up to the estimator's features")
    linear = None
    if type(estimator) is LogisticRegression:
        linear = "logistic"
    elif type(estimator) in (LinearRegression, Ridge) and np.ndim(estimator.coef_) == 1:
        linear = "regression"
    return FastPipeline(
        blocks=tuple(blocks),
        width=width,
        sparse_output=bool(prepare.sparse_output_),
        estimator=estimator,
        linear=linear,
        has_proba=hasattr(estimator, "predict_proba"),
    )


def _block(steps: Pipeline, columns: tuple[str, ...]) -> _Numeric | _Categorical:
    kinds = [type(step) for _, step in steps.steps]
    first = steps.steps[0][1]
    if isinstance(first, FunctionTransformer):  # a pipeline trained before issue 16: as_float / as_text first
        if first.inverse_func is not None or first.kw_args:
            raise NotFast("a block does not start with the platform's FunctionTransformer")
        if _is_training(first.func, "as_float") and kinds[1:] in ([SimpleImputer], [SimpleImputer, StandardScaler]):
            return _numeric(steps.steps[1:], columns)
        if _is_training(first.func, "as_text") and kinds[1:] == [SimpleImputer, OneHotEncoder]:
            fill = _fill(steps.steps[1][1], columns)
            if not all(isinstance(value, str) for value in fill):
                raise NotFast("an imputed category is not a string")
            return _encoded(steps.steps[2][1], columns, fill, compare="text")
        raise NotFast(f"unknown block {[step.__name__ for step in kinds]}")
    if kinds in ([SimpleImputer], [SimpleImputer, StandardScaler]):  # numbers: imputed (and scaled)
        if first.strategy not in ("median", "mean"):
            raise NotFast("a numeric imputer of another strategy")
        return _numeric(steps.steps, columns)
    if kinds == [StandardScaler, SimpleImputer, OneHotEncoder]:  # booleans as 1.0/0.0, imputed, encoded
        if first.with_mean or first.with_std:
            raise NotFast("the boolean block's scaler is not the identity")
        fill = tuple(float(value) for value in _fill(steps.steps[1][1], columns))
        return _encoded(steps.steps[2][1], columns, fill, compare="boolean")
    if kinds == [SimpleImputer, SimpleImputer, OneHotEncoder]:  # text: NaN, then None, imputed, encoded
        second = steps.steps[1][1]
        if second.missing_values is not None or second.add_indicator or second.strategy != "most_frequent":
            raise NotFast("the second imputer does not fill None with the most frequent value")
        fill = _fill(first, columns)
        fill_none = tuple(second.statistics_)
        if len(fill_none) != len(columns) or not all(isinstance(value, str) for value in (*fill, *fill_none)):
            raise NotFast("an imputer dropped a column or fills with something else than text")
        return _encoded(steps.steps[2][1], columns, fill, compare="value", fill_none=fill_none)
    raise NotFast(f"unknown block {[step.__name__ for step in kinds]}")


def _fill(imputer: Any, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """A plain NaN imputer's statistics, one per column."""
    if not isinstance(imputer, SimpleImputer) or imputer.add_indicator:
        raise NotFast("a block without a plain SimpleImputer")
    if not (isinstance(imputer.missing_values, float) and math.isnan(imputer.missing_values)):
        raise NotFast("the imputer looks for something else than NaN")
    statistics = imputer.statistics_
    if len(statistics) != len(columns) or any(pd.isna(value) for value in statistics):
        raise NotFast("the imputer dropped a column it saw empty at fit time")
    return tuple(statistics)


def _numeric(steps: list, columns: tuple[str, ...]) -> _Numeric:
    fill = np.array(_fill(steps[0][1], columns), dtype=float)  # copies: never alias the fitted estimator
    mean = scale = None
    if len(steps) == 2:
        scaler = steps[1][1]
        mean = np.array(scaler.mean_, dtype=float) if scaler.with_mean else None
        scale = np.array(scaler.scale_, dtype=float) if scaler.with_std else None
    return _Numeric(columns, fill, mean, scale)


def _encoded(
    encoder: Any,
    columns: tuple[str, ...],
    fill: tuple[Any, ...],
    *,
    compare: str,
    fill_none: tuple[Any, ...] | None = None,
) -> _Categorical:
    if encoder.handle_unknown != "ignore" or encoder.drop is not None or encoder._infrequent_enabled:
        raise NotFast("the encoder drops, groups or refuses categories")
    positions, offset = [], 0
    for categories in encoder.categories_:
        if compare == "boolean":
            keys = [float(category) for category in categories]
            if not set(keys) <= {0.0, 1.0}:
                raise NotFast("a boolean category is not 0 or 1")
        elif all(isinstance(category, str) for category in categories):
            keys = list(categories)
        else:
            raise NotFast("a category is not a string")
        positions.append({category: offset + i for i, category in enumerate(keys)})
        offset += len(categories)
    return _Categorical(columns, fill, tuple(positions), offset, compare=compare, fill_none=fill_none)


def categories(pipeline: Any) -> dict[str, frozenset[str]]:
    """The categories each one-hot encoded input was fitted on, as the str of the value serving sends.

    Read from the fitted encoders, whether or not the pipeline compiles, so every platform pipeline can tell
    which values its training data never had: the strings `as_text` made (pipelines trained before issue 16),
    the strings themselves, and "True"/"False" for a boolean block (encoded as 1.0/0.0). Inputs it cannot
    read this way are left out (never "unseen").
    """
    steps = getattr(pipeline, "steps", None)
    prepare = steps[0][1] if steps else None
    if not isinstance(prepare, ColumnTransformer) or not hasattr(prepare, "transformers_"):
        return {}
    found: dict[str, frozenset[str]] = {}
    for _, transformer, columns in prepare.transformers_:
        if not isinstance(transformer, Pipeline) or isinstance(columns, str) or not transformer.steps:
            continue
        first, encoder = transformer.steps[0][1], transformer.steps[-1][1]
        if not isinstance(encoder, OneHotEncoder) or len(encoder.categories_) != len(columns):
            continue
        kinds = [type(step) for _, step in transformer.steps]
        if kinds == [StandardScaler, SimpleImputer, OneHotEncoder]:
            known = [[str(bool(value)) for value in values] for values in encoder.categories_]
        elif kinds == [SimpleImputer, SimpleImputer, OneHotEncoder] or (
            isinstance(first, FunctionTransformer) and _is_training(first.func, "as_text")
        ):
            known = [[str(value) for value in values] for values in encoder.categories_]
        else:
            continue
        for name, values in zip(columns, known, strict=True):
            if isinstance(name, str):
                found[name] = frozenset(values)
    return found


# ---------------------------------------------------------------------------------------------------
# Trust, but verify
# ---------------------------------------------------------------------------------------------------


def probe_inputs(fast: FastPipeline, rows: int = 0) -> tuple[dict[str, np.ndarray], int]:
    """Column arrays that visit every category, an unseen one, missing values and spread-out numbers."""
    longest = max((len(p) for b in fast.blocks if isinstance(b, _Categorical) for p in b.positions), default=0)
    rows = rows or max(8, longest + 3)
    generator = np.random.default_rng(0)
    inputs: dict[str, np.ndarray] = {}
    for block in fast.blocks:
        if isinstance(block, _Numeric):
            for j, name in enumerate(block.columns):
                spread = block.scale[j] if block.scale is not None else max(abs(block.fill[j]), 1.0)
                centre = block.mean[j] if block.mean is not None else block.fill[j]
                values = centre + spread * generator.normal(size=rows) * 2
                values[rows // 2] = np.nan
                inputs[name] = values
        else:
            for j, name in enumerate(block.columns):
                known = block.probe_values(j)
                values = np.empty(rows, dtype=object)
                values[:] = [known[(i + len(name)) % len(known)] for i in range(rows)]
                inputs[name] = values
    return inputs, rows


def verify(pipeline: Any, fast: FastPipeline) -> str | None:
    """None when the fast path gives scikit-learn's features and answers on probe rows; else the difference."""
    inputs, rows = probe_inputs(fast)
    frame = pd.DataFrame({name: pd.Series(values, dtype=values.dtype) for name, values in inputs.items()})
    try:
        expected = pipeline[:-1].transform(frame)
        expected = expected.toarray() if sparse.issparse(expected) else np.asarray(expected, dtype=float)
        got = fast.features(inputs, rows)
        if got.shape != expected.shape or not np.allclose(got, expected, rtol=0, atol=TOLERANCE):
            return "features differ"
        predicted, probabilities = fast.score(inputs, rows)
        estimator = pipeline.steps[-1][1]
        reference = pipeline.predict(frame)
        if predicted.dtype.kind == "f":
            if not np.allclose(predicted, reference, rtol=TOLERANCE, atol=TOLERANCE):
                return "predictions differ"
        elif not np.array_equal(predicted, reference):
            return "predictions differ"
        if hasattr(estimator, "predict_proba") and (
            probabilities is None
            or not np.allclose(probabilities, pipeline.predict_proba(frame), rtol=0, atol=TOLERANCE)
        ):
            return "probabilities differ"
    except NotFast as exc:
        return str(exc)
    return None
