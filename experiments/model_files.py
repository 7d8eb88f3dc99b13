"""Model files from anywhere: detect the format, load without running untrusted code, probe, infer a signature.

Two formats are accepted, told apart by their bytes, never by a file name:

- **skops** (a zip): any scikit-learn estimator or `Pipeline`, loaded only when every type it holds is
  trusted: skops' own defaults (scikit-learn's estimators), the platform's allow-list below, and the
  admin's `MODEL_TRUSTED_TYPES` setting, passed in as `extra_trusted`.
- **ONNX** (a protobuf): any framework's export, run by onnxruntime; loading executes no code.
  `OnnxModel` gives it scikit-learn's face (`predict`, `predict_proba`, `classes_`), so serving, the
  gates and monitoring score it like a pipeline.

Pickle and joblib files are refused: loading them runs whatever code they name. Pure: no ORM here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from experiments import tabular

SKOPS, ONNX = "skops", "onnx"
FORMATS = (SKOPS, ONNX)
EXTENSIONS = {SKOPS: "skops", ONNX: "onnx"}
CLASSIFICATION, REGRESSION = "classification", "regression"
MAX_PROBE_ROWS = 5

# Types a scikit-learn model holds besides its estimators (which skops trusts itself): tree arrays,
# losses, distance metrics, numpy scalars, and the two converters of pipelines trained here before
# they used scikit-learn's own transformers (issue 16), so those versions keep loading.
PLATFORM_TRUSTED_TYPES = frozenset(
    {
        f"{module}.{name}"
        for module, names in {
            "sklearn.pipeline": ["Pipeline"],
            "sklearn.compose._column_transformer": ["ColumnTransformer"],
            "sklearn.preprocessing._function_transformer": ["FunctionTransformer"],
            "sklearn.ensemble._hist_gradient_boosting.binning": ["_BinMapper"],
            "sklearn.ensemble._hist_gradient_boosting.predictor": ["TreePredictor"],
            "sklearn.ensemble._gb_losses": ["BinomialDeviance", "MultinomialDeviance", "LeastSquaresError"],
            "sklearn.neighbors._kd_tree": ["KDTree"],
            "sklearn.neighbors._ball_tree": ["BallTree"],
            "sklearn.tree._tree": ["Tree"],
            "sklearn._loss.loss": [
                "HalfBinomialLoss",
                "HalfMultinomialLoss",
                "HalfSquaredError",
                "AbsoluteError",
                "HalfPoissonLoss",
                "ExponentialLoss",
                "HuberLoss",
                "PinballLoss",
            ],
            "sklearn._loss.link": ["IdentityLink", "LogitLink", "MultinomialLogit", "LogLink", "Interval"],
            "sklearn.metrics._dist_metrics": [
                f"{metric}Distance64" for metric in ("Euclidean", "Manhattan", "Minkowski", "Chebyshev")
            ],
            "sklearn.utils._bunch": ["Bunch"],
            "numpy": ["dtype", "ndarray", "float64", "float32", "int64", "int32", "intp", "bool_", "str_", "object_"],
            "numpy.random": ["RandomState"],
            "numpy.random._mt19937": ["MT19937"],
            "builtins": ["slice", "object", "str", "float", "int", "bool"],
            "experiments.training": ["as_float", "as_text"],
        }.items()
        for name in names
    }
)


class ModelFileError(ValueError):
    """A model file the platform will not load or serve, with a sentence saying why and what to do."""


class UntrustedTypes(ModelFileError):
    """A skops file holding types nobody trusted; `types` names each one."""

    def __init__(self, types: Sequence[str]):
        self.types = list(types)
        super().__init__(
            f"The model holds types outside the platform's allow-list: {', '.join(self.types)}. "
            "Loading them could run their code; an admin who trusts them adds them to the "
            "MODEL_TRUSTED_TYPES setting (comma-separated), then upload again."
        )


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def detect(data: bytes) -> str:
    """The format of `data` ("skops" or "onnx"), read from its bytes; ModelFileError for anything else."""
    if not data:
        raise ModelFileError("The model file is empty.")
    if data[:4] == b"PK\x03\x04":
        return SKOPS
    if data[:1] == b"\x80" or data[:2] in (b"x\x9c", b"x\x01", b"x\xda") or data[:3] == b"\x1f\x8b\x08":
        raise ModelFileError(
            "This is a pickle or joblib file: loading one runs any code it names, so it is refused. "
            "Save the model with skops (skops.io.dump(model, 'model.skops')) or export it to ONNX."
        )
    if data[:1] == b"\x08":  # an ONNX ModelProto starts with field 1, ir_version (a varint)
        return ONNX
    raise ModelFileError("The model file is neither a skops file nor an ONNX model.")


def untrusted_types(data: bytes, extra_trusted: Iterable[str] = ()) -> list[str]:
    """The types a skops file holds that neither skops, the platform nor `extra_trusted` trusts."""
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:  # a damaged zip, a schema skops does not know: the file's fault
        raise ModelFileError(f"The skops file cannot be read: {exc}") from None
    return sorted(set(found) - PLATFORM_TRUSTED_TYPES - set(extra_trusted))


def load(
    data: bytes,
    *,
    expected_sha256: str | None = None,
    extra_trusted: Iterable[str] = (),
    classes: Sequence[Any] | None = None,
    task: str | None = None,
):
    """The model in `data`: a scikit-learn estimator (skops) or an `OnnxModel`.

    With `expected_sha256`, bytes that no longer match are refused before anything is parsed.
    `classes` and `task` (from the version's signature) tell an ONNX model what its outputs mean.
    """
    if expected_sha256 is not None and (actual := sha256(data)) != expected_sha256:
        raise ModelFileError(f"Model hash mismatch: expected {expected_sha256}, got {actual}.")
    fmt = detect(data)
    if fmt == ONNX:
        return OnnxModel(data, classes=classes, task=task)
    import skops.io as sio

    extra = set(extra_trusted)
    if refused := untrusted_types(data, extra):
        raise UntrustedTypes(refused)
    try:
        return sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    except Exception as exc:  # a module that is gone, a class that changed: say so, do not crash the caller
        raise ModelFileError(f"The skops file cannot be loaded: {exc}") from None


def task_of(model, signature: Mapping | None = None) -> str | None:
    """The model's task: the signature's, else what the estimator says it is, else None."""
    task = ((signature or {}).get("output") or {}).get("task")
    if task in (CLASSIFICATION, REGRESSION):
        return task
    kind = getattr(model, "_estimator_type", None)
    if kind is None and hasattr(model, "__sklearn_tags__"):
        try:
            kind = model.__sklearn_tags__().estimator_type
        except Exception:
            kind = None
    return {"classifier": CLASSIFICATION, "regressor": REGRESSION}.get(kind)


def probe_frame(inputs: Sequence[Mapping], rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows to try a model on: the given sample rows, or one made from the signature.

    The made-up row is what serving accepts when every value is unknown filled with a plain value: 0 for
    numbers, the first known category (or "") otherwise, so a model without imputation can answer too.
    """
    names = [column["name"] for column in inputs]
    if rows is not None and len(rows):
        return rows[names].head(MAX_PROBE_ROWS).reset_index(drop=True)
    values = {}
    for column in inputs:
        if column.get("kind") == "numeric":
            values[column["name"]] = pd.Series([0.0], dtype="float64")
        else:
            categories = column.get("categories") or [""]
            values[column["name"]] = pd.Series([categories[0]], dtype=object)
    return pd.DataFrame(values)


def probe(model, signature: Mapping, rows: pd.DataFrame | None = None) -> None:
    """ModelFileError unless the model predicts on rows of its signature (and a classifier gives probabilities)."""
    frame = probe_frame(signature["inputs"], rows)
    try:
        predicted = np.asarray(model.predict(frame))
    except Exception as exc:
        raise ModelFileError(f"The model cannot predict on rows of its signature's columns: {exc}") from None
    if len(predicted) != len(frame):
        raise ModelFileError(f"The model gave {len(predicted)} predictions for {len(frame)} rows.")
    if task_of(model, signature) == CLASSIFICATION:
        if not hasattr(model, "predict_proba"):
            raise ModelFileError(
                "The classifier gives no probabilities (predict_proba); the gates and ROC AUC need them."
            )
        try:
            proba = np.asarray(model.predict_proba(frame), dtype=float)
        except Exception as exc:
            raise ModelFileError(f"The classifier cannot give probabilities on rows of its signature: {exc}") from None
        if proba.shape[0] != len(frame) or not np.all(np.isfinite(proba)):
            raise ModelFileError("The classifier's probabilities are not one finite row per input row.")
    elif not np.issubdtype(predicted.dtype, np.number):
        raise ModelFileError("A regressor must predict numbers.")


def infer_signature(sample: pd.DataFrame, *, model=None, task: str | None = None) -> dict:
    """A signature from sample input rows: each column's kind as a dataset upload would infer it (and its
    categories, up to 50), the task and classes.

    The task comes from `task`, else the estimator; classes from the estimator's `classes_`.
    """
    inputs = []
    for name in sample.columns:
        column = sample[name]
        spec: dict[str, Any] = {"name": str(name), "kind": tabular.infer_kind(column), "dtype": str(column.dtype)}
        if spec["kind"] == "categorical":
            categories = sorted({str(value) for value in column.dropna()})
            if len(categories) <= 50:
                spec["categories"] = categories
        inputs.append(spec)
    task = task or (task_of(model) if model is not None else None)
    classes = getattr(model, "classes_", None) if task == CLASSIFICATION else None
    return {"inputs": inputs, "output": {"task": task, "classes": _plain_list(classes)}}


def feature_names(model) -> list[str] | None:
    """The column names the model was fitted on, when it recorded them (scikit-learn's `feature_names_in_`)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None and isinstance(model, OnnxModel):
        names = model.input_names if model.named_inputs else None
    return [str(name) for name in names] if names is not None else None


def check_columns(model, signature: Mapping) -> None:
    """ModelFileError when the model was fitted on other columns than the signature names."""
    expected = feature_names(model)
    if expected is None:
        return
    given = [column["name"] for column in signature["inputs"]]
    missing, extra = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"the model needs {', '.join(missing)}, which the signature lacks")
        if extra:
            parts.append(f"the signature names {', '.join(extra)}, which the model was not fitted on")
        raise ModelFileError(f"The model's columns disagree with the signature: {'; '.join(parts)}.")


def _plain_list(values) -> list | None:
    if values is None:
        return None
    return [value.item() if isinstance(value, np.generic) else value for value in list(values)]


# ---------------------------------------------------------------------------------------------------
# ONNX through onnxruntime
# ---------------------------------------------------------------------------------------------------

_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": object,
}


class OnnxModel:
    """An ONNX model with scikit-learn's face: `predict(frame)`, `predict_proba(frame)`, `classes_`.

    Inputs are fed either one per column (the model's input names are the frame's columns, as
    skl2onnx exports a pipeline with per-column initial types) or as one matrix of every column in
    signature order. The label output (`label_output`) is the first tensor output; probabilities
    (`proba_output`) are the output that is a 2-D float tensor or a sequence of maps (skl2onnx's
    ZipMap), in `classes_` order. Serving feeds its parsed columns to those outputs directly.
    """

    def __init__(self, data: bytes, *, classes: Sequence[Any] | None = None, task: str | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a web worker serves one request per thread; one core each
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelFileError(f"The ONNX model cannot be loaded by onnxruntime: {exc}") from None
        self.inputs = self.session.get_inputs()
        self.outputs = self.session.get_outputs()
        self.input_names = [i.name for i in self.inputs]
        self.named_inputs = len(self.inputs) > 1 or (
            len(self.inputs) == 1 and len(self.inputs[0].shape) == 2 and self.inputs[0].shape[1] == 1
        )
        self.classes_ = np.asarray(list(classes), dtype=object) if classes else None
        self.task = task
        self.label_output = next((o.name for o in self.outputs if o.type.startswith("tensor")), self.outputs[0].name)
        self.proba_output = next(
            (
                o.name
                for o in self.outputs
                if o.name != self.label_output
                and (
                    o.type.startswith("seq(map")
                    or (o.type in ("tensor(float)", "tensor(double)") and len(o.shape) == 2)
                )
            ),
            None,
        )
        self._estimator_type = {CLASSIFICATION: "classifier", REGRESSION: "regressor"}.get(
            task or (CLASSIFICATION if self.proba_output else REGRESSION)
        )
        if self._estimator_type == "classifier":
            self.predict_proba = self._predict_proba

    def _feed(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        frame = pd.DataFrame(frame)
        if self.named_inputs:
            missing = [name for name in self.input_names if name not in frame.columns]
            if missing:
                raise ValueError(f"The ONNX model needs input columns {', '.join(missing)}.")
            return {i.name: _column(frame[i.name], i.type) for i in self.inputs}
        (single,) = self.inputs
        dtype = _ONNX_DTYPES.get(single.type, np.float32)
        values = frame.apply(lambda column: pd.to_numeric(column, errors="coerce")) if dtype is not object else frame
        return {single.name: values.to_numpy(dtype=dtype, na_value=np.nan if dtype is not object else "")}

    def _run(self, frame: pd.DataFrame, names: list[str]) -> list:
        return self.session.run(names, self._feed(frame))

    def predict(self, frame) -> np.ndarray:
        (labels,) = self._run(frame, [self.label_output])
        labels = np.asarray(labels)
        return labels.ravel() if labels.ndim > 1 and labels.shape[-1] == 1 else labels

    def _predict_proba(self, frame) -> np.ndarray:
        if self.proba_output is None:
            raise ValueError("The ONNX model has no probability output.")
        (proba,) = self._run(frame, [self.proba_output])
        if isinstance(proba, list):  # ZipMap: one {class: p} per row
            keys = list(proba[0].keys()) if proba else []
            if self.classes_ is None:
                self.classes_ = np.asarray(keys, dtype=object)
            order = [_match(keys, label) for label in self.classes_]
            return np.asarray([[row[keys[j]] for j in order] for row in proba], dtype=float)
        proba = np.asarray(proba, dtype=float)
        if self.classes_ is None:
            self.classes_ = np.arange(proba.shape[1])
        return proba


def _column(series: pd.Series, onnx_type: str) -> np.ndarray:
    dtype = _ONNX_DTYPES.get(onnx_type, np.float32)
    if dtype is object:
        values = [("" if _missing(value) else str(value)) for value in series]
        return np.asarray(values, dtype=object).reshape(-1, 1)
    numbers = pd.to_numeric(series, errors="coerce")
    if np.issubdtype(dtype, np.integer):
        numbers = numbers.fillna(0)
    return numbers.to_numpy(dtype=dtype, na_value=np.nan if np.issubdtype(dtype, np.floating) else 0).reshape(-1, 1)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _match(keys: list, label) -> int:
    """The index of `label` among ZipMap's keys, comparing as text (labels may be ints on one side, str on the other)."""
    for index, key in enumerate(keys):
        if key == label or str(key) == str(label):
            return index
    raise ValueError(f"The ONNX model has no probability for class {label!r}.")
