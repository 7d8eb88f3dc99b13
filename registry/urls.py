from django.urls import path

from registry.views import models, promotions, uploads, versions

urlpatterns = [
    path("models/", models.model_list, name="models"),
    path("models/<str:name>/", models.model_detail, name="model-detail"),
    path("models/<str:name>/register/", models.model_register, name="model-register"),
    path("models/<str:name>/upload/", uploads.version_upload, name="version-upload"),
    path("models/<str:name>/gates/", models.model_gates, name="model-gates"),
    path("models/<str:name>/edit/", models.model_edit, name="model-edit"),
    path("models/<str:name>/versions/<int:number>/edit/", models.version_edit, name="version-edit"),
    path("models/<str:name>/aliases/", models.model_alias, name="model-alias"),
    path("models/<str:name>/rollback/", promotions.rollback, name="model-rollback"),
    path("models/<str:name>/versions/<int:number>/", versions.version_detail, name="version-detail"),
    path("models/<str:name>/versions/<int:number>/card/", versions.card_edit, name="version-card-edit"),
    path("models/<str:name>/versions/<int:number>/card.md", versions.card_markdown, name="version-card-markdown"),
    path("models/<str:name>/versions/<int:number>/promote/", promotions.request_new, name="version-promote"),
    path("models/<str:name>/diff/", versions.version_diff, name="version-diff"),
    path("runs/<int:pk>/register/", uploads.run_register, name="run-register"),
    path("approvals/", promotions.queue, name="approvals"),
    path("approvals/<int:pk>/", promotions.request_detail, name="promotion-detail"),
    path("approvals/<int:pk>/decide/", promotions.decide, name="promotion-decide"),
]
