from django.urls import reverse

from mlops_site.roles import roles_of

NAVIGATION = [
    ("Datasets", "datasets"),
    ("Experiments", "experiments"),
    ("Models", "models"),
    ("Approvals", "approvals"),
    ("Deployments", "deployments"),
    ("Monitoring", "monitoring"),
    ("Alerts", "alerts"),
    ("Jobs", "job-list"),
    ("Audit", "audit-list"),
    ("API docs", "api-docs"),
]


def navigation(request):
    path = getattr(request, "path", "")
    items = [{"label": label, "href": reverse(url_name)} for label, url_name in NAVIGATION]
    # The longest matching prefix is the active one: /monitoring/alerts/ is Alerts, not Monitoring.
    matching = [item["href"] for item in items if path.startswith(item["href"])]
    active = max(matching, key=len, default=None)
    for item in items:
        item["active"] = item["href"] == active
    user = getattr(request, "user", None)
    return {"navigation": items, "user_roles": roles_of(user) if user is not None else []}
