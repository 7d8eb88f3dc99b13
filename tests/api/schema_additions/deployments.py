"""Schema additions of the deployments endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT

ADDITIONS: dict[str, str] = {
    "GET /api/deployments/.parameters.query:sort added": SORT,
    "GET /api/predictions/.parameters.query:sort added": SORT,
}
