"""The acceptance rules that depend on no database: when acceptance is needed (R1) and what still counts
(R4 Cloud Agreement cut-over, R4a stale attestations)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from bss.choices import Operation

# R1: operations on a Microsoft product that Microsoft refuses without a current MCA (seat changes both ways
# since 2025-10-07). Renewals and cancellations never need it.
OPERATIONS_NEEDING_ACCEPTANCE = frozenset(
    {
        Operation.NEW_PURCHASE,
        Operation.SEAT_INCREASE,
        Operation.SEAT_DECREASE,
        Operation.UPGRADE,
        Operation.TERM_CHANGE,
    }
)
_KNOWN_OPERATIONS = frozenset(Operation.values)  # Operation.values builds a new list on every access


def requires_acceptance(operation: str, *, is_microsoft: bool = True) -> bool:
    """R1: does this operation, on a Microsoft product (or not), need the customer's MCA acceptance?"""
    if operation not in _KNOWN_OPERATIONS:
        raise ValueError(f"Unknown operation {operation!r}; expected one of {', '.join(Operation.values)}.")
    return is_microsoft and operation in OPERATIONS_NEEDING_ACCEPTANCE


def cloud_agreement_cutoff() -> datetime:
    value = settings.MCA_CLOUD_AGREEMENT_CUTOFF
    parsed = parse_datetime(value) if isinstance(value, str) else value
    if parsed is None:
        raise ImproperlyConfigured(f"MCA_CLOUD_AGREEMENT_CUTOFF is not a date-time: {value!r}")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def cloud_agreement_counts(accepted_at: datetime | None, *, now: datetime | None = None) -> bool:
    """R4: a Microsoft Cloud Agreement counts only until the cut-over moment."""
    return accepted_at is not None and (now or timezone.now()) < cloud_agreement_cutoff()


def attestation_min_date() -> date | None:
    """R4a: partner attestations dated before this no longer count (None: all count)."""
    value = settings.MCA_ATTESTATION_MIN_DATE
    if not value:
        return None
    parsed = parse_date(value) if isinstance(value, str) else value
    if parsed is None:
        raise ImproperlyConfigured(f"MCA_ATTESTATION_MIN_DATE is not a date: {value!r}")
    return parsed


def attestation_counts(date_agreed: datetime | date) -> bool:
    minimum = attestation_min_date()
    if minimum is None:
        return True
    day = date_agreed.astimezone(UTC).date() if isinstance(date_agreed, datetime) else date_agreed
    return day >= minimum
