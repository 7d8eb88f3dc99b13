from django.urls import reverse

from mlops_site.roles import roles_of

NAVIGATION = [
    ("Datasets", "datasets"),
    ("Experiments", "experiments"),
    ("Models", "models"),
    ("Approvals", "approvals"),
    ("Deployments", "deployments"),
    ("Monitoring", "monitoring"),
    ("Jobs", "job-list"),
    ("Audit", "audit-list"),
    ("API docs", "api-docs"),
]


def navigation(request):
    path = getattr(request, "path", "")
    items = []
    for label, url_name in NAVIGATION:
        href = reverse(url_name)
        items.append({"label": label, "href": href, "active": path.startswith(href)})
    user = getattr(request, "user", None)
    return {"navigation": items, "user_roles": roles_of(user) if user is not None else []}
