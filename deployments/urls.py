from django.urls import path

from deployments import views

urlpatterns = [
    path("deployments/", views.deployment_list, name="deployments"),
    path("deployments/<slug:environment>/<str:model>/", views.deployment_detail, name="deployment-detail"),
    path("deployments/<slug:environment>/<str:model>/change/", views.deployment_change, name="deployment-change"),
]
