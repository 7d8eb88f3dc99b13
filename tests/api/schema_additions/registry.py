"""Schema additions of the registry endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT

ADDITIONS: dict[str, str] = {
    "GET /api/models/.parameters.query:sort added": SORT,
    "GET /api/models/{name}/versions/.parameters.query:sort added": SORT,
    "GET /api/promotions/.parameters.query:sort added": SORT,
    "GET /api/promotions/.parameters.query:mine added": "The approval queue's 'only mine' filter, now that the page "
    "and the API share one FilterSet (registry.filters.PromotionRequestFilter).",
    # Issue 16: versions trained anywhere.
    **{
        f"{op}.responses.{code}.application/json.schema.properties{where}.{field} added": (
            "Issue 16: a version says how its file is stored (skops or ONNX) and whether its metrics were "
            "computed here or reported by the uploader."
        )
        for op, code, where in [
            ("GET /api/models/{name}/aliases/{alias}/", 200, ""),
            ("GET /api/models/{name}/versions/", 200, ".results.items.properties"),
            ("GET /api/models/{name}/versions/{number}/", 200, ""),
            ("PATCH /api/models/{name}/versions/{number}/", 200, ""),
            ("POST /api/models/{name}/versions/", 201, ""),
        ]
        for field in ("format", "metrics_source")
    },
    **{
        f"POST /api/models/{{name}}/versions/.request.multipart/form-data.schema.properties.{field} added": (
            "Issue 16: a multipart POST uploads a model file trained anywhere (registry.schemas.VersionUpload)."
        )
        for field in ("file", "run.minimum", "sample", "signature", "target", "task", "training_dataset_version")
    },
    **dict.fromkeys(
        [
            "GET /api/models/{name}/aliases/{alias}/.responses.200.application/json.schema.required gained 'format'",
            "GET /api/models/{name}/aliases/{alias}/.responses.200.application/json.schema.required gained 'metrics_source'",
            "GET /api/models/{name}/versions/.responses.200.application/json.schema.properties.results.items.required gained 'format'",
            "GET /api/models/{name}/versions/.responses.200.application/json.schema.properties.results.items.required gained 'metrics_source'",
            "GET /api/models/{name}/versions/{number}/.responses.200.application/json.schema.required gained 'format'",
            "GET /api/models/{name}/versions/{number}/.responses.200.application/json.schema.required gained 'metrics_source'",
            "PATCH /api/models/{name}/versions/{number}/.responses.200.application/json.schema.required gained 'format'",
            "PATCH /api/models/{name}/versions/{number}/.responses.200.application/json.schema.required gained 'metrics_source'",
            "POST /api/models/{name}/versions/.request.multipart/form-data.schema.required gained 'file'",
            "POST /api/models/{name}/versions/.request.multipart/form-data.schema.required lost 'run'",
            "POST /api/models/{name}/versions/.responses.201.application/json.schema.required gained 'format'",
            "POST /api/models/{name}/versions/.responses.201.application/json.schema.required gained 'metrics_source'",
        ],
        "Issue 16: versions always carry format and metrics_source; a multipart POST with a file uploads a model "
        "(file required), while a POST without a file still registers a run (run required, as before).",
    ),
}

# A promotion's gates_status gains "undecided" (issue 16): no gate failed, but a version trained elsewhere has no
# known rows to score it on until the model has an evaluation set; approval waits as for "fail". The enum is a
# component, so each response holding it shows the old enum lost and the new one (with "undecided") gained.
UNDECIDED = (
    "gates_status gains 'undecided': a version trained elsewhere waits for an evaluation set "
    "(gates.evaluation) instead of failing; approval is refused until then, as for 'fail'."
)
_GATES_STATUS_ENUM = {
    "lost": "{'enum': ['running', 'pass', 'fail', 'error'], 'type': 'string'}",
    "gained": "{'enum': ['running', 'pass', 'fail', 'error', 'undecided'], 'type': 'string'}",
}
_HOLDING_GATES_STATUS = (
    "GET /api/models/{name}/aliases/{alias}/.responses.200.application/json.schema.properties.promotions.items.properties",
    "GET /api/models/{name}/versions/{number}/.responses.200.application/json.schema.properties.promotions.items.properties",
    "GET /api/promotions/.responses.200.application/json.schema.properties.results.items.properties",
    "GET /api/promotions/{id}/.responses.200.application/json.schema.properties",
    "PATCH /api/models/{name}/versions/{number}/.responses.200.application/json.schema.properties.promotions.items.properties",
    "POST /api/promotions/.responses.202.application/json.schema.properties",
    "POST /api/promotions/rollback/.responses.201.application/json.schema.properties",
    "POST /api/promotions/{id}/approve/.responses.200.application/json.schema.properties",
    "POST /api/promotions/{id}/reject/.responses.200.application/json.schema.properties",
    "POST /api/promotions/{id}/rerun-gates/.responses.202.application/json.schema.properties",
    "POST /api/promotions/{id}/withdraw/.responses.200.application/json.schema.properties",
)
ADDITIONS |= {
    f"{where}.gates_status.allOf {change} {enum}": UNDECIDED
    for where in _HOLDING_GATES_STATUS
    for change, enum in _GATES_STATUS_ENUM.items()
}
