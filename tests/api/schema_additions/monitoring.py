"""Schema additions of the monitoring endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT  # noqa: F401  (the usual reason for a list's new parameter)

ADDITIONS: dict[str, str] = {
    "GET /api/alert-rules/.parameters.query:sort added": SORT,
    "GET /api/alerts/.parameters.query:sort added": SORT,
    "GET /api/drift-reports/.parameters.query:sort added": SORT,
}
