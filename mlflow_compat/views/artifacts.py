"""MLflow's artifact proxy, `/api/2.0/mlflow-artifacts/artifacts/...`, over the site's artifact storage.

Three namespaces, as the URIs the other endpoints hand out:

* `<experiment>/<run>/artifacts/<path>`: a run's artifacts (`RunArtifact`, as the site's own upload stores them);
* `<experiment>/models/<model id>/artifacts/<path>`: a logged model's files (`LoggedModelArtifact`);
* `registry/<model>/<version>/<path>`: the MLmodel directory of a registry version (read only), what
  `mlflow.pyfunc.load_model("models:/name/3")` downloads.

Uploads are the raw request body (PUT), streamed to storage with their sha256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpResponse
from django.urls import re_path
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from experiments import services as experiments
from experiments.models import Run, RunArtifact
from experiments.services.tracking import DENIED
from mlflow_compat import errors, protocol
from mlflow_compat.errors import invalid, not_found
from mlflow_compat.services import downloads, logged_models
from mlflow_compat.views.base import MlflowView

CHUNK = 1024 * 1024
RUN_PATH = re.compile(r"^(?P<experiment>\d{1,18})/(?P<run>\d{1,18})/artifacts(?:/(?P<rest>.*))?$")
MODEL_PATH = re.compile(r"^(?P<experiment>\d{1,18})/models/(?P<model>m-[0-9a-f]{32})/artifacts(?:/(?P<rest>.*))?$")
REGISTRY_PATH = re.compile(r"^registry/(?P<model>\d{1,18})/(?P<number>\d{1,9})(?:/(?P<rest>.*))?$")


class RawBody(BaseParser):
    """Leaves the body alone: the view streams it to storage itself."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


@dataclass
class Location:
    kind: str  # "run", "model" or "registry"
    owner: object
    rest: str  # the path inside the owner's directory ("" for its root)


def _chunks(request):
    while chunk := request.read(CHUNK):
        yield chunk


def locate(raw: str) -> Location:
    """The run, logged model or registry version a proxy path points into, and the path inside it."""
    path = protocol.text(raw, "path", required=False, max_length=1000).strip("/")
    if match := RUN_PATH.match(path):
        run = Run.objects.filter(pk=int(match["run"]), experiment_id=int(match["experiment"])).first()
        if run is None:
            raise not_found(f"No run {match['run']} in experiment {match['experiment']}.")
        return Location("run", run, (match["rest"] or "").strip("/"))
    if match := MODEL_PATH.match(path):
        model = logged_models.get(match["model"])
        if model.experiment_id != int(match["experiment"]):
            raise not_found(f"No logged model {match['model']} in experiment {match['experiment']}.")
        return Location("model", model, (match["rest"] or "").strip("/"))
    if match := REGISTRY_PATH.match(path):
        version = downloads.version(int(match["model"]), int(match["number"]))
        return Location("registry", version, (match["rest"] or "").strip("/"))
    raise not_found(
        f"'{path[:200]}' is not an artifact path of this site: <experiment>/<run>/artifacts/..., "
        "<experiment>/models/<model id>/artifacts/... or registry/<model>/<version>/..."
    )


def _files(location: Location) -> dict[str, tuple[int, object]]:
    """{path: (size, opener)} of every file in the location's directory."""
    if location.kind == "run":
        rows = RunArtifact.objects.filter(run=location.owner).values_list("path", "size_bytes", "file")
        return {path: (size, name) for path, size, name in rows}
    if location.kind == "model":
        rows = location.owner.artifacts.values_list("path", "size_bytes", "file")
        return {path: (size, name) for path, size, name in rows}
    return {path: (len(data), data) for path, data in downloads.files(location.owner).items()}


