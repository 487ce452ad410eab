"""The enqueue side of the delivery outbox (R10): writing the row that says "tell Partner Center about this record",
in the caller's transaction, and handing it to the sender after commit. The sending side is `mca.delivery`.

Attestation flows write records and enqueue them here; they never import the sender, and neither module imports
the Celery tasks: the app registers the task that sends a row (`McaConfig.ready` calls `send_rows_with`), so the
modules form layers - tasks > delivery (sender) > attestation flows > outbox - instead of a circle.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from bss.models import Account
from mca.choices import DeliveryState
from mca.models import AcceptanceDelivery, AcceptanceRecord

_send_row: Callable[[int], object] | None = None


def send_rows_with(send: Callable[[int], object]) -> None:
    """How a row is handed to the sender (the Celery task's `delay`; set once when the app is ready)."""
    global _send_row
    _send_row = send


def send_later(delivery_id: int) -> None:
    """Hand one row to the sender now (the caller's transaction is committed, or there is none)."""
    if _send_row is None:
        raise RuntimeError("mca.outbox: no sender registered (McaConfig.ready registers the delivery task)")
    _send_row(delivery_id)


def send_after_commit(delivery_id: int) -> None:
    transaction.on_commit(lambda: send_later(delivery_id))


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
