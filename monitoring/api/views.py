"""REST API of monitoring: ad-hoc drift between two dataset versions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments.models import DatasetVersion
from mlops_site.api.permissions import HasModelPermission
from monitoring import services


class CompareRequest(serializers.Serializer):
    reference_version = serializers.IntegerField(help_text="Id of the reference dataset version.")
    current_version = serializers.IntegerField(help_text="Id of the dataset version to compare with it.")
    methods = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text='Deciding method per kind or column, e.g. {"numeric": "psi", "categorical": "chisquare", "age": "ks"}.',
    )
    thresholds = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text='Per method, e.g. {"psi": 0.2, "ks": 0.01}.'
    )
    share = serializers.FloatField(required=False, default=0.5, help_text="Share of drifted columns: dataset drift.")


FEATURE_ROW = inline_serializer(
    "FeatureDrift",
    {
        "feature": serializers.CharField(),
        "kind": serializers.CharField(),
        "status": serializers.CharField(help_text="ok, not enough data, missing in current, new in current"),
        "method": serializers.CharField(allow_null=True),
        "statistic": serializers.FloatField(allow_null=True),
        "p_value": serializers.FloatField(allow_null=True),
        "threshold": serializers.FloatField(allow_null=True),
        "drifted": serializers.BooleanField(),
        "reference_rows": serializers.IntegerField(),
        "current_rows": serializers.IntegerField(),
        "reference_null_share": serializers.FloatField(allow_null=True),
        "current_null_share": serializers.FloatField(allow_null=True),
        "statistics": serializers.DictField(help_text="Every method's {statistic, p_value?} for this column."),
    },
)
COMPARE_RESPONSE = inline_serializer(
    "DriftComparison",
    {
        "reference_version": serializers.IntegerField(),
        "current_version": serializers.IntegerField(),
        "compared": serializers.IntegerField(),
        "drifted_count": serializers.IntegerField(),
        "share": serializers.FloatField(allow_null=True),
        "threshold": serializers.FloatField(),
        "drifted": serializers.BooleanField(),
        "features": FEATURE_ROW,
    },
)


class DriftCompare(APIView):
    """Drift between any two dataset versions (same columns): per-feature rows and every method's statistic."""

    permission_classes = [HasModelPermission]
    required_permission = "experiments.view_datasetversion"

    @extend_schema(request=CompareRequest, responses={200: COMPARE_RESPONSE})
    def post(self, request):
        body = CompareRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        versions = {}
        for field in ("reference_version", "current_version"):
            versions[field] = DatasetVersion.objects.select_related("dataset").filter(pk=data[field]).first()
            if versions[field] is None:
                raise ValidationError({field: f"No dataset version with id {data[field]}."})
        report = services.compare_versions(
            versions["reference_version"],
            versions["current_version"],
            methods=data.get("methods"),
            thresholds=data.get("thresholds"),
            share=data["share"],
        )
        return Response(
            {"reference_version": data["reference_version"], "current_version": data["current_version"]}
            | report.as_dict()
        )
