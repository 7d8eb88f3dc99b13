"""A registry version as the MLmodel directory `mlflow.pyfunc.load_model("models:/name/3")` downloads.

The directory is always made here, for versions logged through MLflow too: the pinned bytes (checked
against the version's sha256, as serving checks them), an MLmodel naming the skops types the file needs
and the version's signature, and the requirements of this environment. A logged model's own MLmodel is
never handed out as the version: its `python_function` flavor could name a pickle or code the sha256
never covered, and what loads must be what the reviewer approved.
"""

from __future__ import annotations

import hashlib
import platform
import uuid
from importlib import metadata

from django.core.files.storage import default_storage

from mlflow_compat import mlmodel
from mlflow_compat.errors import invalid, not_found
from registry.models import ModelVersion

REQUIREMENTS = ("scikit-learn", "skops", "numpy", "pandas", "scipy")


def version(model_pk: int, number: int) -> ModelVersion:
    found = ModelVersion.objects.select_related("model", "artifact").filter(model_id=model_pk, number=number).first()
    if found is None:
        raise not_found(f"No version {number} of registered model {model_pk}.")
    return found


def directory_uri(found: ModelVersion) -> str:
    return f"mlflow-artifacts:/registry/{found.model_id}/{found.number}"


def _pinned_bytes(found: ModelVersion) -> bytes:
    try:
        with default_storage.open(found.artifact.file, "rb") as handle:
            data = handle.read()
    except OSError:
        raise invalid(f"The model file of {found} is missing from storage.") from None
    if hashlib.sha256(data).hexdigest() != found.sha256:
        raise invalid(f"The model file of {found} no longer matches its pinned sha256; it is not handed out.")
    return data


def _version_of(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def files(found: ModelVersion) -> dict[str, bytes]:
    """{path: bytes} of the version's MLmodel directory."""
    data = _pinned_bytes(found)
    trusted = None
    if found.format == ModelVersion.Format.SKOPS:
        import skops.io

        trusted = skops.io.get_untrusted_types(data=data)
    pins = [f"{name}=={v}" for name in REQUIREMENTS if (v := _version_of(name))]
    if found.format == ModelVersion.Format.ONNX:
        pins += [f"{name}=={v}" for name in ("onnx", "onnxruntime") if (v := _version_of(name))]
    python = platform.python_version()
    text = mlmodel.write(
        fmt=found.format,
        signature=found.signature or {},
        created=found.created_at,
        sklearn_version=_version_of("scikit-learn") or "",
        python_version=python,
        trusted_types=trusted,
        model_uuid=uuid.UUID(found.sha256[:32]),
    )
    requirements = "\n".join(["mlflow", *pins]) + "\n"
    name = mlmodel.ONNX_FILE if found.format == ModelVersion.Format.ONNX else mlmodel.SKOPS_FILE
    python_env = f"python: {python}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
    conda = "channels:\n- conda-forge\ndependencies:\n- python=" + python + "\n- pip\n- pip:\n"
    conda += "".join(f"  - {line}\n" for line in requirements.split())
    return {
        mlmodel.MLMODEL: text.encode(),
        name: data,
        "requirements.txt": requirements.encode(),
        "python_env.yaml": python_env.encode(),
        "conda.yaml": conda.encode(),
    }
