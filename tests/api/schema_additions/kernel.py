"""Schema additions of the kernel's endpoints: "<METHOD> <path> <what>" -> why."""

SORT = "the list's `sort` parameter, shared with its page (SortFilter); `ordering` still works"

ADDITIONS: dict[str, str] = {
    "GET /api/audit-events/.parameters.query:sort added": SORT,
    "GET /api/jobs/.parameters.query:sort added": SORT,
    "GET /api/webhooks/.parameters.query:sort added": SORT,
    "GET /api/webhooks/{id}/deliveries/.parameters.query:sort added": (
        "the deliveries' `sort` parameter, shared with the webhook page's delivery table (SortFilter); "
        "newest first by default, as before"
    ),
}
