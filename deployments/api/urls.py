from django.urls import include, path
from rest_framework.routers import SimpleRouter

from deployments.api import views


class DeploymentRouter(SimpleRouter):
    """A deployment's address is `<environment>/<model>` (environment a slug, model any name without '/')."""

    def get_lookup_regex(self, viewset, lookup_prefix=""):
        if viewset in (views.DeploymentViewSet, views.PredictViewSet):
            return r"(?P<environment>[-a-zA-Z0-9_]+)/(?P<model>[^/]+)"
        return super().get_lookup_regex(viewset, lookup_prefix)


router = DeploymentRouter()
router.register("deployments", views.DeploymentViewSet, basename="api-deployment")
router.register("ground-truth", views.GroundTruthViewSet, basename="api-ground-truth")
router.register("predictions", views.PredictionViewSet, basename="api-prediction")

# predict has no trailing slash (clients call it as it was published).
serving_router = DeploymentRouter(trailing_slash="")
serving_router.register("deployments", views.PredictViewSet, basename="api-deployment")

urlpatterns = [path("", include(router.urls)), path("", include(serving_router.urls))]
