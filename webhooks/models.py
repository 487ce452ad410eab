"""Webhook subscriptions, their messages (the outbox: one row per event and subscription, written in the
transaction of the change) and each message's delivery attempts (the delivery log)."""

from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from bss.models import Account, Reseller


class EventType(models.TextChoices):
    STATE_CHANGED = "mca.state_changed", "An account's MCA state changed"
    ACCEPTANCE_RECORDED = "mca.acceptance_recorded", "An acceptance record was appended to the log"
    DELIVERY_FAILED = "mca.delivery_failed", "Telling Partner Center about a record was given up"
    ORDER_HELD = "order.held_for_acceptance", "An order was held for MCA acceptance"
    ORDER_RELEASED = "order.released", "An order held for acceptance was released"


class Subscription(models.Model):
    """A receiver of events. `reseller` empty: the CSP's subscription, receiving every customer's events; set: a
    reseller's, receiving its own customers' events only."""

    url = models.URLField(max_length=500, help_text="Where events are POSTed (https).")
    # The Standard Webhooks signing secret ("whsec_" + base64); shown once, when the subscription is created.
    secret = models.CharField(max_length=100, editable=False)
    event_types = models.JSONField(default=list, help_text="The event types sent to this URL.")
    reseller = models.ForeignKey(
        Reseller,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        help_text="Empty: every customer's events (CSP). Set: only this reseller's customers.",
    )
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.url} ({self.reseller or 'CSP'})"


class MessageState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILING = "failing", "Failing (will retry)"
    FAILED = "failed", "Failed"


class Message(models.Model):
    """One event for one subscription. Every attempt (and a replay) sends the same `msg_id` and body: the
    receiver's idempotency key (Standard Webhooks `webhook-id`)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="messages")
    msg_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField()
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    state = models.CharField(max_length=20, choices=MessageState.choices, default=MessageState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="webhooks_message_due")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id}"

    def body(self) -> str:
        """The exact text sent and signed: the same on every attempt (the stored JSON may reorder keys)."""
        return json.dumps(self.payload, sort_keys=True, separators=(",", ":"))


class Attempt(models.Model):
    """One try at delivering a message: when, what the receiver answered (status and the start of its body)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.message.msg_id} at {self.attempted_at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
