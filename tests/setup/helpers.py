"""Shared data for the setup-area tests: confirmations and deliveries in a chosen state."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState
from mca.models import AcceptanceDelivery, AcceptanceRecord
from tests.mca.helpers import context, form_data

UNREACHABLE = "PartnerCenterUnavailable: Partner Center confirm_acceptance: ConnectionError"


def confirm(demo, demo_user, key: str, user: str, **data) -> AcceptanceRecord:
    """A legacy confirmation for demo account `key` by demo user `user` (no Partner Center call to write it)."""
    return confirm_acceptance(actor=demo_user(user), account=demo[key], data=form_data(**data), context=context())


def make_failing(record: AcceptanceRecord, *, error: str = UNREACHABLE, in_minutes: int = 30) -> AcceptanceDelivery:
    """The record's delivery as the worker leaves it after a failed try: failing, with its error and next try."""
    AcceptanceDelivery.objects.filter(record=record).update(
        state=DeliveryState.FAILING,
        attempts=3,
        last_error=error,
        last_status_code=None,
        next_attempt_at=timezone.now() + timedelta(minutes=in_minutes),
    )
    return AcceptanceDelivery.objects.get(record=record)


def make_refused(record: AcceptanceRecord, error: str) -> AcceptanceDelivery:
    AcceptanceDelivery.objects.filter(record=record).update(
        state=DeliveryState.REFUSED, attempts=1, last_error=error, last_status_code=409, next_attempt_at=None
    )
    return AcceptanceDelivery.objects.get(record=record)
