"""The model registry on MLflow's paths (`/api/2.0/mlflow/registered-models/...`, `model-versions/...`).

Reads and the registry's own actions map one to one (models, versions, tags, aliases). Stages do not:
they move only through a gated, reviewed promotion request, so `transition-stage` is refused with a
pointer to `POST /api/promotions/`. Names are the site's: unique whatever their case.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from rest_framework.response import Response

from mlflow_compat import protocol
from mlflow_compat.errors import already_exists, invalid, not_found
from mlflow_compat.protocol import kv, ms
from mlflow_compat.services import downloads
from mlflow_compat.services import registry as compat
from mlflow_compat.views.base import MlflowView, route
from registry import services as registry
from registry.models import ModelAlias, ModelVersion, RegisteredModel

MAX_RESULTS = 1000
STAGE_OUT = {
    ModelVersion.Stage.NONE: "None",
    ModelVersion.Stage.STAGING: "Staging",
    ModelVersion.Stage.PRODUCTION: "Production",
    ModelVersion.Stage.ARCHIVED: "Archived",
}
STAGE_IN = {v.lower(): k for k, v in STAGE_OUT.items()}


def _model(name, *, lock: bool = False) -> RegisteredModel:
    name = protocol.text(name, "name", max_length=250)
    queryset = RegisteredModel.objects.select_for_update() if lock else RegisteredModel.objects
    model = queryset.filter(name__iexact=name).first()
    if model is None:
        raise not_found(f"Registered Model with name={name} not found")
    return model


def _version(args: dict) -> ModelVersion:
    model = _model(args.get("name"))
    number = protocol.text(args.get("version"), "version", max_length=20)
    found = (
        ModelVersion.objects.select_related("model", "run", "created_by")
        .filter(model=model, number=int(number))
        .first()
        if number.isascii() and number.isdigit() and len(number) < 10
        else None
    )
    if found is None:
        raise not_found(f"Model Version (name={model.name}, version={number}) not found")
    return found


def version_json(version: ModelVersion, aliases: list[str] | None = None) -> dict:
    if aliases is None:
        aliases = list(version.aliases.values_list("name", flat=True))
    body = {
        "name": version.model.name,
        "version": str(version.number),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.created_at),
        "user_id": version.created_by.username if version.created_by else "",
        "current_stage": STAGE_OUT.get(version.stage, "None"),
        "description": version.description,
        "source": compat.version_json_source(version),
        "run_id": str(version.run_id),
        "status": "READY",
        "tags": kv(version.tags or {}),
        "aliases": sorted(aliases),
    }
    if logged := (version.lineage or {}).get("mlflow", {}).get("logged_model"):
        body["model_id"] = logged
    return body


def model_json(model: RegisteredModel, *, latest: bool = True) -> dict:
    aliases = list(model.aliases.select_related("version").order_by("name"))
    body = {
        "name": model.name,
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.created_at),
        "user_id": model.owner.username if model.owner else "",
        "description": model.description,
        "tags": kv(model.tags or {}),
        "aliases": [{"alias": a.name, "version": str(a.version.number)} for a in aliases],
    }
    if latest:
        body["latest_versions"] = [version_json(v) for v in _latest_per_stage(model)]
    return body


def _latest_per_stage(model: RegisteredModel, stages: list[str] | None = None) -> list[ModelVersion]:
    versions = ModelVersion.objects.select_related("model", "created_by").filter(model=model)
    if stages:
        versions = versions.filter(stage__in=stages)
    tops = versions.values("stage").annotate(top=Max("number")).values_list("top", flat=True)
    return list(versions.filter(number__in=list(tops)).order_by("number"))


class RegistryView(MlflowView):
    required_permission = "registry.view_registeredmodel"
    # The registry's services check who may do what (a reviewer may not register, only owners edit), and
    # say so in the words the rest of the API uses.


# --- registered models ---------------------------------------------------------------------------


class ModelCreate(RegistryView):
    def post(self, request):
        args = self.params(request)
        name = protocol.text(args.get("name"), "name", max_length=250)
        if RegisteredModel.objects.filter(name__iexact=name).exists():
            raise already_exists(f"Registered Model (name={name}) already exists.")
        tags = _tags(args.get("tags"))
        description = protocol.text(args.get("description"), "description", required=False)
        try:
            with transaction.atomic():  # the model and its tags, or nothing
                model = registry.create_model(name=name, description=description, actor=request.user)
                if tags:
                    model = registry.update_model(model, actor=request.user, tags=tags)
        except ValidationError:
            if RegisteredModel.objects.filter(name__iexact=name).exists():  # made at the same moment by another request
                raise already_exists(f"Registered Model (name={name}) already exists.") from None
            raise
        return Response({"registered_model": model_json(model)})


def _tags(raw) -> dict[str, str]:
    """Tags as the registry will keep them, checked before anything is created."""
    tags = protocol.key_values(raw, "tags")
    if tags:
        registry.clean_tags(tags)
    return tags


class ModelGet(RegistryView):
    def get(self, request):
        return Response({"registered_model": model_json(_model(self.params(request).get("name")))})


class ModelUpdate(RegistryView):
    def patch(self, request):
        args = self.params(request)
        model = _model(args.get("name"))
        if "description" in args:
            model = registry.update_model(
                model, actor=request.user, description=protocol.text(args["description"], "description", required=False)
            )
        return Response({"registered_model": model_json(model)})

    post = patch


class ModelSetTag(RegistryView):
    def post(self, request):
        args = self.params(request)
        model = _model(args.get("name"))
        key = protocol.text(args.get("key"), "key", max_length=64)
        value = protocol.text(args.get("value"), "value", required=False, max_length=500)
        registry.update_model(model, actor=request.user, tags={**(model.tags or {}), key: value})
        return Response({})


class ModelDeleteTag(RegistryView):
    def delete(self, request):
        args = self.params(request)
        model = _model(args.get("name"))
        key = protocol.text(args.get("key"), "key", max_length=64)
        if key not in (model.tags or {}):
            raise not_found(f"Registered model {model.name} has no tag '{key}'.")
        registry.update_model(model, actor=request.user, tags={k: v for k, v in model.tags.items() if k != key})
        return Response({})


class Refused(RegistryView):
    message = ""

    def _refuse(self, request, *args, **kwargs):
        raise invalid(self.message)

    get = post = patch = delete = _refuse


MODEL_FILTER = re.compile(r"""^\s*name\s*(=|!=|LIKE|ILIKE)\s*(?:'((?:[^'])*)'|"((?:[^"])*)")\s*$""", re.I)
PROMPT_FILTER = re.compile(r"""\s*(?:and\s+)?tags?\.`?mlflow\.prompt\.is_prompt`?\s*!=\s*'true'\s*""", re.I)
VERSION_CLAUSE = re.compile(
    r"""^\s*(name|run_id|source_path|version_number|model_id)\s*(=|!=|LIKE|ILIKE)\s*(?:'([^']*)'|"([^"]*)"|(\d+))\s*$""",
    re.I,
)


