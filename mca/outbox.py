"""The enqueue side of the delivery outbox (R10): writing the row that says "tell Partner Center about this record",
in the caller's transaction, and handing it to the sender after commit. The sending side is `mca.delivery`.

Attestation flows write records and enqueue them here; they never import the sender, and neither module imports
the Celery tasks: the app registers the task that sends a row (`McaConfig.ready` calls `send_rows_with`), so the
modules form layers - tasks > delivery (sender) > attestation flows > outbox - instead of a circle.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from bss.models import Account
from mca.choices import DeliveryState
from mca.models import AcceptanceDelivery, AcceptanceRecord

logger = logging.getLogger(__name__)

_send_row: Callable[[int], object] | None = None
# How the sender is woken `seconds` from now to hand out every due row (the Celery task's apply_async), and whether
# tasks run in this process (no broker: then each row is sent right after its commit, as before).
_drain_in: Callable[[float], object] | None = None


def _in_process() -> bool:
    return True  # until the app registers how to tell (McaConfig.ready)


def send_rows_with(
    send: Callable[[int], object],
    *,
    drain_in: Callable[[float], object] | None = None,
    in_process: Callable[[], bool] | None = None,
) -> None:
    """How a row is handed to the sender (the Celery task's `delay`), and how the sender is woken to hand out every
    due row at once (set once when the app is ready)."""
    global _send_row, _drain_in, _in_process
    _send_row = send
    _drain_in = drain_in
    if in_process is not None:
        _in_process = in_process


def send_later(delivery_id: int) -> None:
    """Hand one row to the sender now (the caller's transaction is committed, or there is none)."""
    if _send_row is None:
        raise RuntimeError("mca.outbox: no sender registered (McaConfig.ready registers the delivery task)")
    _send_row(delivery_id)


def send_after_commit(delivery_id: int) -> None:
    transaction.on_commit(lambda: hand_over(delivery_id))


# --- the hand-over after commit: one wake-up of the sender per window, not one message per confirmation ---

_DRAIN_SCHEDULED = "mca:outbox-drain-scheduled"  # cache key: a drain is on its way; its value, when the key expires
# The drain starts this long after its key expires: the clocks of the hosts that compare against the key's time (the
# one that set it, the others that read it, the worker's) may disagree a little, by less than half of this.
_CLOCK_MARGIN_SECONDS = 0.25
# Until when (time.time()) a row this process commits is read by the scheduled drain without asking the cache: until
# the key expires, since the drain starts a clock margin after that.
_covered_until = 0.0


def hand_over(delivery_id: int) -> None:
    """After the row's transaction committed: make sure the sender sends it soon.

    A Celery message per confirmation was a fifth of a confirmation's CPU (issue 20). Instead, the first row
    committed in a window sets a cache key for MCA_DELIVERY_HANDOVER_SECONDS and schedules one drain just after the
    key expires; the rows committed while the key is there find it (or this process remembers it) and add nothing:
    the drain reads them, since it starts after the key is gone and clears it before it reads the due rows. A row
    committed after that wakes the next drain. A lost drain only delays: beat's sweep sends every due row anyway.
    The key expires by itself, so a late drain or a cache that is not shared costs more drains, never a row. Without
    a broker (tasks run in this process), or with the setting at 0, each row is handed over on its own at once."""
    global _covered_until
    window = settings.MCA_DELIVERY_HANDOVER_SECONDS
    if window <= 0 or _drain_in is None or _in_process():
        send_later(delivery_id)
        return
    now = time.time()
    if now < _covered_until:
        return
    expires_at = now + window
    if not cache.add(_DRAIN_SCHEDULED, expires_at, timeout=window):
        # The key was there after this row committed, so the drain it stands for reads the row.
        scheduled = cache.get(_DRAIN_SCHEDULED)
        if isinstance(scheduled, float):  # None: it has just expired or been cleared
            _covered_until = scheduled
        return
    _covered_until = expires_at
    try:
        _drain_in(window + _CLOCK_MARGIN_SECONDS)
    except Exception:  # a broker outage must not fail a committed confirmation; beat's sweep is the net
        _covered_until = 0.0
        cache.delete(_DRAIN_SCHEDULED)
        logger.exception("Could not wake the delivery sender; beat's sweep will send delivery %s", delivery_id)


def drain_started() -> None:
    """The scheduled drain starts: rows committed from here on schedule the next one."""
    global _covered_until
    _covered_until = 0.0
    cache.delete(_DRAIN_SCHEDULED)


def enqueue_delivery(record: AcceptanceRecord, account: Account) -> AcceptanceDelivery:
    """The outbox row for telling Partner Center about `record`, written in the caller's transaction and sent
    after commit; it waits when the account has no Partner Center customer yet (provisioning releases it)."""
    delivery = AcceptanceDelivery(
        record=record,
        account=account,
        request_id=uuid.uuid4(),
        state=DeliveryState.PENDING if account.is_synced else DeliveryState.WAITING_FOR_CUSTOMER,
        next_attempt_at=timezone.now() if account.is_synced else None,
    )
    _insert(delivery)
    if account.is_synced:
        send_after_commit(delivery.pk)
    return delivery


# On PostgreSQL the row goes in through one fixed statement built once from the model (as `mca.log` writes the
# record): the ORM's building of the INSERT was about a tenth of a confirmation's client CPU (issue 20). The model
# sends no save signals for this row that anyone receives; the values are prepared by the fields, as save() does.
_DELIVERY_FIELDS = [field for field in AcceptanceDelivery._meta.concrete_fields if not field.primary_key]
_INSERT_DELIVERY_SQL = (
    f"INSERT INTO {AcceptanceDelivery._meta.db_table} "  # noqa: S608 - the model's table and column names
    f"({', '.join(field.column for field in _DELIVERY_FIELDS)}) VALUES ({', '.join(['%s'] * len(_DELIVERY_FIELDS))}) "
    f"RETURNING {AcceptanceDelivery._meta.pk.column}"
)


def _insert(delivery: AcceptanceDelivery) -> None:
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        delivery.save(force_insert=True)
        return
    values = [field.get_db_prep_save(field.pre_save(delivery, True), connection) for field in _DELIVERY_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_DELIVERY_SQL, values)
        delivery.pk = cursor.fetchone()[0]
    delivery._state.adding = False
    delivery._state.db = connection.alias


def release_waiting_deliveries(account: Account) -> int:
    """The account has a Partner Center customer now: its waiting deliveries are due (sent after commit)."""
    waiting = list(
        AcceptanceDelivery.objects.filter(account=account, state=DeliveryState.WAITING_FOR_CUSTOMER).values_list(
            "pk", flat=True
        )
    )
    AcceptanceDelivery.objects.filter(pk__in=waiting).update(
        state=DeliveryState.PENDING, next_attempt_at=timezone.now()
    )
    for delivery_id in waiting:
        send_after_commit(delivery_id)
    return len(waiting)
