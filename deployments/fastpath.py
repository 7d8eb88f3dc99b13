"""A fitted platform pipeline re-expressed as a few numpy operations, for serving. Pure: no Django, no ORM.

Why: scikit-learn validates, converts and wraps at every step, which costs ~10 ms for one row through the
pipelines `experiments.training` builds (a ColumnTransformer of FunctionTransformer → SimpleImputer →
StandardScaler for numbers and FunctionTransformer → SimpleImputer → OneHotEncoder for the rest), against
~0.1 ms for the arithmetic itself. Serving one row at a time is where that overhead dominates.

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
    fill: tuple[str, ...]  # the imputer's most frequent value, one per column
    positions: tuple[dict[str, int], ...]  # category -> column of the block, per input column
    width: int

    def write(self, out: np.ndarray, start: int, inputs: Mapping[str, np.ndarray]) -> None:
        for name, fill, positions in zip(self.columns, self.fill, self.positions, strict=True):
            values = inputs[name]
            if values.dtype != object:
                raise NotFast(f"{name} is {values.dtype}, not object")
            for row, value in enumerate(values):
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    key = fill
                else:
                    key = value if type(value) is str else str(value)  # as_text's astype(str)
                position = positions.get(key)
                if position is not None:  # handle_unknown="ignore": an unseen category is all zeros
                    out[row, start + position] = 1.0


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
    convert = steps.steps[0][1]
    if not isinstance(convert, FunctionTransformer) or convert.inverse_func is not None or convert.kw_args:
        raise NotFast("a block does not start with the platform's FunctionTransformer")
    imputer = steps.steps[1][1] if len(steps.steps) > 1 else None
    if not isinstance(imputer, SimpleImputer) or imputer.add_indicator:
        raise NotFast("a block without a plain SimpleImputer")
    if not (isinstance(imputer.missing_values, float) and math.isnan(imputer.missing_values)):
        raise NotFast("the imputer looks for something else than NaN")
    statistics = imputer.statistics_
    if len(statistics) != len(columns) or any(pd.isna(value) for value in statistics):
        raise NotFast("the imputer dropped a column it saw empty at fit time")
    if _is_training(convert.func, "as_float") and kinds[1:] in ([SimpleImputer], [SimpleImputer, StandardScaler]):
        fill = np.array(statistics, dtype=float)  # copies: never alias the fitted estimator
        mean = scale = None
        if len(steps.steps) == 3:
            scaler = steps.steps[2][1]
            mean = np.array(scaler.mean_, dtype=float) if scaler.with_mean else None
            scale = np.array(scaler.scale_, dtype=float) if scaler.with_std else None
        return _Numeric(columns, fill, mean, scale)
    if _is_training(convert.func, "as_text") and kinds[1:] == [SimpleImputer, OneHotEncoder]:
        encoder = steps.steps[2][1]
        if encoder.handle_unknown != "ignore" or encoder.drop is not None or encoder._infrequent_enabled:
            raise NotFast("the encoder drops, groups or refuses categories")
        if not all(isinstance(value, str) for value in statistics):
            raise NotFast("an imputed category is not a string")
        positions, offset = [], 0
        for categories in encoder.categories_:
            if not all(isinstance(category, str) for category in categories):
                raise NotFast("a category is not a string")
            positions.append({category: offset + i for i, category in enumerate(categories)})
            offset += len(categories)
        return _Categorical(columns, tuple(statistics), tuple(positions), offset)
    raise NotFast(f"unknown block {[step.__name__ for step in kinds]}")


def categories(pipeline: Any) -> dict[str, frozenset[str]]:
    """The categories each one-hot encoded input was fitted on, as the encoder compares them (`as_text`'s str).

    Read from the fitted encoders, whether or not the pipeline compiles, so every platform pipeline can tell
    which values its training data never had. Inputs it cannot read this way are left out (never "unseen").
    """
    steps = getattr(pipeline, "steps", None)
    prepare = steps[0][1] if steps else None
    if not isinstance(prepare, ColumnTransformer) or not hasattr(prepare, "transformers_"):
        return {}
    found: dict[str, frozenset[str]] = {}
    for _, transformer, columns in prepare.transformers_:
        if not isinstance(transformer, Pipeline) or isinstance(columns, str) or not transformer.steps:
            continue
        convert, encoder = transformer.steps[0][1], transformer.steps[-1][1]
        if not isinstance(encoder, OneHotEncoder) or not isinstance(convert, FunctionTransformer):
            continue
        if not _is_training(convert.func, "as_text") or len(encoder.categories_) != len(columns):
            continue
        for name, known in zip(columns, encoder.categories_, strict=True):
            if isinstance(name, str):
                found[name] = frozenset(str(value) for value in known)
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
            for name, positions in zip(block.columns, block.positions, strict=True):
                known = [*positions, "\x00never seen in training\x00", None]
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