def _like(value: str) -> str:
    return "^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value) + "$"


def _name_condition(op: str, value: str) -> Q:
    op = op.upper()
    return {
        "=": Q(name__iexact=value),
        "!=": ~Q(name__iexact=value),
        "LIKE": Q(name__regex=_like(value)),
        "ILIKE": Q(name__iregex=_like(value)),
    }[op]


def _without_prompt_clause(text: str) -> str:
    """`search_registered_models()` adds a clause excluding prompts by itself; the site has no prompts."""
    return PROMPT_FILTER.sub(" ", text).strip().removeprefix("and ").removeprefix("AND ").strip()


def _order(items, fields: dict[str, str]) -> list[str]:
    keys = []
    for item in protocol.strings(items, "order_by", max_items=5):
        words = item.split()
        field = fields.get(words[0]) if words else None
        if field is None:
            raise invalid(f"Cannot order by {item[:100]!r}: use {', '.join(fields)}.")
        keys.append(("-" if len(words) > 1 and words[1].upper() == "DESC" else "") + field)
    return keys


class ModelSearch(RegistryView):
    def get(self, request):
        args = self.params(request)
        limit = protocol.integer(args.get("max_results"), "max_results", default=100, low=1, high=MAX_RESULTS)
        offset = protocol.page_token(args.get("page_token"))
        text = _without_prompt_clause(protocol.text(args.get("filter"), "filter", required=False, max_length=2000))
        queryset = RegisteredModel.objects.select_related("owner")
        if text:
            match = MODEL_FILTER.match(text)
            if match is None:
                raise invalid(f"Unsupported filter {text[:200]!r}: filter registered models by name.")
            queryset = queryset.filter(_name_condition(match[1], match[2] if match[2] is not None else match[3]))
        order = _order(
            args.get("order_by"), {"name": "name", "timestamp": "created_at", "creation_timestamp": "created_at"}
        )
        ordered = queryset.order_by(*(order or ["name"]), "pk")
        return Response(
            protocol.page(ordered, offset, limit, "registered_models", lambda rows: [model_json(m) for m in rows])
        )

    post = get