def listing(location: Location) -> list[dict]:
    """The direct children of a directory, as MLflow lists them (names relative to it); [] for a file."""
    prefix = f"{location.rest}/" if location.rest else ""
    entries: dict[str, dict] = {}
    for path, (size, _) in _files(location).items():
        if not path.startswith(prefix):
            continue
        name, _, below = path[len(prefix) :].partition("/")
        if below:
            entries.setdefault(name, {"path": name, "is_dir": True})
        else:
            entries[name] = {"path": name, "is_dir": False, "file_size": size}
    return [entries[name] for name in sorted(entries)]


class ArtifactView(MlflowView):
    parser_classes = [RawBody]

    def initial(self, request, *args, **kwargs):
        path = kwargs.get("path") or request.query_params.get("path") or ""
        self.required_permission = (
            "registry.view_modelversion" if path.lstrip("/").startswith("registry/") else "experiments.view_run"
        )
        self.write_permissions = {"PUT": ("experiments.add_run", DENIED.format("logging artifacts"))}
        super().initial(request, *args, **kwargs)


class List(ArtifactView):
    def get(self, request):
        location = locate(request.query_params.get("path", ""))
        files = _files(location)
        if location.rest in files:
            return Response({})  # a file, not a directory
        return Response({"files": listing(location)} if files else {})


class File(ArtifactView):
    def get(self, request, path):
        location = locate(path)
        if location.kind == "registry":
            data = downloads.files(location.owner).get(location.rest)
            if data is None:
                raise not_found(f"No file '{location.rest[:200]}' in {location.owner}.")
            return HttpResponse(data, content_type="application/octet-stream")
        entry = _files(location).get(location.rest)
        if entry is None:
            raise not_found(f"No artifact at '{location.rest[:200]}'.")
        try:
            handle = default_storage.open(entry[1], "rb")
        except OSError:
            raise not_found(f"The file of '{location.rest[:200]}' is missing from storage.") from None
        return FileResponse(handle, content_type="application/octet-stream")

    def put(self, request, path):
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isascii() and declared.isdigit() and int(declared) > settings.ARTIFACT_MAX_UPLOAD_BYTES:
            # Refused before a byte is read: the limit is also counted while streaming, for bodies that lie.
            raise invalid(f"Artifacts are limited to {settings.ARTIFACT_MAX_UPLOAD_BYTES / 1e6:.0f} MB.")
        location = locate(path)
        if location.kind == "registry":
            raise invalid("A registry version's files are made by the site; they cannot be uploaded.")
        if location.kind == "model":
            logged_models.put_file(location.owner, location.rest, _chunks(request), actor=request.user)
            return Response({})
        if location.owner.source != Run.Source.LOGGED:
            # A trained or uploaded run's files are what the site made and measured; its gates trust them.
            raise invalid(
                f"Run {location.owner.pk} is one the site made ({location.owner.get_source_display().lower()}): "
                "its artifacts are the site's. Log to a run of your own."
            )
        upload = Upload(request, location.rest, request.content_type)
        experiments.upload_artifact(
            location.owner, upload, actor=request.user, path=location.rest, replace=True, after_finish=True
        )
        return Response({})


class Upload:
    """The request body as the file object `upload_artifact` reads (name, content type, chunks)."""

    def __init__(self, request, name: str, content_type: str):
        self.request, self.name, self.content_type = request, name, (content_type or "")[:100]

    def chunks(self):
        return _chunks(self.request)


class NotImplementedView(MlflowView):
    """Presigned URLs and multipart uploads: 501 tells the client to fall back to plain GET and PUT."""

    required_permission = "experiments.view_run"
    parser_classes = [RawBody]

    def _refuse(self, request, *args, **kwargs):
        raise errors.MlflowError("This site streams artifacts through the proxy itself.", "NOT_IMPLEMENTED", 501)

    get = post = put = _refuse


urlpatterns = [
    re_path(r"^api/2\.0/mlflow-artifacts/artifacts/?$", List.as_view()),
    re_path(r"^api/2\.0/mlflow-artifacts/artifacts/(?P<path>.+)$", File.as_view()),
    re_path(r"^api/2\.0/mlflow-artifacts/(presigned|mpu)/.*$", NotImplementedView.as_view()),
]
