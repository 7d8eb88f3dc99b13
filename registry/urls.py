from django.urls import path

from mlops_site.views import placeholder
from registry import views

urlpatterns = [
    path("models/", views.model_list, name="models"),
    path("models/<str:name>/", views.model_detail, name="model-detail"),
    path("models/<str:name>/register/", views.model_register, name="model-register"),
    path(
        "approvals/",
        placeholder,
        {
            "title": "Approvals",
            "lead": "The reviewers' queue: promotion requests with their evidence, to approve or reject with a comment.",
            "coming": [
                "Gate results: metric thresholds, champion vs challenger on the same holdout, fairness, signature, hash.",
                "Separation of duties: nobody approves their own request.",
            ],
        },
        name="approvals",
    ),
]
