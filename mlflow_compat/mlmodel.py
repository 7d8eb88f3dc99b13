"""MLflow's MLmodel file, both ways: read what `log_model` wrote, write one for a version the site made.

Pure: YAML text in, dicts out (and back). MLflow signatures are lists of column specs
(`{"name", "type": "double" | "long" | "string" | ...}`); the site's are `{"name", "kind"}`.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import yaml

MLMODEL = "MLmodel"
SKOPS_FILE = "model.skops"
ONNX_FILE = "model.onnx"

KIND_OF_TYPE = {
    "double": "numeric",
    "float": "numeric",
    "long": "numeric",
    "integer": "numeric",
    "string": "categorical",
    "boolean": "boolean",
    "datetime": "datetime",
}
TYPE_OF_KIND = {
    "numeric": "double",
    "categorical": "string",
    "text": "string",
    "boolean": "boolean",
    "datetime": "datetime",
}


class MLmodelError(ValueError):
    """The MLmodel cannot be used to serve: the message says what to change in the `log_model` call."""


def parse(text: str) -> dict:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MLmodelError(f"The MLmodel file is not valid YAML: {str(exc)[:200]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise MLmodelError("The MLmodel file has no flavors.")
    return document


def model_file(document: dict) -> tuple[str, str]:
    """(path of the model file inside the directory, "skops" or "onnx") of a servable flavor."""
    flavors = document["flavors"]
    sklearn = flavors.get("sklearn")
    if isinstance(sklearn, dict):
        serialization = sklearn.get("serialization_format", "pickle")
        if serialization != "skops":
            raise MLmodelError(
                f"This model was logged in the {serialization} format, which the site never loads (unpickling runs "
                "code). Its files are kept; to register it, log it again with "
                'mlflow.sklearn.log_model(..., serialization_format="skops").'
            )
        path = sklearn.get("pickled_model")
        if not isinstance(path, str) or not path:
            raise MLmodelError("The sklearn flavor of the MLmodel file names no model file.")
        return path, "skops"
    onnx = flavors.get("onnx")
    if isinstance(onnx, dict) and isinstance(onnx.get("data"), str):
        return onnx["data"], "onnx"
    names = ", ".join(sorted(str(name) for name in flavors)) or "none"
    raise MLmodelError(
        f"The site serves scikit-learn models saved with skops and ONNX models; this one's flavors are {names}."
    )


def site_signature(document: dict) -> dict | None:
    """The site's signature for MLmodel's column-based input schema; None when the MLmodel has none."""
    signature = document.get("signature")
    if not isinstance(signature, dict) or not signature.get("inputs"):
        return None
    try:
        inputs = json.loads(signature["inputs"]) if isinstance(signature["inputs"], str) else signature["inputs"]
    except ValueError:
        raise MLmodelError("The MLmodel signature's inputs are not valid JSON.") from None
    if not isinstance(inputs, list) or not inputs:
        return None
    columns = []
    for spec in inputs:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise MLmodelError(
                "The model's signature has unnamed inputs (a tensor spec); log it with a pandas DataFrame "
                "input_example so each column has a name."
            )
        kind = KIND_OF_TYPE.get(spec.get("type"))
        if kind is None:
            raise MLmodelError(
                f"Input column {spec['name']!r} has type {spec.get('type')!r}, which the site cannot serve."
            )
        columns.append({"name": spec["name"], "kind": kind})
    return {"inputs": columns}


def _column_type(column: dict) -> str:
    """MLflow's type for a site column: from the dtype it was trained on when known (an int64 column is
    "long", so the client's int64 data passes MLflow's schema check), else from its kind."""
    dtype = str(column.get("dtype") or "")
    if dtype.startswith(("int", "uint")):
        return "long"
    if dtype.startswith("float"):
        return "double"
    if dtype == "bool":
        return "boolean"
    if dtype in ("str", "object", "string", "category"):
        return "string"
    return TYPE_OF_KIND.get(column.get("kind"), "string")


def signature_json(signature: dict) -> dict:
    """MLmodel's `signature` block for a site signature."""
    inputs = [
        {"type": _column_type(column), "name": column["name"], "required": True}
        for column in signature.get("inputs") or []
    ]
    output = signature.get("output") or {}
    classes = output.get("classes") or []
    if output.get("task") == "regression":
        out_type = "double"
    elif classes and all(isinstance(c, str) for c in classes):
        out_type = "string"
    elif classes and all(isinstance(c, bool) for c in classes):
        out_type = "boolean"
    else:
        out_type = "long" if classes and all(isinstance(c, int) for c in classes) else "double"
    return {
        "inputs": json.dumps(inputs),
        "outputs": json.dumps([{"type": out_type, "required": True}]),
        "params": None,
    }


def write(
    *,
    fmt: str,
    signature: dict,
    created: datetime,
    sklearn_version: str,
    python_version: str,
    trusted_types: list[str] | None = None,
    model_uuid: uuid.UUID | None = None,
) -> str:
    """The MLmodel text of a directory holding one site model file, loadable by `mlflow.pyfunc.load_model`."""
    if fmt == "onnx":
        flavors = {
            "python_function": {
                "loader_module": "mlflow.onnx",
                "data": ONNX_FILE,
                "python_version": python_version,
                "env": {"virtualenv": "python_env.yaml", "conda": "conda.yaml"},
            },
            "onnx": {"data": ONNX_FILE, "providers": ["CPUExecutionProvider"]},
        }
    else:
        flavors = {
            "python_function": {
                "loader_module": "mlflow.sklearn",
                "model_path": SKOPS_FILE,
                "predict_fn": "predict",
                "python_version": python_version,
                "env": {"virtualenv": "python_env.yaml", "conda": "conda.yaml"},
            },
            "sklearn": {
                "pickled_model": SKOPS_FILE,
                "serialization_format": "skops",
                "sklearn_version": sklearn_version,
                "skops_trusted_types": sorted(trusted_types or []),
                "code": None,
            },
        }
    document = {
        "flavors": flavors,
        "model_uuid": (model_uuid or uuid.uuid4()).hex,
        "signature": signature_json(signature),
        "utc_time_created": created.strftime("%Y-%m-%d %H:%M:%S.%f"),
    }
    return yaml.safe_dump(document, sort_keys=True)
