"""Telling Partner Center (R10): an outbox of delivery rows, sent after commit, retried, never sent twice.

- `deliver(delivery_id)` sends one row; a Celery task wraps it (acks_late: it is idempotent).
- `sweep_due_deliveries()` re-enqueues rows whose next try has passed and rows stuck in "sending" (a lost
  broker message or a killed worker only delays a delivery).
- A row found in "sending" after its lease expired may have reached Microsoft before the crash: it first asks
  Partner Center whether the acceptance is there, and only sends if it is not.
- Every try of one row sends the same MS-RequestId (Microsoft's idempotency key); 600061 ("an identical partner
  confirmation exists") counts as delivered.
- `send_acceptance` is the one step that knows what is sent; Microsoft's enhanced attestation replaces it, not
  the outbox around it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from bss.models import Account
from mca.choices import DeliveryState
from mca.knowledge import link_account_to_tenant
from mca.models import AcceptanceDelivery, AcceptanceRecord
from partner_center.client import get_client
from partner_center.errors import PartnerCenterError, PartnerCenterRejected, PartnerCenterThrottled
from partner_center.types import MCA, AgreementContact, ConfirmationResult, CustomerAgreement

logger = logging.getLogger(__name__)

# A row in "sending" longer than this is presumed abandoned by a crashed worker (far above one call's budget).
SENDING_LEASE = timedelta(minutes=5)
BASE_BACKOFF_SECONDS = 30
MAX_BACKOFF_SECONDS = 6 * 3600


@dataclass(frozen=True)
class SendOutcome:
    status_code: int
    already_confirmed: bool
    answer: dict[str, Any] = field(default_factory=dict)
    template_id: str = ""


def _contact(record: AcceptanceRecord) -> AgreementContact:
    return AgreementContact(
        first_name=record.first_name,
        last_name=record.last_name,
        email=record.email,
        phone_number=record.phone or None,
    )


def send_acceptance(record: AcceptanceRecord, *, tenant_id: str, request_id: str) -> SendOutcome:
    """Send one acceptance with the legacy partner confirmation (POST /v1/customers/{id}/agreements)."""
    client = get_client()
    template_id = record.template_id or client.get_current_template(MCA).template_id
    result: ConfirmationResult = client.confirm_customer_acceptance(
        tenant_id,
        _contact(record),
        template_id,
        datetime.combine(record.date_agreed, time.min, tzinfo=UTC),
        request_id,
        agreement_type=record.agreement_type or MCA,
    )
    return SendOutcome(result.status_code, result.already_confirmed, dict(result.raw or {}), template_id)


def _matches(agreement: CustomerAgreement, record: AcceptanceRecord) -> bool:
    contact = agreement.primary_contact
    return (
        contact is not None
        and contact.email.lower() == record.email.lower()
        and contact.first_name == record.first_name
        and contact.last_name == record.last_name
        and (not record.template_id or agreement.template_id == record.template_id)
    )


def already_at_partner_center(record: AcceptanceRecord, tenant_id: str) -> CustomerAgreement | None:
    """Is this record's confirmation already listed for the customer? (Asked fresh, never from the cache.)"""
    agreements = get_client().get_customer_agreements(tenant_id, record.agreement_type or MCA, use_cache=False)
    return next((agreement for agreement in agreements if _matches(agreement, record)), None)


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
        if delivery is None or delivery.state in (DeliveryState.SENT, DeliveryState.WAITING_FOR_CUSTOMER):
            return None
        now = timezone.now()
        recovering = delivery.state == DeliveryState.SENDING
        if recovering and delivery.updated_at > now - SENDING_LEASE:
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
    if isinstance(error, PartnerCenterThrottled) and error.retry_after:
        wait = max(wait, timedelta(seconds=error.retry_after))
    delivery.state = DeliveryState.FAILING
    delivery.next_attempt_at = timezone.now() + wait
    delivery.last_error = f"{type(error).__name__}: {error.message}"
    if isinstance(error, PartnerCenterRejected) and error.code:
        delivery.last_error += f" (code {error.code})"
    delivery.last_status_code = error.status_code
    delivery.save()


def deliver(delivery_id: int) -> str | None:
    """Send one delivery row if it is due; returns its state afterwards (None if nothing was done)."""
    claimed = _claim(delivery_id)
    if claimed is None:
        return None
    delivery, recovering = claimed
    record = delivery.record
    try:
        if recovering:
            found = already_at_partner_center(record, delivery.tenant_id)
            if found is not None:
                logger.info("Delivery %s was sent before a crash; Partner Center has it", delivery.pk)
                _mark_sent(delivery, SendOutcome(200, False, dict(found.raw or {}), found.template_id))
                return delivery.state
        outcome = send_acceptance(record, tenant_id=delivery.tenant_id, request_id=str(delivery.request_id))
    except PartnerCenterError as error:
        logger.warning("Delivery %s of record #%s failed: %s", delivery.pk, record.sequence, error)
        _mark_failing(delivery, error)
        return delivery.state
    _mark_sent(delivery, outcome)
    logger.info("Record #%s delivered to Partner Center (%s)", record.sequence, outcome.status_code)
    return delivery.state


def _due_ids(now: datetime, limit: int) -> list[int]:
    due = AcceptanceDelivery.objects.filter(
        state__in=[DeliveryState.PENDING, DeliveryState.FAILING], next_attempt_at__lte=now
    ).order_by("next_attempt_at")
    stuck = AcceptanceDelivery.objects.filter(state=DeliveryState.SENDING, updated_at__lte=now - SENDING_LEASE)
    return [*due.values_list("pk", flat=True)[:limit], *stuck.values_list("pk", flat=True)[:limit]]


def sweep_due_deliveries() -> int:
    """Enqueue every delivery that is due or stuck; returns how many were enqueued."""
    from mca.tasks import deliver_acceptance_task

    ids = _due_ids(timezone.now(), 500)
    for delivery_id in ids:
        deliver_acceptance_task.delay(delivery_id)
    return len(ids)


def deliver_pending_for(account: Account) -> bool:
    """For provisioning, right after the account got its tenant and before any Microsoft order is sent:
    deliver every undelivered acceptance of the account now. Returns True when all are delivered."""
    link_account_to_tenant(account)
    undelivered = AcceptanceDelivery.objects.filter(account=account).exclude(state=DeliveryState.SENT)
    # Provisioning waits for these, so they are due now, whatever their backoff said.
    undelivered.filter(state__in=[DeliveryState.WAITING_FOR_CUSTOMER, DeliveryState.FAILING]).update(
        state=DeliveryState.PENDING, next_attempt_at=timezone.now()
    )
    for delivery_id in undelivered.values_list("pk", flat=True):
        deliver(delivery_id)
    return not AcceptanceDelivery.objects.filter(account=account).exclude(state=DeliveryState.SENT).exists()
