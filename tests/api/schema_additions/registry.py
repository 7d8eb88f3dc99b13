"""Schema additions of the registry endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT

ADDITIONS: dict[str, str] = {
    "GET /api/models/.parameters.query:sort added": SORT,
    "GET /api/models/{name}/versions/.parameters.query:sort added": SORT,
    "GET /api/promotions/.parameters.query:sort added": SORT,
    "GET /api/promotions/.parameters.query:mine added": "The approval queue's 'only mine' filter, now that the page "
    "and the API share one FilterSet (registry.filters.PromotionRequestFilter).",
}