class LatestVersions(RegistryView):
    def get(self, request):
        args = self.params(request)
        model = _model(args.get("name"))
        stages = []
        for stage in protocol.strings(args.get("stages"), "stages", max_items=4):
            if stage.lower() not in STAGE_IN:
                raise invalid(f"Unknown stage {stage[:40]!r}: use None, Staging, Production or Archived.")
            stages.append(STAGE_IN[stage.lower()])
        return Response({"model_versions": [version_json(v) for v in _latest_per_stage(model, stages)]})

    post = get


class Alias(RegistryView):
    def get(self, request):
        args = self.params(request)
        model = _model(args.get("name"))
        name = protocol.text(args.get("alias"), "alias", max_length=64).lower()
        alias = ModelAlias.objects.select_related("version__model").filter(model=model, name=name).first()
        if alias is None:
            raise invalid(f"Registered model alias {name} not found.")
        return Response({"model_version": version_json(alias.version)})

    def post(self, request):
        args = self.params(request)
        version = _version({"name": args.get("name"), "version": args.get("version")})
        registry.set_alias(
            version.model, protocol.text(args.get("alias"), "alias", max_length=64), version, actor=request.user
        )
        return Response({})

    def delete(self, request):
        args = self.params(request)
        model = _model(args.get("name"))
        name = protocol.text(args.get("alias"), "alias", max_length=64).lower()
        registry.delete_alias(model, name, actor=request.user)
        return Response({})


# --- model versions ------------------------------------------------------------------------------


class VersionCreate(RegistryView):
    def post(self, request):
        args = self.params(request)
        model = _model(args.get("name"))
        source = protocol.text(args.get("source"), "source", max_length=1000)
        model_id = protocol.text(args.get("model_id"), "model_id", required=False, max_length=100) or None
        tags = _tags(args.get("tags"))
        version = compat.create_version(
            model,
            source=source,
            model_id=model_id,
            actor=request.user,
            description=protocol.text(args.get("description"), "description", required=False),
        )
        if tags:
            version = registry.update_version(version, actor=request.user, tags=tags)
        return Response({"model_version": version_json(version, [])})


class VersionGet(RegistryView):
    def get(self, request):
        return Response({"model_version": version_json(_version(self.params(request)))})


class VersionUpdate(RegistryView):
    def patch(self, request):
        args = self.params(request)
        version = _version(args)
        if "description" in args:
            version = registry.update_version(
                version,
                actor=request.user,
                description=protocol.text(args["description"], "description", required=False),
            )
        return Response({"model_version": version_json(version)})


class VersionSetTag(RegistryView):
    def post(self, request):
        args = self.params(request)
        version = _version(args)
        key = protocol.text(args.get("key"), "key", max_length=64)
        value = protocol.text(args.get("value"), "value", required=False, max_length=500)
        registry.update_version(version, actor=request.user, tags={**(version.tags or {}), key: value})
        return Response({})


