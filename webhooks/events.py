"""Events for subscriptions: the receivers of the domain's signals (`mca.signals`, `bss.signals`). Each writes one
outbox row (`Message`) per subscription that asked for the event and may see the customer, inside the transaction
of the change; the rows are sent after commit (`webhooks.delivery`). Nothing is sent for a rolled-back change.

Which subscriptions exist is read from the cache (`routes`), so a change pays no query when nobody subscribes and
one INSERT when somebody does; saving or deleting a subscription forgets the cached routes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from bss.models import Account, Order
from bss.signals import order_held_for_acceptance, order_released
from mca import signals as mca_signals
from webhooks.models import EventType, Message, Subscription

ROUTES_KEY = "webhooks:routes:v1"
ROUTES_TTL_SECONDS = 300  # a backstop only: every save or delete of a subscription forgets the routes at once


@dataclass(frozen=True)
class Route:
    subscription_id: int
    reseller_id: int | None
    event_types: frozenset[str]


# This process's copy of the routes and until when (time.monotonic()) it is used without asking the cache: every
# acceptance asks twice whether anybody subscribed, and the cache's answer was a Redis round trip each (issue 20). A
# subscription saved or deleted reaches the other processes at most this much later, this one at once.
ROUTES_MEMO_SECONDS = 1.0
_memo: tuple[float, list[Route]] | None = None


def routes() -> list[Route]:
    """The active subscriptions, from the cache (one query when it has forgotten them)."""
    global _memo
    if _memo is not None and time.monotonic() < _memo[0]:
        return _memo[1]
    cached = cache.get(ROUTES_KEY)
    if cached is None:
        cached = [
            (pk, reseller_id, list(types))
            for pk, reseller_id, types in Subscription.objects.filter(is_active=True).values_list(
                "pk", "reseller_id", "event_types"
            )
        ]
        cache.set(ROUTES_KEY, cached, ROUTES_TTL_SECONDS)
    found = [Route(pk, reseller_id, frozenset(types)) for pk, reseller_id, types in cached]
    _memo = (time.monotonic() + ROUTES_MEMO_SECONDS, found)
    return found


def forget_cached_routes() -> None:
    global _memo
    _memo = None
    cache.delete(ROUTES_KEY)


def forget_routes(**kwargs: Any) -> None:
    forget_cached_routes()
    # A subscription saved in a transaction that is still open: forget again once it commits.
    transaction.on_commit(forget_cached_routes)


def subscribed(event_type: str) -> bool:
    return any(event_type in route.event_types for route in routes())


def emit(event_type: str, *, account_id: int | None, reseller_id: int | None, data: dict[str, Any]) -> list[Message]:
    """Write the event's message for every subscription that wants it and may see the account: the CSP's
    subscriptions (no reseller) see every customer, a reseller's only its own customers."""
    wanted = [
        route
        for route in routes()
        if event_type in route.event_types and (route.reseller_id is None or route.reseller_id == reseller_id)
    ]
    if not wanted:
        return []
    payload = {"type": event_type, "timestamp": _now(), "data": data}
    messages = Message.objects.bulk_create(
        Message(
            subscription_id=route.subscription_id,
            msg_id=f"msg_{uuid.uuid4().hex}",
            event_type=event_type,
            payload=payload,
            account_id=account_id,
            next_attempt_at=timezone.now(),
        )
        for route in wanted
    )
    from webhooks.delivery import send_after_commit

    # bulk_create sets the ids on PostgreSQL and SQLite (RETURNING)
    for message in messages:
        send_after_commit(message.pk)
    return messages


def _now() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _party(pk: int | None, name: str) -> dict[str, Any] | None:
    return {"id": pk, "name": name} if pk is not None else None


def _account_data(account: Account) -> dict[str, Any]:
    reseller = account.reseller
    return {
        "account": _party(account.pk, account.name),
        "reseller": _party(reseller.pk, reseller.name) if reseller is not None else None,
    }


# --- receivers: the data of each event (ids, account, reseller, state; no secrets, no signatory's personal data) ---


def on_state_changed(sender: Any, *, account: Account, previous: str, state: str, source: str, **kwargs: Any) -> None:
    emit(
        EventType.STATE_CHANGED,
        account_id=account.pk,
        reseller_id=account.reseller_id,
        data={**_account_data(account), "previous": previous, "state": state, "source": source},
    )


def on_acceptance_recorded(sender: Any, *, record: Any, **kwargs: Any) -> None:
    if not subscribed(EventType.ACCEPTANCE_RECORDED):
        return
    # The record carries its account and reseller as snapshots: no query. On PostgreSQL it has its id but not yet
    # its sequence (mca.log announces it before locking the chain head).
    emit(
        EventType.ACCEPTANCE_RECORDED,
        account_id=record.account_id,
        reseller_id=record.reseller_id,
        data={
            "account": _party(record.account_id, record.account_name),
            "reseller": _party(record.reseller_id, record.reseller_name),
            "record": {
                "id": record.pk,
                "event": record.event,
                "channel": record.channel,
                "operation": record.operation,
                "order_number": record.order_number,
                "evidence_class": record.evidence_class,
                "created_at": _iso(record.created_at),
            },
        },
    )


def on_delivery_failed(sender: Any, *, delivery: Any, **kwargs: Any) -> None:
    if not subscribed(EventType.DELIVERY_FAILED):
        return
    record = delivery.record
    emit(
        EventType.DELIVERY_FAILED,
        account_id=record.account_id,
        reseller_id=record.reseller_id,
        data={
            "account": _party(record.account_id, record.account_name),
            "reseller": _party(record.reseller_id, record.reseller_name),
            "record": {"id": record.pk, "sequence": record.sequence},
            "delivery": {
                "id": delivery.pk,
                "state": delivery.state,
                "attempts": delivery.attempts,
                "last_status_code": delivery.last_status_code,
            },
        },
    )


def _order_event(event_type: str, order: Order, **extra: Any) -> None:
    if not subscribed(event_type):
        return
    account = Account.objects.select_related("reseller").get(pk=order.account_id)
    emit(
        event_type,
        account_id=account.pk,
        reseller_id=account.reseller_id,
        data={
            **_account_data(account),
            "order": {"id": order.pk, "number": order.number, "status": order.status, "channel": order.channel},
            **extra,
        },
    )


def on_order_held(sender: Any, *, order: Order, reason: str, **kwargs: Any) -> None:
    _order_event(EventType.ORDER_HELD, order, reason=reason)


def on_order_released(sender: Any, *, order: Order, **kwargs: Any) -> None:
    _order_event(EventType.ORDER_RELEASED, order)


def connect_receivers() -> None:
    mca_signals.connect_when(
        mca_signals.state_changed,
        on_state_changed,
        wanted=lambda: subscribed(EventType.STATE_CHANGED),
        dispatch_uid="webhooks.state_changed",
    )
    mca_signals.acceptance_recorded.connect(on_acceptance_recorded, dispatch_uid="webhooks.acceptance_recorded")
    mca_signals.delivery_failed.connect(on_delivery_failed, dispatch_uid="webhooks.delivery_failed")
    order_held_for_acceptance.connect(on_order_held, dispatch_uid="webhooks.order_held")
    order_released.connect(on_order_released, dispatch_uid="webhooks.order_released")
    post_save.connect(forget_routes, sender=Subscription, dispatch_uid="webhooks.forget_routes_saved")
    post_delete.connect(forget_routes, sender=Subscription, dispatch_uid="webhooks.forget_routes_deleted")
