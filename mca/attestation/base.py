"""The interface every attestation flow implements, and what crosses it.

A flow is how Microsoft is told that a customer accepted the MCA: the legacy one-step partner confirmation, or
Microsoft's enhanced attestation (the signatory accepts on Microsoft's page). Callers never branch on the flow:
they get the form from it, start it with the submitted data, and let the delivery and polling tasks advance it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from time import monotonic
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from bss.choices import Channel, Operation
from mca.templates import shown_template

if TYPE_CHECKING:
    from bss.models import Account
    from mca.context import ConfirmationContext
    from mca.models import AcceptanceRecord, Attestation


class AcceptanceInvalid(ValidationError):
    """The form data is invalid; `error_dict` holds a message per field. Nothing was written."""


class IdempotencyConflict(ValidationError):
    """The idempotency key was used before for a different submission."""


class OutcomeKind(StrEnum):
    ACCEPTED = "accepted"  # acceptance is known now (legacy flow)
    PENDING_SIGNATORY = "pending_signatory"  # the signatory must accept at Microsoft (enhanced flow)


@dataclass(frozen=True)
class Outcome:
    """What submitting the form did: `record` is the log record the form wrote."""

    kind: OutcomeKind
    record: AcceptanceRecord
    attestation: Attestation | None = None

    @property
    def accepted(self) -> bool:
        return self.kind == OutcomeKind.ACCEPTED

    @property
    def link(self) -> str:
        return self.attestation.acceptance_url if self.attestation is not None else ""

    @property
    def expires_at(self) -> datetime | None:
        return self.attestation.expires_at if self.attestation is not None else None


@dataclass(frozen=True)
class SendOutcome:
    """The answer of telling Microsoft about one record (a delivery)."""

    status_code: int
    already_confirmed: bool
    answer: dict[str, Any] = field(default_factory=dict)
    template_id: str = ""


class AttestationFlow(ABC):
    """One way of attesting. `name` is the value of the MCA_ATTESTATION_FLOW setting."""

    name: str
    label: str

    @abstractmethod
    def form(self, data: Any = None, *, actor: AbstractBaseUser, account: Account, first_party: bool) -> forms.Form:
        """The flow's form, worded for the actor (a customer accepts; a reseller or BSS user confirms)."""

    @abstractmethod
    def start(self, *, actor: AbstractBaseUser, account: Account, data: Any, context: ConfirmationContext) -> Outcome:
        """Validate the form and write its record(s). Permission is checked by the caller (the gate)."""

    @abstractmethod
    def send(self, record: AcceptanceRecord, *, tenant_id: str, request_id: str) -> SendOutcome:
        """Tell Partner Center about a record that needs delivering (called by the delivery outbox)."""

    def after_sent(self, record: AcceptanceRecord, outcome: SendOutcome) -> None:  # noqa: B027 - optional hook
        """Called once a delivery of `record` succeeded (in its transaction)."""

    def advance(self, attestation: Attestation) -> str | None:
        """Move a pending attestation on (create its link, poll Microsoft). Returns its state afterwards."""
        return None


def validate_context(context: ConfirmationContext) -> None:
    """What the channel says about the confirmation (R8) is checked like the form: a field error, nothing written."""
    if context.channel not in Channel.values:
        raise AcceptanceInvalid({"channel": [ValidationError(f"Unknown channel {context.channel!r}.")]})
    if context.operation and context.operation not in Operation.values:
        raise AcceptanceInvalid({"operation": [ValidationError(f"Unknown operation {context.operation!r}.")]})
    for name, limit in (("order_number", 20), ("subscription_ref", 64)):
        if len(getattr(context, name)) > limit:
            raise AcceptanceInvalid({name: [ValidationError(f"At most {limit} characters.", code="max_length")]})


def append_once(record: AcceptanceRecord, *, then: Callable[[AcceptanceRecord], object]) -> AcceptanceRecord | None:
    """Append a flow's first record and the rows that refer to it (`then`) in one transaction. Returns None when
    it was appended, or the record its idempotency key already wrote (and then nothing is written).

    The key is unique, so a repeated submit (a double-click can pass any check made before) is refused by the
    insert; the earlier record is looked up only then, so the usual path spends no query on it."""
    from mca import log
    from mca.models import AcceptanceRecord

    try:
        with transaction.atomic():
            log.append(record, then=then)
    except IntegrityError:
        existing = (
            AcceptanceRecord.objects.filter(idempotency_key=record.idempotency_key).first()
            if record.idempotency_key
            else None
        )
        if existing is None:
            raise
        return existing
    return None


def with_template(context: ConfirmationContext, account: Account) -> ConfirmationContext:
    """The context naming the template and document shown: the caller's, or looked up within the budget."""
    if context.template_id:
        return context
    shown = shown_template(account, deadline=monotonic() + settings.MCA_STATUS_TIME_BUDGET)
    return context.with_trigger(
        template_id=shown.template_id,
        template_version_rank=shown.version_rank,
        document_link=shown.document_link,
    )
