"""Writing acceptances: `confirm_acceptance` is the one way a record is made (R5–R9)."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from bss.choices import Channel, Operation, Role
from bss.models import Account, Membership
from mca.chain import entry_hash, record_values
from mca.choices import AcceptanceKind, DeliveryState, EvidenceClass
from mca.forms import AcceptanceForm
from mca.knowledge import knowledge_key, remember_acceptance
from mca.models import AcceptanceDelivery, AcceptanceRecord, ChainHead
from mca.permissions import ensure_can_confirm
from partner_center.client import get_client
from partner_center.errors import PartnerCenterError
from partner_center.types import MCA

logger = logging.getLogger(__name__)


class AcceptanceInvalid(ValidationError):
    """The form data is invalid; `error_dict` holds a message per field. Nothing was written."""


class IdempotencyConflict(ValidationError):
    """The idempotency key was used before for a different confirmation."""


@dataclass(frozen=True)
class ConfirmationContext:
    """Where and why a confirmation happens (R8): the channel, the request, and what triggered it."""

    channel: Channel
    host: str = ""
    ip_address: str = ""
    user_agent: str = ""
    order_number: str = ""
    subscription_ref: str = ""
    operation: Operation | str = ""
    # A repeated submit with the same key returns the first record instead of writing a second one.
    idempotency_key: str | None = None
    # The template and document the person was shown; looked up (cached) when not given.
    template_id: str = ""
    template_version_rank: int | None = None
    document_link: str = ""


def _display_name(user: AbstractBaseUser) -> str:
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()


def _actor_role(user: AbstractBaseUser, membership: Membership | None) -> str:
    if membership is not None:
        return membership.role
    return Role.ADMIN if user.is_superuser else ""


def _normalised_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip())) if value else ""
    except ValueError:
        return ""


def _template_for(context: ConfirmationContext, account: Account) -> tuple[str, int | None, str]:
    if context.template_id:
        return context.template_id, context.template_version_rank, context.document_link
    client, budget = get_client(), settings.MCA_STATUS_TIME_BUDGET
    try:
        template = client.get_current_template(MCA, budget=budget)
        document = client.get_agreement_document(
            template.template_id, account.language or "en-US", account.country.code or "US", budget=budget
        )
    except PartnerCenterError as error:
        # The record is still written: delivery resolves the template when it sends (see mca.delivery).
        logger.warning("Confirming without a known template for account %s: %s", account.pk, error)
        return "", None, ""
    return template.template_id, template.version_rank, document.display_uri


def _same_confirmation(record: AcceptanceRecord, account: Account, form: AcceptanceForm) -> bool:
    data = form.cleaned_data
    return (
        record.account_id == account.pk
        and record.email.lower() == data["email"].lower()
        and record.first_name == data["first_name"]
        and record.last_name == data["last_name"]
        and record.date_agreed == data["date_agreed"]
    )


def confirm_acceptance(
    *, actor: AbstractBaseUser, account: Account, data: dict[str, Any], context: ConfirmationContext
) -> AcceptanceRecord:
    """Record that `account`'s customer accepted the MCA, as stated by `actor` through the form.

    Checks who may confirm for whom (R6) and the form (R5); writes exactly one hash-chained log record (R7, R8)
    and its delivery row, remembers the acceptance for the customer (R2), never touches the account or its
    contacts (R9), and sends it to Partner Center after commit (R10). Raises PermissionDenied, AcceptanceInvalid
    or IdempotencyConflict and then writes nothing.
    """
    ensure_can_confirm(actor, account)
    membership = Membership.of(actor)
    first_party = membership is not None and membership.role == Role.CUSTOMER
    form = AcceptanceForm(data, first_party=first_party, country=account.country.code)
    if not form.is_valid():
        raise AcceptanceInvalid(form.errors.as_data())
    if context.channel not in Channel.values:
        raise AcceptanceInvalid({"channel": [ValidationError(f"Unknown channel {context.channel!r}.")]})
    if context.operation and context.operation not in Operation.values:
        raise AcceptanceInvalid({"operation": [ValidationError(f"Unknown operation {context.operation!r}.")]})

    if context.idempotency_key:
        existing = AcceptanceRecord.objects.filter(idempotency_key=context.idempotency_key).first()
        if existing is not None:
            return _replay(existing, account, form)

    template_id, version_rank, document_link = _template_for(context, account)
    cleaned = form.cleaned_data
    role = _actor_role(actor, membership)
    organisation = membership.organisation_name if membership is not None else ""
    display_name = _display_name(actor)
    reseller = account.reseller

    with transaction.atomic():
        # Lock the chain head: appends are serialised, so sequence numbers and hash links stay linear.
        ChainHead.objects.get_or_create(pk=1)
        head = ChainHead.objects.select_for_update().get(pk=1)
        if context.idempotency_key:
            # A double-click can pass the check above twice; under the lock only the first one writes.
            existing = AcceptanceRecord.objects.filter(idempotency_key=context.idempotency_key).first()
            if existing is not None:
                return _replay(existing, account, form)

        record = AcceptanceRecord(
            sequence=head.last_sequence + 1,
            prev_hash=head.last_hash,
            created_at=timezone.now(),
            idempotency_key=context.idempotency_key or None,
            actor_user_id=actor.pk,
            actor_username=actor.get_username(),
            actor_display_name=display_name,
            actor_role=role,
            actor_organisation=organisation,
            account=account,
            account_name=account.name,
            reseller=reseller,
            reseller_name=reseller.name if reseller else "",
            tenant_id=str(account.partner_center_tenant_id or ""),
            channel=context.channel,
            host=context.host[:253],
            ip_address=_normalised_ip(context.ip_address),
            user_agent=context.user_agent[:500],
            agreement_type=MCA,
            template_id=template_id,
            template_version_rank=version_rank,
            document_link=document_link,
            language=account.language or "en-US",
            country=account.country.code or "US",
            form_data=form.as_entered(),
            first_name=cleaned["first_name"],
            last_name=cleaned["last_name"],
            email=cleaned["email"],
            phone=cleaned["phone"].as_e164,
            date_agreed=cleaned["date_agreed"],
            order_number=context.order_number,
            subscription_ref=context.subscription_ref,
            operation=context.operation,
            evidence_class=EvidenceClass.FIRST_PARTY if first_party else EvidenceClass.ATTESTATION,
            log_sufficient_as_proof=first_party,
        )
        record.entry_hash = entry_hash(record_values(record))
        record.save()
        head.last_sequence, head.last_hash = record.sequence, record.entry_hash
        head.save(update_fields=["last_sequence", "last_hash"])

        remember_acceptance(
            key=knowledge_key(account),
            kind=AcceptanceKind.CONFIRMED_HERE,
            accepted_at=datetime.combine(record.date_agreed, time.min, tzinfo=UTC),
            template_id=template_id,
            template_version_rank=version_rank,
            confirmed_by=f"{display_name} ({Role(role).label if role else 'user'})",
            record=record,
        )
        delivery = AcceptanceDelivery.objects.create(
            record=record,
            account=account,
            request_id=uuid.uuid4(),
            state=DeliveryState.PENDING if account.is_synced else DeliveryState.WAITING_FOR_CUSTOMER,
            next_attempt_at=timezone.now() if account.is_synced else None,
        )
        if account.is_synced:
            from mca.tasks import deliver_acceptance_task

            transaction.on_commit(lambda: deliver_acceptance_task.delay(delivery.pk))
    logger.info(
        "MCA acceptance #%s recorded for account %s by %s via %s",
        record.sequence,
        account.pk,
        record.actor_username,
        record.channel,
    )
    return record


def _replay(existing: AcceptanceRecord, account: Account, form: AcceptanceForm) -> AcceptanceRecord:
    if not _same_confirmation(existing, account, form):
        raise IdempotencyConflict(
            "This idempotency key was already used for a different confirmation.", code="idempotency_conflict"
        )
    return existing
