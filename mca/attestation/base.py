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
from mca.rules import attestation_counts
from mca.templates import shown_template
from partner_center.client import get_client
from partner_center.types import MCA

if TYPE_CHECKING:
    from bss.models import Account
    from mca.context import ConfirmationContext
    from mca.models import AcceptanceRecord, Attestation
    from partner_center.types import CustomerAgreement


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
    """One way of attesting. `name` is the value of the MCA_ATTESTATION_FLOW setting; `record_events` are the log
    events this flow writes, so the registry finds the flow of any record (`mca.attestation.flow_for_record`).

    The delivery outbox (`mca.delivery`) holds no flow-specific logic: it asks the record's flow whether the record
    already reached Partner Center, to send it, what a duplicate answer means, and what to do once it is sent."""

    name: str
    label: str
    record_events: frozenset[str]

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

    # --- asked by the outbox ------------------------------------------------------------------------------------

    def already_delivered(self, record: AcceptanceRecord, *, tenant_id: str) -> SendOutcome | None:
        """After a crash mid-send: is the record's acceptance already listed at Partner Center (asked fresh)?
        Both flows' agreements carry the record's person as the contact, with the record's template."""
        found = matching_agreement(record, tenant_id)
        if found is None or (record.template_id and found.template_id != record.template_id):
            return None
        return SendOutcome(200, False, dict(found.raw or {}), found.template_id)

    def stale_duplicate(self, record: AcceptanceRecord, *, tenant_id: str) -> CustomerAgreement | None:
        """Partner Center answered 600061 (the same person's agreement exists): the existing agreement when it no
        longer counts (R4a: Microsoft keeps refusing orders, so this is no success), else None."""
        existing = matching_agreement(record, tenant_id)
        if existing is not None and not attestation_counts(existing.date_agreed):
            return existing
        return None

    # --- what the flow has to do by itself (links to create, answers to poll) -----------------------------------

    def due(self, *, limit: int = 200) -> list[int]:
        """Ids of this flow's attestations due for a look at Microsoft (none for a flow that never waits)."""
        return []

    def advance(self, attestation_id: int) -> str | None:
        """Move one of this flow's attestations on (create its link, poll Microsoft). Returns its state after."""
        return None

    def check_now(self, key: str) -> None:  # noqa: B027 - a flow with nothing open has nothing to ask
        """ "Check now": ask Microsoft at once about the customer's open attestations of this flow."""

    def reissue(self, *, actor: AbstractBaseUser, account: Account, context: ConfirmationContext) -> Outcome:
        """A new acceptance link for the customer's signatory; a flow without links has none to send."""
        raise AcceptanceInvalid({"__all__": [f"The {self.label} sends no acceptance link to send again."]})


def _same_person(agreement: CustomerAgreement, record: AcceptanceRecord) -> bool:
    contact = agreement.primary_contact
    return (
        contact is not None
        and contact.email.lower() == record.email.lower()
        and contact.first_name == record.first_name
        and contact.last_name == record.last_name
    )


def matching_agreement(record: AcceptanceRecord, tenant_id: str) -> CustomerAgreement | None:
    """The customer's newest agreement at Partner Center with this record's person as its contact (asked fresh)."""
    agreements = get_client().get_customer_agreements(tenant_id, record.agreement_type or MCA, use_cache=False)
    same_person = [agreement for agreement in agreements if _same_person(agreement, record)]
    return max(same_person, key=lambda agreement: agreement.date_agreed, default=None)


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
