"""Schema additions of the monitoring endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT

ADDITIONS: dict[str, str] = {
    "GET /api/alert-rules/.parameters.query:sort added": SORT,
    "GET /api/alerts/.parameters.query:sort added": SORT,
    "GET /api/drift-reports/.parameters.query:sort added": SORT,
}
