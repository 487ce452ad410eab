"""The legacy one-step partner confirmation (the FAQ's flow; retired by Microsoft on 2026-01-05).

The partner states that the customer accepted on a given date, with a contact; the acceptance counts as soon as
the form is recorded, and the record is delivered with `POST /v1/customers/{id}/agreements`. Kept for installations
and records from before the retirement (MCA_ATTESTATION_FLOW=legacy).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from bss.choices import Role
from bss.models import Account
from mca import log
from mca.attestation.base import (
    AcceptanceInvalid,
    AttestationFlow,
    IdempotencyConflict,
    Outcome,
    OutcomeKind,
    SendOutcome,
    append_once,
    validate_context,
    with_template,
)
from mca.choices import AcceptanceKind, EvidenceClass, RecordEvent
from mca.context import ConfirmationContext
from mca.forms import AcceptBox, EmailAddressField, EnteredFormMixin, NameField, PhoneField, StrictDateField
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import AcceptanceRecord
from mca.outbox import enqueue_delivery
from mca.permissions import ensure_can_confirm
from mca.rules import attestation_min_date
from partner_center.client import get_client
from partner_center.types import MCA, AgreementContact, ConfirmationResult

# Microsoft introduced the MCA to CSP on 2019-10-01: an earlier acceptance date cannot be right.
MCA_INTRODUCED = date(2019, 10, 1)

CUSTOMER_ACCEPT_LABEL = "I accept the Microsoft Customer Agreement on behalf of my company."
ATTESTATION_ACCEPT_LABEL = "I confirm that the customer has accepted the Microsoft Customer Agreement."


class LegacyAcceptanceForm(EnteredFormMixin, forms.Form):
    FIELDS = ("first_name", "last_name", "email", "phone", "date_agreed", "accepted")

    first_name = NameField(label="First name", max_length=100)
    last_name = NameField(label="Last name", max_length=100)
    email = EmailAddressField(label="Email", max_length=254)
    phone = PhoneField(
        label="Phone number",
        help_text="With the country code, e.g. +1 206 555 0100.",
        error_messages={"invalid": "Enter a valid phone number, with the country code (e.g. +1 206 555 0100)."},
    )
    date_agreed = StrictDateField(label="Date of agreement", help_text="The day the customer accepted.")
    accepted = AcceptBox(label=ATTESTATION_ACCEPT_LABEL)

    def __init__(self, *args: Any, first_party: bool = False, country: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_party = first_party
        accepted = self.fields["accepted"]
        accepted.label = CUSTOMER_ACCEPT_LABEL if first_party else ATTESTATION_ACCEPT_LABEL
        accepted.error_messages["required"] = (
            "Tick the box to accept the agreement."
            if first_party
            else "Tick the box to confirm that the customer has accepted the agreement."
        )
        # Numbers without a country code are read as the customer's country.
        self.fields["phone"].region = country or None
        self.fields["date_agreed"].initial = timezone.localdate

    def clean_date_agreed(self) -> date:
        value: date = self.cleaned_data["date_agreed"]
        if value > timezone.localdate():
            raise ValidationError("The date of agreement cannot be in the future.", code="future")
        if value < MCA_INTRODUCED:
            raise ValidationError(
                f"The date of agreement cannot be before {MCA_INTRODUCED:%d %B %Y}, when the MCA was introduced.",
                code="too_old",
            )
        minimum = attestation_min_date()
        if minimum is not None and value < minimum:
            # R4a: it would be recorded, sent, and never count: Microsoft wants the current agreement accepted.
            raise ValidationError(
                f"A confirmation dated before {minimum:%d %B %Y} no longer counts: Microsoft requires acceptance of "
                "the current agreement. Enter the date the customer accepted the current agreement.",
                code="stale",
            )
        return value


def _same_confirmation(record: AcceptanceRecord, account: Account, form: LegacyAcceptanceForm) -> bool:
    data = form.cleaned_data
    return (
        record.account_id == account.pk
        and record.email.lower() == data["email"].lower()
        and record.first_name == data["first_name"]
        and record.last_name == data["last_name"]
        and record.date_agreed == data["date_agreed"]
    )


def _replay(existing: AcceptanceRecord, account: Account, form: LegacyAcceptanceForm) -> AcceptanceRecord:
    if not _same_confirmation(existing, account, form):
        raise IdempotencyConflict(
            "This idempotency key was already used for a different confirmation.", code="idempotency_conflict"
        )
    return existing


def confirm_acceptance(
    *, actor: AbstractBaseUser, account: Account, data: dict[str, Any], context: ConfirmationContext
) -> AcceptanceRecord:
    """Record that `account`'s customer accepted the MCA, as stated by `actor` through the legacy form.

    Validates the form (R5); writes exactly one hash-chained log record (R7, R8) and its delivery row, remembers
    the acceptance for the customer (R2), never touches the account or its contacts (R9), and sends it to Partner
    Center after commit (R10). Raises PermissionDenied (R6), AcceptanceInvalid or IdempotencyConflict and then
    writes nothing.
    """
    ensure_can_confirm(actor, account)
    first_party = log.is_first_party(actor)
    form = LegacyAcceptanceForm(data, first_party=first_party, country=account.country.code)
    if not form.is_valid():
        raise AcceptanceInvalid(form.errors.as_data())
    validate_context(context)

    context = with_template(context, account)
    cleaned = form.cleaned_data
    actor_values = log.actor_snapshot(actor)

    record = AcceptanceRecord(
        idempotency_key=context.idempotency_key or None,
        **actor_values,
        **log.account_snapshot(account),
        **log.context_snapshot(context),
        event=RecordEvent.LEGACY_CONFIRMATION,
        form_data=form.as_entered(),
        first_name=cleaned["first_name"],
        last_name=cleaned["last_name"],
        email=cleaned["email"],
        phone=cleaned["phone"].as_e164,
        date_agreed=cleaned["date_agreed"],
        evidence_class=EvidenceClass.FIRST_PARTY if first_party else EvidenceClass.ATTESTATION,
        log_sufficient_as_proof=first_party,
    )
    role = actor_values["actor_role"]

    def remember_and_deliver(record: AcceptanceRecord) -> None:
        remember_acceptance(
            key=knowledge_key(account),
            kind=AcceptanceKind.CONFIRMED_HERE,
            accepted_at=datetime.combine(record.date_agreed, time.min, tzinfo=UTC),
            template_id=record.template_id,
            template_version_rank=record.template_version_rank,
            confirmed_by=f"{record.actor_display_name} ({Role(role).label if role else 'user'})",
            record=record,
        )
        enqueue_delivery(record, account)

    existing = append_once(record, then=remember_and_deliver)
    return record if existing is None else _replay(existing, account, form)


class LegacyFlow(AttestationFlow):
    name = "legacy"
    label = "One-step partner confirmation (legacy, before 2026-01-05)"
    record_events = frozenset({RecordEvent.LEGACY_CONFIRMATION})

    def form(
        self, data: Any = None, *, actor: AbstractBaseUser, account: Account, first_party: bool
    ) -> LegacyAcceptanceForm:
        return LegacyAcceptanceForm(data, first_party=first_party, country=account.country.code)

    def start(self, *, actor: AbstractBaseUser, account: Account, data: Any, context: ConfirmationContext) -> Outcome:
        record = confirm_acceptance(actor=actor, account=account, data=data, context=context)
        return Outcome(OutcomeKind.ACCEPTED, record)

    def send(self, record: AcceptanceRecord, *, tenant_id: str, request_id: str) -> SendOutcome:
        client = get_client()
        template_id = record.template_id or client.get_current_template(MCA).template_id
        result: ConfirmationResult = client.confirm_customer_acceptance(
            tenant_id,
            AgreementContact(record.first_name, record.last_name, record.email, record.phone or None),
            template_id,
            datetime.combine(record.date_agreed, time.min, tzinfo=UTC),
            request_id,
            agreement_type=record.agreement_type or MCA,
        )
        return SendOutcome(result.status_code, result.already_confirmed, dict(result.raw or {}), template_id)
