"""MLflow 3's logged models on `/api/2.0/mlflow/logged-models/...` (what `mlflow.<flavor>.log_model` calls)."""

from __future__ import annotations

from django.urls import re_path
from rest_framework.response import Response

from experiments.models import Run
from experiments.services.tracking import DENIED
from mlflow_compat import entities, protocol
from mlflow_compat.errors import invalid
from mlflow_compat.models import LoggedModel
from mlflow_compat.services import logged_models
from mlflow_compat.views.base import MlflowView
from mlflow_compat.views.tracking import _experiment, _run

MAX_RESULTS = 1000
WRITE = ("experiments.add_run", DENIED.format("logging models"))


class LoggedModelView(MlflowView):
    required_permission = "experiments.view_run"
    write_permissions = {"POST": WRITE, "PATCH": WRITE, "DELETE": WRITE}


class Create(LoggedModelView):
    def post(self, request):
        args = self.params(request)
        experiment = _experiment(args.get("experiment_id") or "0", request.user, create_default=True)
        source_run: Run | None = None
        if args.get("source_run_id"):
            source_run = _run({"run_id": args["source_run_id"]})
        model = logged_models.create(
            experiment,
            name=protocol.text(args.get("name"), "name", max_length=250),
            actor=request.user,
            source_run=source_run,
            model_type=protocol.text(args.get("model_type"), "model_type", required=False, max_length=100),
            params=protocol.key_values(args.get("params"), "params"),
            tags=protocol.key_values(args.get("tags"), "tags"),
        )
        return Response({"model": entities.logged_model_json(model)})


class Detail(LoggedModelView):
    def get(self, request, model_id):
        return Response({"model": entities.logged_model_json(logged_models.get(model_id))})

    def patch(self, request, model_id):
        """Finalize: the status the client sets once every file is uploaded (or the upload failed)."""
        args = self.params(request)
        status = args.get("status")
        names = {1: LoggedModel.Status.PENDING, 2: LoggedModel.Status.READY, 3: LoggedModel.Status.FAILED}
        if type(status) is int:
            status = names.get(status, status)
        model = logged_models.finalize(logged_models.get(model_id), str(status), actor=request.user)
        return Response({"model": entities.logged_model_json(model)})

    def delete(self, request, model_id):
        logged_models.get(model_id)
        raise invalid("Logged models are never deleted on this site: registered versions are served from their files.")


class Tags(LoggedModelView):
    def patch(self, request, model_id):
        args = self.params(request)
        tags = protocol.key_values(args.get("tags"), "tags")
        logged_models.set_tags(logged_models.get(model_id), tags, actor=request.user)
        return Response({})


class TagDelete(LoggedModelView):
    def delete(self, request, model_id, key):
        logged_models.delete_tag(logged_models.get(model_id), protocol.text(key, "key"), actor=request.user)
        return Response({})


class Params(LoggedModelView):
    def post(self, request, model_id):
        args = self.params(request)
        params = protocol.key_values(args.get("params"), "params")
        logged_models.log_params(logged_models.get(model_id), params, actor=request.user)
        return Response({})


class Search(LoggedModelView):
    def post(self, request):
        args = self.params(request)
        ids = protocol.strings(args.get("experiment_ids"), "experiment_ids")
        if not ids:
            raise invalid("Pass experiment_ids: the experiments whose logged models to search.")
        experiment_pks = [_experiment(value, request.user).pk for value in ids]
        if args.get("datasets"):
            raise invalid("Searching logged models by dataset is not supported on this site.")
        limit = protocol.integer(args.get("max_results"), "max_results", default=100, low=1, high=MAX_RESULTS)
        offset = protocol.page_token(args.get("page_token"))
        condition = logged_models.search_filter(
            protocol.text(args.get("filter"), "filter", required=False, max_length=2000)
        )
        ordering = []
        order_by = args.get("order_by") or []
        if not isinstance(order_by, list) or len(order_by) > 5:
            raise invalid("order_by must be a list of at most 5 {field_name, ascending} objects.")
        fields = {"name": "name", "creation_timestamp": "created_at", "last_updated_timestamp": "updated_at"}
        for item in order_by:
            field = fields.get(item.get("field_name")) if isinstance(item, dict) else None
            if field is None:
                raise invalid("Order logged models by name, creation_timestamp or last_updated_timestamp.")
            ordering.append(field if item.get("ascending", True) is not False else f"-{field}")
        queryset = LoggedModel.objects.filter(experiment_id__in=experiment_pks).filter(condition)
        ordered = queryset.order_by(*(ordering or ["-created_at"]), "-pk")
        return Response(
            protocol.page(ordered, offset, limit, "models", lambda rows: [entities.logged_model_json(m) for m in rows])
        )


ID = r"(?P<model_id>[^/]{1,100})"
urlpatterns = [
    re_path(r"^api/2\.0/mlflow/logged-models$", Create.as_view()),
    re_path(r"^api/2\.0/mlflow/logged-models/search$", Search.as_view()),
    re_path(rf"^api/2\.0/mlflow/logged-models/{ID}$", Detail.as_view()),
    re_path(rf"^api/2\.0/mlflow/logged-models/{ID}/tags$", Tags.as_view()),
    re_path(rf"^api/2\.0/mlflow/logged-models/{ID}/tags/(?P<key>.{{1,250}})$", TagDelete.as_view()),
    re_path(rf"^api/2\.0/mlflow/logged-models/{ID}/params$", Params.as_view()),
]
