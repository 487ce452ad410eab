"""Sending webhook messages (the sending side of the outbox; `webhooks.events` writes the rows): after commit, by a
Celery task, with retries and backoff, never two workers on one message at once. The same pattern as
`mca.delivery`: a claim under a row lock moves a message to "sending" with a lease; a row found "sending" after its
lease was left by a crashed worker and is sent again (the receiver deduplicates on `webhook-id`, which never
changes for a message).

Signed per the Standard Webhooks specification (`standardwebhooks`): headers `webhook-id`, `webhook-timestamp`
(the time of this attempt) and `webhook-signature` ("v1," + base64 HMAC-SHA256 of "id.timestamp.body").

The receiver's answer decides: 2xx delivered; 410 Gone disables the subscription (its waiting messages fail);
429 waits for its Retry-After (or the backoff, whichever is longer); anything else (another status, a timeout, a
refused connection) retries with exponential backoff until WEBHOOKS_MAX_ATTEMPTS, then the message fails. Every
attempt is logged (`Attempt`: status, the start of the answer, the error)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from webhooks.models import Attempt, Message, MessageState

logger = logging.getLogger(__name__)

USER_AGENT = "mca-acceptance-webhooks/1"
EXCERPT_CHARS = 500
MAX_BACKOFF_SECONDS = 6 * 3600
DONE = (MessageState.DELIVERED, MessageState.FAILED)

_send_message: Callable[[int], object] | None = None


def send_messages_with(send: Callable[[int], object]) -> None:
    """How a message is handed to the sender (the Celery task's `delay`; set once when the app is ready)."""
    global _send_message
    _send_message = send


def send_later(message_id: int) -> None:
    if _send_message is None:
        raise RuntimeError("webhooks: no sender registered (WebhooksConfig.ready registers the task)")
    _send_message(message_id)


def send_after_commit(message_id: int) -> None:
    transaction.on_commit(lambda: send_later(message_id))


def sending_lease() -> timedelta:
    # One attempt is one POST bounded by its timeout; twice that and a margin, then the claim is presumed lost.
    return timedelta(seconds=2 * settings.WEBHOOKS_TIMEOUT_SECONDS + 30)


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter: WEBHOOKS_BACKOFF_SECONDS, twice that, ... capped at 6 h."""
    seconds = min(MAX_BACKOFF_SECONDS, settings.WEBHOOKS_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """Retry-After as seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - now)


