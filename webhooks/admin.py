"""Subscriptions and their delivery log in the admin, scoped like the API (`webhooks.services`): the secret is
shown once, on the page after adding; messages can be replayed (same webhook-id)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from webhooks.delivery import ReplayRefused
from webhooks.models import Attempt, Message, Subscription
from webhooks.services import (
    clean_event_types,
    clean_url,
    is_csp,
    messages_visible_to,
    new_secret,
    own_reseller_id,
    subscriptions_visible_to,
)


class SubscriptionForm(forms.ModelForm):
    """The service's rules (https unless WEBHOOKS_ALLOW_HTTP, known event types), errors beside their fields."""

    url = forms.URLField(max_length=500, assume_scheme="https", help_text="Where events are POSTed (https).")

    class Meta:
        model = Subscription
        fields = ("url", "event_types", "reseller", "description", "is_active")

    def clean_url(self) -> str:
        return clean_url(self.cleaned_data["url"])

    def clean_event_types(self) -> list[str]:
        return clean_event_types(self.cleaned_data.get("event_types"))


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ("url", "reseller", "event_types", "is_active", "disabled_reason", "created_at")
    list_filter = ("is_active",)
    fields = ("url", "event_types", "reseller", "description", "is_active", "disabled_reason")
    readonly_fields = ("disabled_reason",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        return subscriptions_visible_to(request.user).select_related("reseller")

    def get_readonly_fields(self, request: HttpRequest, obj: Subscription | None = None) -> tuple[str, ...]:
        if is_csp(request.user):
            return self.readonly_fields
        return (*self.readonly_fields, "reseller")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_csp(request.user) or own_reseller_id(request.user) is not None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def save_model(self, request: HttpRequest, obj: Subscription, form: Any, change: bool) -> None:
        if not is_csp(request.user):
            obj.reseller_id = own_reseller_id(request.user)
        if obj.is_active:
            obj.disabled_reason = ""
        if not change:
            obj.secret = new_secret()
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            # Shown once: the receiver needs it to verify signatures; it is not displayed again.
            self.message_user(request, f"Signing secret (copy it now, it is not shown again): {obj.secret}")


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("attempted_at", "status_code", "response_excerpt", "error", "duration_ms")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("msg_id", "event_type", "subscription", "state", "attempts", "last_status_code", "created_at")
    list_filter = ("state", "event_type")
    search_fields = ("msg_id",)
    list_select_related = ("subscription", "subscription__reseller")
    readonly_fields = (
        "msg_id",
        "subscription",
        "event_type",
        "payload",
        "account",
        "state",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "created_at",
    )
    inlines = [AttemptInline]
    actions = ["replay_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return messages_visible_to(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_csp(request.user) or own_reseller_id(request.user) is not None

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Replay (send again with the same webhook-id)")
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        from webhooks.services import replay_messages

        try:
            replayed = replay_messages(actor=request.user, messages=queryset.select_related("subscription"))
        except (ReplayRefused, PermissionDenied) as refused:
            self.message_user(request, str(refused), level=messages.ERROR)
            return
        self.message_user(request, f"{len(replayed)} message(s) will be sent again.")
