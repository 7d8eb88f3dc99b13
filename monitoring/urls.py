from django.urls import path

from mlops_site.views import placeholder

urlpatterns = [
    path(
        "monitoring/",
        placeholder,
        {
            "title": "Monitoring",
            "lead": "Drift and performance of deployed models over time, alerts, and retraining.",
            "coming": [
                "Per-feature drift (PSI, Kolmogorov–Smirnov, Wasserstein, Jensen–Shannon, chi-square) against the training data.",
                "Alert rules, notifications by webhook and e-mail, and retraining policies that open a reviewed promotion.",
            ],
        },
        name="monitoring",
    ),
]
