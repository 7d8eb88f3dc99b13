from django.urls import path

from mlops_site.views import placeholder

urlpatterns = [
    path(
        "models/",
        placeholder,
        {
            "title": "Models",
            "lead": "The model registry: versions with lineage, aliases such as champion, stages and model cards.",
            "coming": [
                "Register a version from a trained run; it pins the artifact, its sha256 and the signature.",
                "Promotion to staging or production through automatic gates and a reviewer's approval.",
            ],
        },
        name="models",
    ),
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
