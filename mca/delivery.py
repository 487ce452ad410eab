"""Telling Partner Center (R10), the sending side of the outbox: delivery rows (written by `mca.outbox` in the
record's transaction) sent after commit, retried, never sent twice.

- `deliver(delivery_id)` sends one row; a Celery task wraps it (acks_late: it is idempotent).
- `sweep_due_deliveries()` re-enqueues rows whose next try has passed and rows stuck in "sending" (a lost
  broker message or a killed worker only delays a delivery).
- A row found in "sending" after its lease expired may have reached Microsoft before the crash: it first asks
  Partner Center whether the acceptance is there, and only sends if it is not.
- Every try of one row sends the same MS-RequestId (Microsoft's idempotency key). 600061 ("an identical partner
  confirmation exists") counts as delivered only when that existing confirmation still counts (R4a): a stale one
  from the same contact means Microsoft keeps refusing orders, so the delivery is refused and the acceptance is
  no longer taken as known.
- What is sent, whether a record already reached Partner Center, and what a duplicate answer means are the record's
  attestation flow's business (`mca.attestation`, found by the record's event); this module is the same for all.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from bss.models import Account
from mca.attestation import flow_for_record
from mca.attestation.base import SendOutcome
from mca.choices import DeliveryState
from mca.knowledge import forget_acceptance_from, link_account_to_tenant
from mca.messages import error_text
from mca.models import AcceptanceDelivery
from mca.outbox import drain_started, send_later
from mca.signals import delivery_failed
from partner_center.client import get_client
from partner_center.errors import PartnerCenterError, PartnerCenterThrottled, PartnerCenterUnavailable
from partner_center.types import CustomerAgreement

logger = logging.getLogger(__name__)


def sending_lease() -> timedelta:
    """How long a row may stay in "sending" before it is presumed abandoned by a crashed worker
    (MCA_DELIVERY_SENDING_LEASE_SECONDS, default 2 minutes).

    A live worker holds its claim for at most four Partner Center calls in a row, each bounded by
    PARTNER_CENTER_RETRY_BUDGET (20 s: its attempts' timeouts and retry waits never pass it): the crash-recovery
    look-up, the template look-up (only for a record without one), the confirmation, and the look-up after a
    600061. That is 80 s at the defaults, usually far less. A lease passed while the first worker is still
    sending only costs a repeated call: the second worker asks Partner Center first and resends with the same
    MS-RequestId, which Microsoft answers from its idempotency store."""
    return timedelta(seconds=settings.MCA_DELIVERY_SENDING_LEASE_SECONDS)


BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 6 * 3600


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with jitter: 30 s, 1 min, 2 min, ... capped at 6 h."""
    seconds = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def _claim(delivery_id: int) -> tuple[AcceptanceDelivery, bool] | None:
    """Lock the row and move it to "sending". Returns it and whether it is a crash recovery, or None."""
    with transaction.atomic():
        delivery = (
            AcceptanceDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("record", "account")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.state in (
            DeliveryState.SENT,
            DeliveryState.WAITING_FOR_CUSTOMER,
            DeliveryState.REFUSED,
        ):
            return None
        now = timezone.now()
        recovering = delivery.state == DeliveryState.SENDING
        if recovering and delivery.updated_at > now - sending_lease():
            return None  # another worker is sending it right now
        if delivery.state == DeliveryState.FAILING and delivery.next_attempt_at and delivery.next_attempt_at > now:
            return None  # not due yet
        if delivery.account.partner_center_tenant_id is None:
            delivery.state = DeliveryState.WAITING_FOR_CUSTOMER
            delivery.save(update_fields=["state", "updated_at"])
            return None
        delivery.state = DeliveryState.SENDING
        delivery.tenant_id = str(delivery.account.partner_center_tenant_id)
        delivery.attempts += 1
        delivery.save(update_fields=["state", "tenant_id", "attempts", "updated_at"])
        return delivery, recovering


def _mark_sent(delivery: AcceptanceDelivery, outcome: SendOutcome) -> None:
    with transaction.atomic():
        _save_sent(delivery, outcome)
        flow_for_record(delivery.record).after_sent(delivery.record, outcome)


def _save_sent(delivery: AcceptanceDelivery, outcome: SendOutcome) -> None:
    delivery.state = DeliveryState.SENT
    delivery.sent_at = timezone.now()
    delivery.next_attempt_at = None
    delivery.last_error = ""
    delivery.last_status_code = outcome.status_code
    delivery.already_confirmed = outcome.already_confirmed
    delivery.response = outcome.answer
    delivery.template_id = outcome.template_id or delivery.template_id
    delivery.save()


def _mark_failing(delivery: AcceptanceDelivery, error: PartnerCenterError) -> None:
    wait = backoff(delivery.attempts)
    if isinstance(error, PartnerCenterUnavailable) and error.held_back and error.retry_after is not None:
        # Not sent: Partner Center's shared health held it back (circuit open, or Retry-After pausing these calls).
        # Every delivery held back waits for the same moment, when calls may go again, and they drain in order.
        wait = timedelta(seconds=error.retry_after)
    elif isinstance(error, PartnerCenterThrottled) and error.retry_after:
        wait = max(wait, timedelta(seconds=error.retry_after))
    delivery.state = DeliveryState.FAILING
    delivery.next_attempt_at = timezone.now() + wait
    # In plain words with the next step (mca.messages), the technical detail kept in brackets.
    delivery.last_error = error_text(error, retry_at=delivery.next_attempt_at)
    delivery.last_status_code = error.status_code
    delivery.save()


def _mark_refused(delivery: AcceptanceDelivery, outcome: SendOutcome, existing: CustomerAgreement) -> None:
    """600061 over a confirmation that no longer counts: Microsoft keeps the stale one and refuses orders (13605),
    so this is not a success; the acceptance recorded here stops counting and the customer is asked again."""
    from mca.messages import stale_duplicate_message

    with transaction.atomic():
        delivery.state = DeliveryState.REFUSED
        delivery.next_attempt_at = None
        delivery.already_confirmed = True
        delivery.last_status_code = outcome.status_code
        delivery.response = outcome.answer
        delivery.last_error = stale_duplicate_message(delivery.record, existing.date_agreed)
        delivery.save()
        # Given up for good: the one place a delivery fails (a failing row is retried, not failed).
        delivery_failed.send(sender=AcceptanceDelivery, delivery=delivery)
        forget_acceptance_from(delivery.record)


def _settle(delivery: AcceptanceDelivery, outcome: SendOutcome) -> None:
    if outcome.already_confirmed:
        stale = flow_for_record(delivery.record).stale_duplicate(delivery.record, tenant_id=delivery.tenant_id)
        if stale is not None:
            _mark_refused(delivery, outcome, stale)
            return
    _mark_sent(delivery, outcome)


def deliver(delivery_id: int) -> str | None:
    """Send one delivery row if it is due; returns its state afterwards (None if nothing was done)."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    delivery, recovering = claimed
    record = delivery.record
    flow = flow_for_record(record)
    try:
        if recovering:
            found = flow.already_delivered(record, tenant_id=delivery.tenant_id)
            if found is not None:
                logger.info("Delivery %s was sent before a crash; Partner Center has it", delivery.pk)
                _mark_sent(delivery, found)
                return delivery.state
        outcome = flow.send(record, tenant_id=delivery.tenant_id, request_id=str(delivery.request_id))
        _settle(delivery, outcome)
    except PartnerCenterError as error:
        logger.warning("Delivery %s of record #%s failed: %s", delivery.pk, record.sequence, error)
        _mark_failing(delivery, error)
        return delivery.state
    logger.info("Record #%s delivered to Partner Center (%s)", record.sequence, outcome.status_code)
    return delivery.state


def _due_ids(now: datetime, limit: int) -> list[int]:
    # Every due row in the order they were written: after an outage (whose held-back rows all became due at the
    # same moment, give or take the microseconds of their failing) they drain in the order of the confirmations.
    due = AcceptanceDelivery.objects.filter(
        state__in=[DeliveryState.PENDING, DeliveryState.FAILING], next_attempt_at__lte=now
    ).order_by("pk")
    stuck = AcceptanceDelivery.objects.filter(state=DeliveryState.SENDING, updated_at__lte=now - sending_lease())
    return [*due.values_list("pk", flat=True)[:limit], *stuck.values_list("pk", flat=True)[:limit]]


def sweep_due_deliveries() -> int:
    """Enqueue every delivery that is due or stuck; returns how many were enqueued.

    While Partner Center's shared circuit is open (or waits for its trial), only the oldest due delivery is sent:
    it is the trial, and the others would only be held back; once it succeeds the next sweep sends the rest."""
    ids = _due_ids(timezone.now(), 500)
    if ids and get_client().health.circuit_open():
        ids = ids[:1]
    for delivery_id in ids:
        send_later(delivery_id)
    return len(ids)


# Rows handed out per statement by a drain; a drain goes on until fewer come back.
_DRAIN_BATCH = 500


def send_due_now() -> int:
    """The drain woken after commits (`mca.outbox.hand_over`): hand every pending row that is due to the sender,
    each once. Returns how many were handed out.

    A handed-out row's next try moves a sending lease ahead, so neither the next drain nor the sweep hands it out
    again while its message waits in the queue (a backlog would otherwise be re-queued on every drain); if the
    message is lost, the sweep sends the row once that lease has passed. A pending row is sent whatever its next
    try says (`_claim` checks it only for failing rows), so the move delays nothing."""
    drain_started()  # before reading: a row committed from here on wakes the next drain
    handed_out = 0
    while True:
        now = timezone.now()
        with transaction.atomic():
            ids = list(
                AcceptanceDelivery.objects.select_for_update(skip_locked=True)
                .filter(state=DeliveryState.PENDING, next_attempt_at__lte=now)
                .order_by("pk")
                .values_list("pk", flat=True)[:_DRAIN_BATCH]
            )
            AcceptanceDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + sending_lease())
        for delivery_id in ids:
            send_later(delivery_id)
        handed_out += len(ids)
        if len(ids) < _DRAIN_BATCH:
            return handed_out


def deliver_pending_for(account: Account) -> bool:
    """For provisioning, right after the account got its tenant and before any Microsoft order is sent:
    deliver every undelivered acceptance of the account now. Returns True when all are delivered."""
    link_account_to_tenant(account)
    undelivered = AcceptanceDelivery.objects.filter(account=account).exclude(state=DeliveryState.SENT)
    # Provisioning waits for these, so they are due now, whatever their backoff said.
    undelivered.filter(state__in=[DeliveryState.WAITING_FOR_CUSTOMER, DeliveryState.FAILING]).update(
        state=DeliveryState.PENDING, next_attempt_at=timezone.now()
    )
    for delivery_id in undelivered.exclude(state=DeliveryState.REFUSED).values_list("pk", flat=True):
        deliver(delivery_id)
    return not AcceptanceDelivery.objects.filter(account=account).exclude(state=DeliveryState.SENT).exists()


# Rows an operator may send again at once: failing (waiting for their backoff) and pending (not sent yet, e.g. the
# broker was down). Refused rows are not retried (Partner Center said no for good); sent and waiting ones neither.
RETRYABLE_STATES = (DeliveryState.FAILING, DeliveryState.PENDING)


def retry_now(delivery_ids: list[int]) -> dict[int, str | None]:
    """The operator's "Retry now": these deliveries (failing or pending) become due at once and are sent now, in
    this process, whatever their backoff said. Returns each one's state afterwards (None: not retryable or
    claimed by a worker right now)."""
    retryable = list(
        AcceptanceDelivery.objects.filter(pk__in=delivery_ids, state__in=RETRYABLE_STATES)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    AcceptanceDelivery.objects.filter(pk__in=retryable, state__in=RETRYABLE_STATES).update(
        next_attempt_at=timezone.now()
    )
    outcomes: dict[int, str | None] = dict.fromkeys(delivery_ids)
    for delivery_id in retryable:
        outcomes[delivery_id] = deliver(delivery_id)
    return outcomes