class VersionDeleteTag(RegistryView):
    def delete(self, request):
        args = self.params(request)
        version = _version(args)
        key = protocol.text(args.get("key"), "key", max_length=64)
        if key not in (version.tags or {}):
            raise not_found(f"{version} has no tag '{key}'.")
        registry.update_version(version, actor=request.user, tags={k: v for k, v in version.tags.items() if k != key})
        return Response({})


class VersionSearch(RegistryView):
    def get(self, request):
        args = self.params(request)
        limit = protocol.integer(args.get("max_results"), "max_results", default=10_000, low=1, high=200_000)
        offset = protocol.page_token(args.get("page_token"))
        text = _without_prompt_clause(protocol.text(args.get("filter"), "filter", required=False, max_length=2000))
        condition = Q()
        for clause in re.split(r"\s+and\s+", text, flags=re.I) if text else []:
            match = VERSION_CLAUSE.match(clause)
            if match is None:
                raise invalid(
                    f"Unsupported filter {clause[:200]!r}: filter model versions by name, run_id or version_number."
                )
            field, op = match[1].lower(), match[2].upper()
            value = next(v for v in match.groups()[2:] if v is not None)
            if field == "name":
                term = Q(model__in=RegisteredModel.objects.filter(_name_condition(op, value)))
            elif field == "run_id":
                term = Q(run_id=int(value)) if value.isascii() and value.isdigit() and len(value) < 18 else Q(pk__in=[])
            elif field == "version_number":
                term = Q(number=int(value)) if value.isascii() and value.isdigit() and len(value) < 10 else Q(pk__in=[])
            elif field == "model_id":
                term = Q(lineage__mlflow__logged_model=value)
            else:
                raise invalid("Filter model versions by name, run_id or version_number.")
            if op not in ("=", "!=") and field != "name":
                raise invalid(f"{field} takes = or !=.")
            condition &= ~term if op == "!=" and field != "name" else term
        order = _order(
            args.get("order_by"),
            {
                "name": "model__name",
                "version_number": "number",
                "creation_timestamp": "created_at",
                "timestamp": "created_at",
            },
        )
        queryset = ModelVersion.objects.select_related("model", "created_by").filter(condition)
        ordered = queryset.order_by(*(order or ["model__name", "-number"]), "pk")
        return Response(
            protocol.page(ordered, offset, limit, "model_versions", lambda rows: [version_json(v) for v in rows])
        )

    post = get


class DownloadUri(RegistryView):
    def get(self, request):
        version = _version(self.params(request))
        return Response({"artifact_uri": downloads.directory_uri(version)})


class TransitionStage(Refused):
    message = (
        "Stages on this site move only through a gated, reviewed promotion request: POST /api/promotions/ "
        '{"version": <version id>, "stage": "staging" | "production", "justification": "..."}, or the '
        "“Request promotion” button on the version's page. Use aliases (set_registered_model_alias) for pointers "
        "you move yourself."
    )


class ModelDelete(Refused):
    message = "Registered models are never deleted on this site: their versions are the record of what was served."


class VersionDelete(Refused):
    message = "Model versions are never deleted on this site: each is the record of what was reviewed and served."


class ModelRename(Refused):
    message = "Registered models cannot be renamed on this site: the name is in every URL, alias and deployment."


urlpatterns = [
    route("registered-models/create", ModelCreate),
    route("registered-models/get", ModelGet),
    route("registered-models/update", ModelUpdate),
    route("registered-models/delete", ModelDelete),
    route("registered-models/rename", ModelRename),
    route("registered-models/search", ModelSearch),
    route("registered-models/set-tag", ModelSetTag),
    route("registered-models/delete-tag", ModelDeleteTag),
    route("registered-models/get-latest-versions", LatestVersions),
    route("registered-models/alias", Alias),
    route("model-versions/create", VersionCreate),
    route("model-versions/get", VersionGet),
    route("model-versions/update", VersionUpdate),
    route("model-versions/delete", VersionDelete),
    route("model-versions/set-tag", VersionSetTag),
    route("model-versions/delete-tag", VersionDeleteTag),
    route("model-versions/search", VersionSearch),
    route("model-versions/get-download-uri", DownloadUri),
    route("model-versions/transition-stage", TransitionStage),
]
