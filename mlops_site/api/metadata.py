"""What the API answers to OPTIONS."""

from rest_framework.metadata import SimpleMetadata


class Metadata(SimpleMetadata):
    """DRF's description of an endpoint, also for verb-only ViewSets (predict, ground truth, retraining).

    Those validate in their service and have no `serializer_class`; DRF would fail asking for one, so
    they describe themselves without the per-field `actions`, as an APIView does.
    """

    def determine_actions(self, request, view):
        from rest_framework.generics import GenericAPIView  # imported late: DRF's views load this class

        if (
            getattr(view, "serializer_class", None) is None
            and type(view).get_serializer_class is GenericAPIView.get_serializer_class
        ):
            return {}
        return super().determine_actions(request, view)
