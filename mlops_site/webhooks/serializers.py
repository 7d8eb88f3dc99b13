"""What the webhook API answers. The secret is never serialised, except once in the create response
when the platform generated it; the inputs are `schemas.WebhookInput` and `schemas.WebhookChange`."""

from rest_framework import serializers

from mlops_site.models import Webhook, WebhookDelivery


class WebhookSerializer(serializers.ModelSerializer):
    """Read from `services.with_last_delivery()`."""

    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Webhook.EVENTS), help_text="Events sent to this URL; empty means all."
    )
    last_delivery_status = serializers.CharField(
        source="last_status",
        read_only=True,
        allow_null=True,
        help_text="Status of the newest delivery, null before the first.",
    )

    class Meta:
        model = Webhook
        fields = ["id", "url", "description", "events", "active", "created_by", "created_at", "last_delivery_status"]
        read_only_fields = fields


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="The generated secret, shown in this response only; null when you chose the secret.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "event",
            "event_id",
            "status",
            "attempts",
            "next_attempt_at",
            "response_status",
            "response_body",
            "error",
            "duration_ms",
            "created_at",
            "delivered_at",
            "payload",
        ]
        read_only_fields = fields
