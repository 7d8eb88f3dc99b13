"""Schema additions of the experiments endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT

ADDITIONS: dict[str, str] = {
    "GET /api/datasets/.parameters.query:sort added": SORT,
    "GET /api/experiments/.parameters.query:sort added": SORT,
    # This action has always documented the dataset list's filters (they apply to the dataset lookup).
    "GET /api/datasets/{id}/versions/.parameters.query:sort added": "the dataset list's FilterSet, as before",
}
