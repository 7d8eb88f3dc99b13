"""Schema additions of the experiments endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT

ADDITIONS: dict[str, str] = {
    "GET /api/datasets/.parameters.query:sort added": SORT,
    "GET /api/experiments/.parameters.query:sort added": SORT,
    # This action has always documented the dataset list's filters (they apply to the dataset lookup).
    "GET /api/datasets/{id}/versions/.parameters.query:sort added": "the dataset list's FilterSet, as before",
    # Issue 16: a model file uploaded as a version gets a run of its own, of source "uploaded".
    **dict.fromkeys(
        [
            "GET /api/runs/.parameters.query:source.schema.enum gained 'uploaded'",
            "GET /api/runs/.responses.200.application/json.schema.properties.results.items.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "GET /api/runs/.responses.200.application/json.schema.properties.results.items.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
            "GET /api/runs/{id}/.responses.200.application/json.schema.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "GET /api/runs/{id}/.responses.200.application/json.schema.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
            "GET /api/runs/{id}/artifacts/.responses.200.application/json.schema.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "GET /api/runs/{id}/artifacts/.responses.200.application/json.schema.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
            "POST /api/runs/.responses.201.application/json.schema.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "POST /api/runs/.responses.201.application/json.schema.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
            "POST /api/runs/{id}/finish/.responses.200.application/json.schema.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "POST /api/runs/{id}/finish/.responses.200.application/json.schema.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
            "POST /api/runs/{id}/reproduce/.responses.202.application/json.schema.properties.run.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "POST /api/runs/{id}/reproduce/.responses.202.application/json.schema.properties.run.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
            "POST /api/sweeps/.responses.202.application/json.schema.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "POST /api/sweeps/.responses.202.application/json.schema.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
            "POST /api/training/.responses.202.application/json.schema.properties.run.properties.source.allOf gained {'enum': ['trained', 'logged', 'uploaded'], 'type': 'string'}",
            "POST /api/training/.responses.202.application/json.schema.properties.run.properties.source.allOf lost {'enum': ['trained', 'logged'], 'type': 'string'}",
        ],
        'Issue 16: runs holding a model uploaded as a version have source "uploaded".',
    ),
    **dict.fromkeys(
        [
            "GET /api/runs/.responses.200.application/json.schema.properties.results.items.properties.metrics.additionalProperties.nullable added",
            "GET /api/runs/{id}/.responses.200.application/json.schema.properties.metrics.additionalProperties.nullable added",
            "GET /api/runs/{id}/artifacts/.responses.200.application/json.schema.properties.metrics.additionalProperties.nullable added",
            "POST /api/runs/{id}/finish/.responses.200.application/json.schema.properties.metrics.additionalProperties.nullable added",
            "POST /api/runs/{id}/reproduce/.responses.202.application/json.schema.properties.run.properties.metrics.additionalProperties.nullable added",
            "POST /api/sweeps/.responses.202.application/json.schema.properties.metrics.additionalProperties.nullable added",
            "POST /api/training/.responses.202.application/json.schema.properties.run.properties.metrics.additionalProperties.nullable added",
        ],
        "Issue 17: NaN and ±Infinity metric values (MLflow surface) are null in the native API, as JSON has no such numbers.",
    ),
}
