"""/api/v1/webhooks/: subscriptions (the secret shown once, on creation) and their delivery log with a replay.
Thin views over `webhooks.services`; every object is found through the caller's scope, so another reseller's
subscription or message is a 404 and nothing is written."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.errors import SubscriptionDisabled
from api.pagination import cursor
from api.schema import problems
from bss.models import Reseller
from webhooks import services
from webhooks.delivery import ReplayRefused
from webhooks.models import Attempt, EventType, Message, MessageState, Subscription


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False, help_text="Event types to send."
    )
    reseller = serializers.PrimaryKeyRelatedField(
        queryset=Reseller.objects.all(),
        required=False,
        allow_null=True,
        help_text="CSP staff: empty for every customer's events, or one reseller's. Reseller users: their own "
        "(set for them).",
    )

    class Meta:
        model = Subscription
        fields = ["id", "url", "event_types", "reseller", "description", "is_active", "disabled_reason", "created_at"]
        read_only_fields = ["id", "disabled_reason", "created_at"]


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret (Standard Webhooks, whsec_...). Shown only in this answer."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = ["attempted_at", "status_code", "response_excerpt", "error", "duration_ms"]


class WebhookMessageSerializer(serializers.ModelSerializer):
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "msg_id",
            "subscription",
            "event_type",
            "payload",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]
        read_only_fields = fields


@extend_schema(tags=["webhooks"])
class SubscriptionListCreate(generics.ListCreateAPIView):
    """Your webhook subscriptions (CSP staff: all; a reseller's users: their reseller's). Creating one answers
    its signing secret, once."""

    serializer_class = WebhookSubscriptionSerializer
    pagination_class = cursor("id")

    def get_queryset(self) -> QuerySet[Subscription]:
        if not services.may_manage(self.request.user):
            raise exceptions.PermissionDenied("You may not manage webhook subscriptions.")
        return services.subscriptions_visible_to(self.request.user)

    @extend_schema(responses={200: WebhookSubscriptionSerializer(many=True), **problems(400, 403)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WebhookSubscriptionSerializer,
        responses={201: WebhookSubscriptionCreatedSerializer, **problems(400, 403)},
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = WebhookSubscriptionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription = services.create_subscription(
            actor=request.user,
            url=data["url"],
            event_types=data["event_types"],
            description=data.get("description", ""),
            reseller=data.get("reseller"),
        )
        return Response(WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["webhooks"])
class SubscriptionDetail(generics.RetrieveUpdateDestroyAPIView):
    """One subscription: change its URL, event types, description or `is_active` (enabling it again clears why it
    was disabled), or delete it with its delivery log."""

    serializer_class = WebhookSubscriptionSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[Subscription]:
        return services.subscriptions_visible_to(self.request.user)

    @extend_schema(responses={200: WebhookSubscriptionSerializer, **problems(404)})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=WebhookSubscriptionSerializer, responses={200: WebhookSubscriptionSerializer, **problems(400, 404)}
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscription = self.get_object()
        serializer = WebhookSubscriptionSerializer(subscription, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {
            name: value
            for name, value in serializer.validated_data.items()
            if name in ("url", "event_types", "description", "is_active")
        }
        if "reseller" in serializer.validated_data:
            raise exceptions.ValidationError({"reseller": ["The reseller of a subscription cannot be changed."]})
        services.update_subscription(actor=request.user, subscription=subscription, **changes)
        return Response(WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(responses={204: None, **problems(404)})
    def delete(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().delete(request, *args, **kwargs)


@extend_schema(
    tags=["webhooks"],
    parameters=[
        OpenApiParameter("subscription", OpenApiTypes.INT, description="Only this subscription's messages."),
        OpenApiParameter("state", OpenApiTypes.STR, enum=MessageState.values),
    ],
    responses={200: WebhookMessageSerializer(many=True), **problems(400)},
)
class MessageList(generics.ListAPIView):
    """The delivery log: your subscriptions' messages, newest first, each with its attempts."""

    serializer_class = WebhookMessageSerializer
    pagination_class = cursor("-id")

    def get_queryset(self) -> QuerySet[Message]:
        messages = services.messages_visible_to(self.request.user).prefetch_related("attempt_log")
        params = self.request.query_params
        if "subscription" in params:
            if not params["subscription"].isdigit():
                raise exceptions.ValidationError({"subscription": ["A subscription id (a number)."]})
            messages = messages.filter(subscription_id=int(params["subscription"]))
        if "state" in params:
            if params["state"] not in MessageState.values:
                raise exceptions.ValidationError({"state": [f"One of {', '.join(MessageState.values)}."]})
            messages = messages.filter(state=params["state"])
        return messages


@extend_schema(tags=["webhooks"], responses={200: WebhookMessageSerializer, **problems(404)})
class MessageDetail(generics.RetrieveAPIView):
    serializer_class = WebhookMessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        return services.messages_visible_to(self.request.user).prefetch_related("attempt_log")


@extend_schema(tags=["webhooks"], request=None, responses={202: WebhookMessageSerializer, **problems(404, 409)})
class MessageReplay(generics.GenericAPIView):
    """Send the message again: the same `webhook-id` and body, a new timestamp and signature."""

    serializer_class = WebhookMessageSerializer

    def get_queryset(self) -> QuerySet[Message]:
        return services.messages_visible_to(self.request.user).select_related("subscription")

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        message = self.get_object()
        try:
            services.replay_messages(actor=request.user, messages=[message])
        except ReplayRefused as refused:
            raise SubscriptionDisabled(str(refused)) from refused
        message.refresh_from_db()
        return Response(WebhookMessageSerializer(message).data, status=status.HTTP_202_ACCEPTED)