def sign(secret: str, msg_id: str, moment: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt."""
    moment = moment.astimezone(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body),
    }


def _claim(message_id: int) -> Message | None:
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("subscription")
            .filter(pk=message_id)
            .first()
        )
        if message is None or message.state in DONE:
            return None
        now = timezone.now()
        if message.state == MessageState.SENDING and message.updated_at > now - sending_lease():
            return None  # another worker is sending it right now
        if message.state == MessageState.FAILING and message.next_attempt_at and message.next_attempt_at > now:
            return None  # not due yet
        if not message.subscription.is_active:
            message.state = MessageState.FAILED
            message.next_attempt_at = None
            message.last_error = "Not sent: the subscription is disabled."
            message.save()
            return None
        message.state = MessageState.SENDING
        message.attempts += 1
        message.save(update_fields=["state", "attempts", "updated_at"])
        return message


def deliver(message_id: int) -> str | None:
    """Send one message if it is due; returns its state afterwards (None when nothing was done)."""
    message = _claim(message_id)
    if message is None:
        return None
    subscription = message.subscription
    body = message.body()
    now = timezone.now()
    headers = {
        **sign(subscription.secret, message.msg_id, now, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    started = time.monotonic()
    try:
        # No redirects: the receiver is the URL the subscriber registered, not where it points to.
        response = requests.post(
            subscription.url,
            data=body.encode(),
            headers=headers,
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        _settle(message, started, status=None, excerpt="", error=f"{type(error).__name__}: {error}", wait=None)
        return message.state
    wait = retry_after(response.headers.get("Retry-After"), now) if response.status_code == 429 else None
    _settle(message, started, status=response.status_code, excerpt=response.text[:EXCERPT_CHARS], error="", wait=wait)
    return message.state


def _settle(
    message: Message, started: float, *, status: int | None, excerpt: str, error: str, wait: timedelta | None
) -> None:
    now = timezone.now()
    with transaction.atomic():
        Attempt.objects.create(
            message=message,
            attempted_at=now,
            status_code=status,
            response_excerpt=excerpt,
            error=error[:500],
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        message.last_status_code = status
        if status is not None and 200 <= status < 300:
            message.state, message.delivered_at, message.next_attempt_at, message.last_error = (
                MessageState.DELIVERED,
                now,
                None,
                "",
            )
        elif status == 410:
            _disable(message, now)
        elif message.attempts >= settings.WEBHOOKS_MAX_ATTEMPTS:
            message.state, message.next_attempt_at = MessageState.FAILED, None
            message.last_error = f"Gave up after {message.attempts} attempts: {error or f'HTTP {status}'}"[:500]
        else:
            delay = max(backoff(message.attempts), wait or timedelta(0))
            message.state, message.next_attempt_at = MessageState.FAILING, now + delay
            message.last_error = (error or f"HTTP {status}")[:500]
        message.save()
    logger.info("Webhook %s to subscription %s: %s", message.msg_id, message.subscription_id, message.state)


def _disable(message: Message, now: datetime) -> None:
    """410 Gone: the receiver says it will never want these again. The subscription is disabled and its waiting
    messages fail (an operator may enable it again and replay them)."""
    subscription = message.subscription
    reason = f"The receiver answered 410 Gone on {now:%Y-%m-%d %H:%M} UTC."
    subscription.is_active = False
    subscription.disabled_reason = reason
    subscription.save(update_fields=["is_active", "disabled_reason"])
    message.state, message.next_attempt_at, message.last_error = MessageState.FAILED, None, reason
    Message.objects.filter(subscription=subscription).exclude(pk=message.pk).exclude(state__in=DONE).update(
        state=MessageState.FAILED, next_attempt_at=None, last_error="Not sent: the subscription was disabled (410)."
    )


def due_ids(now: datetime, limit: int = 500) -> list[int]:
    due = Message.objects.filter(
        state__in=[MessageState.PENDING, MessageState.FAILING], next_attempt_at__lte=now
    ).order_by("pk")
    stuck = Message.objects.filter(state=MessageState.SENDING, updated_at__lte=now - sending_lease())
    return [*due.values_list("pk", flat=True)[:limit], *stuck.values_list("pk", flat=True)[:limit]]


def sweep_due_messages() -> int:
    """Beat: enqueue every message that is due (its backoff passed, or its broker message was lost) or stuck."""
    ids = due_ids(timezone.now())
    for message_id in ids:
        send_later(message_id)
    return len(ids)


class ReplayRefused(Exception):
    """A message cannot be replayed (its subscription is disabled)."""


def replay(messages: Iterable[Message]) -> list[Message]:
    """Send these messages again, whatever their state: same `webhook-id` and body, a new timestamp and signature.
    They are due at once and sent after commit; the delivery log keeps the earlier attempts. Raises
    ReplayRefused for a message whose subscription is disabled (nothing is replayed then)."""
    messages = list(messages)
    for message in messages:
        if not message.subscription.is_active:
            raise ReplayRefused(f"The subscription of {message.msg_id} is disabled: enable it first.")
    now = timezone.now()
    with transaction.atomic():
        for message in messages:
            message.state, message.attempts, message.next_attempt_at, message.last_error = (
                MessageState.PENDING,
                0,
                now,
                "",
            )
            message.save(update_fields=["state", "attempts", "next_attempt_at", "last_error", "updated_at"])
            send_after_commit(message.pk)
    return messages
