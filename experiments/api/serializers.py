from rest_framework import serializers

from experiments.models import Dataset, DatasetVersion


class DatasetVersionSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetVersion
        fields = ["id", "number", "sha256", "row_count", "column_count", "parent", "created_at", "url"]
        read_only_fields = fields

    url = serializers.SerializerMethodField()

    def get_url(self, version) -> str:
        return version.get_absolute_url()


class DatasetSerializer(serializers.ModelSerializer):
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)
    version_count = serializers.IntegerField(read_only=True)
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = ["id", "name", "description", "owner", "created_at", "version_count", "latest_version"]
        read_only_fields = ["id", "owner", "created_at", "version_count", "latest_version"]

    def get_latest_version(self, dataset) -> int | None:
        return getattr(dataset, "latest_number", None)


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV (UTF-8, with a header row) or Parquet.")
    target = serializers.CharField(required=False, allow_blank=True, default="", help_text="Optional target column.")


class SchemaColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=["numeric", "categorical", "boolean", "datetime", "text"])
    dtype = serializers.CharField()


class DatasetVersionSerializer(serializers.ModelSerializer):
    dataset = serializers.SlugRelatedField(slug_field="name", read_only=True)
    dataset_id = serializers.IntegerField(read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    schema = SchemaColumnSerializer(many=True, read_only=True)
    lineage = serializers.SerializerMethodField()
    profile_status = serializers.SerializerMethodField()
    quality_summary = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset_id",
            "dataset",
            "number",
            "format",
            "original_filename",
            "sha256",
            "size_bytes",
            "row_count",
            "column_count",
            "schema",
            "target",
            "parent",
            "recipe",
            "lineage",
            "created_by",
            "created_at",
            "profile_status",
            "profile_job",
            "profiled_at",
            "quality_summary",
        ]
        read_only_fields = fields

    def get_lineage(self, version) -> list[dict]:
        """This version and its ancestors, oldest last, each with the recipe that derived it."""
        chain, node, seen = [], version, set()
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            chain.append({"id": node.pk, "number": node.number, "sha256": node.sha256, "recipe": node.recipe})
            node = node.parent
        return chain

    def get_profile_status(self, version) -> str:
        if version.profiled_at is not None:
            return "ready"
        job = version.profile_job
        return job.status if job else "none"

    def get_quality_summary(self, version) -> dict:
        return version.quality_counts()


class DatasetVersionListSerializer(DatasetVersionSerializer):
    """The same fields without the lineage walk, which costs a query per ancestor."""

    class Meta(DatasetVersionSerializer.Meta):
        fields = [f for f in DatasetVersionSerializer.Meta.fields if f != "lineage"]
        read_only_fields = fields


class RecipeSerializer(serializers.Serializer):
    steps = serializers.JSONField(help_text='Cleaning steps, e.g. [{"op": "drop_duplicates"}]. See the README.')


class PreviewSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField())
    steps = serializers.ListField(child=serializers.CharField())
    rows_read = serializers.IntegerField()
    rows_after = serializers.IntegerField()
