from django.urls import path

from mlops_site.views import placeholder

urlpatterns = [
    path(
        "deployments/",
        placeholder,
        {
            "title": "Deployments",
            "lead": "Models served over REST in staging and production, with canary traffic, shadow and rollback.",
            "coming": [
                "A prediction endpoint per deployment, validated against the model's signature.",
                "Request rate, error rate and latency charts per version; every prediction logged.",
            ],
        },
        name="deployments",
    ),
]
