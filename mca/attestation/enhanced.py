"""Microsoft's enhanced attestation (the only partner path since 2026-01-05).

The story of one acceptance, each step its own chained log record (R7):

1. form submitted — who names which signatory (first and last name, e-mail, optional phone, company) and declares
   the signatory's authority; the form data as entered;
2. attestation created — Microsoft's id and the acceptance link's expiry (the link goes to the signatory);
3. signatory accepted — Microsoft reports that the signatory accepted the MCA on its page: from now on the
   acceptance counts (R2) and held orders are released;
4. agreement created — the agreement made for the customer's tenant with the attestation id (a delivery: it waits
   for the tenant when the customer is new, and goes before any order);
or: link expired (the customer is still asked; one action issues a new link: link re-issued, then 2 again).

The attestation needs no Partner Center customer, so a new customer can accept at checkout. Mutable progress
lives in `Attestation`, outside the log; a beat task polls pending attestations (`advance_due_attestations`).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

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
from mca.choices import AcceptanceKind, AttestationState, EvidenceClass, RecordEvent
from mca.context import ConfirmationContext
from mca.forms import AcceptBox, EmailAddressField, EnteredFormMixin, NameField, PhoneField, look_alike_problem
from mca.knowledge import knowledge_key, lock_customer, remember_acceptance, state_changes
from mca.messages import error_text
from mca.models import AcceptanceRecord, Attestation
from mca.outbox import enqueue_delivery
from mca.permissions import ensure_can_confirm
from partner_center.client import get_client
from partner_center.errors import PartnerCenterError, PartnerCenterThrottled, PartnerCenterUnavailable
from partner_center.types import MCA, AttestationStatus, EnhancedAttestation, Signatory

logger = logging.getLogger(__name__)

# A claim on an attestation while one worker talks to Microsoft about it; far above one call's time budget.
CHECK_LEASE = timedelta(minutes=2)
MAX_POLL_INTERVAL = timedelta(hours=1)


def _customer_label(company: str) -> str:
    return gettext("I am authorised to accept the Microsoft Customer Agreement for %(company)s.") % {
        "company": company or gettext("my company")
    }


def _attestation_label(company: str) -> str:
    return gettext(
        "I confirm that the person named above is authorised to accept the Microsoft Customer Agreement "
        "for %(company)s."
    ) % {"company": company or gettext("the customer")}


class SignatoryForm(EnteredFormMixin, forms.Form):
    """R5, enhanced flow: the customer's signatory, who then accepts on Microsoft's page."""

    FIELDS = (
        "signatory_first_name",
        "signatory_last_name",
        "signatory_email",
        "signatory_phone",
        "company_name",
        "authority_confirmed",
    )

    signatory_first_name = NameField(label=_("Signatory's first name"), max_length=100)
    signatory_last_name = NameField(label=_("Signatory's last name"), max_length=100)
    signatory_email = EmailAddressField(
        label=_("Signatory's e-mail"), max_length=254, help_text=_("Microsoft's acceptance link is sent here.")
    )
    signatory_phone = PhoneField(
        label=_("Signatory's phone number (optional)"),
        required=False,
        help_text=_("With the country code, e.g. +1 206 555 0100."),
        error_messages={"invalid": "Enter a valid phone number, with the country code (e.g. +1 206 555 0100)."},
    )
    company_name = forms.CharField(label=_("Company name"), max_length=200)
    authority_confirmed = AcceptBox(label=_attestation_label(""))

    def __init__(self, *args: Any, first_party: bool = False, account: Account | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_party = first_party
        company = account.name if account is not None else ""
        self.fields["company_name"].initial = company
        box = self.fields["authority_confirmed"]
        box.label = _customer_label(company) if first_party else _attestation_label(company)
        box.error_messages["required"] = (
            gettext("Tick the box to declare that you are authorised to accept for your company.")
            if first_party
            else gettext("Tick the box to confirm that the signatory is authorised to accept for the customer.")
        )
        if account is not None:
            self.fields["signatory_phone"].region = account.country.code or None

    def clean_company_name(self) -> str:
        value = self.cleaned_data["company_name"].strip()
        if any(character in value for character in "<>"):
            raise forms.ValidationError("A company name cannot contain < or >.", code="markup")
        problem = look_alike_problem(value)
        if problem:
            raise forms.ValidationError(problem, code="look_alike")
        return value

    def signatory(self) -> Signatory:
        data = self.cleaned_data
        phone = data.get("signatory_phone")
        return Signatory(
            first_name=data["signatory_first_name"],
            last_name=data["signatory_last_name"],
            email=data["signatory_email"],
            company_name=data["company_name"],
            phone_number=phone.as_e164 if phone else None,
        )


def _same_submission(record: AcceptanceRecord, account: Account, form: SignatoryForm) -> bool:
    data = form.cleaned_data
    return (
        record.account_id == account.pk
        and record.event == RecordEvent.FORM_SUBMITTED
        and record.email.lower() == data["signatory_email"].lower()
        and record.first_name == data["signatory_first_name"]
        and record.last_name == data["signatory_last_name"]
    )


def _outcome_for(record: AcceptanceRecord) -> Outcome:
    attestation = record.attestations.order_by("-created_at").first()
    return Outcome(OutcomeKind.PENDING_SIGNATORY, record, attestation)


def _answer_text(raw: dict[str, Any]) -> str:
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _system_actor(name: str) -> dict[str, Any]:
    return {
        "actor_user_id": None,
        "actor_username": "system",
        "actor_display_name": name,
        "actor_role": "",
        "actor_organisation": "",
    }


def _follow_up(story: AcceptanceRecord, event: RecordEvent, **values: Any) -> AcceptanceRecord:
    """A later step of the story that `story` (the form record) began, appended to the chain."""
    fields = {**log.follow_up_values(story), **_system_actor("Partner Center"), "event": event, **values}
    return log.append(AcceptanceRecord(**fields))


class EnhancedFlow(AttestationFlow):
    name = "enhanced"
    label = "Enhanced attestation (the signatory accepts at Microsoft)"
    # Every step of the story; the outbox delivers SIGNATORY_ACCEPTED (the agreement is created from it).
    record_events = frozenset(
        {
            RecordEvent.FORM_SUBMITTED,
            RecordEvent.ATTESTATION_CREATED,
            RecordEvent.SIGNATORY_ACCEPTED,
            RecordEvent.AGREEMENT_CREATED,
            RecordEvent.LINK_EXPIRED,
            RecordEvent.LINK_REISSUED,
            RecordEvent.LINK_SUPERSEDED,
            RecordEvent.LINK_CANCELLED,
            RecordEvent.LINK_SENT,
        }
    )

    def form(self, data: Any = None, *, actor: AbstractBaseUser, account: Account, first_party: bool) -> SignatoryForm:
        initial: dict[str, Any] = {}
        if first_party:
            # The customer's own user is the signatory: prefilled, editable.
            initial = {
                "signatory_first_name": getattr(actor, "first_name", ""),
                "signatory_last_name": getattr(actor, "last_name", ""),
                "signatory_email": getattr(actor, "email", ""),
            }
        return SignatoryForm(data, first_party=first_party, account=account, initial=initial)

    def start(self, *, actor: AbstractBaseUser, account: Account, data: Any, context: ConfirmationContext) -> Outcome:
        ensure_can_confirm(actor, account)
        first_party = log.is_first_party(actor)
        form = self.form(data, actor=actor, account=account, first_party=first_party)
        if not form.is_valid():
            raise AcceptanceInvalid(form.errors.as_data())
        validate_context(context)
        context = with_template(context, account)
        signatory = form.signatory()
        record = AcceptanceRecord(
            idempotency_key=context.idempotency_key or None,
            **log.actor_snapshot(actor),
            **log.account_snapshot(account),
            **log.context_snapshot(context),
            event=RecordEvent.FORM_SUBMITTED,
            form_data=form.as_entered(),
            first_name=signatory.first_name,
            last_name=signatory.last_name,
            email=signatory.email,
            phone=signatory.phone_number or "",
            signatory_company=signatory.company_name,
            authority_declared=True,
            evidence_class=EvidenceClass.FIRST_PARTY if first_party else EvidenceClass.ATTESTATION,
            log_sufficient_as_proof=False,
        )
        attestations: list[Attestation] = []

        def replace_open_link(record: AcceptanceRecord) -> None:
            key = knowledge_key(account)
            # Submissions for one customer take turns, so the newest link supersedes every other one: each old
            # link's story gets a "withdrawn" record, and Microsoft is told so its page refuses the old link.
            lock_customer(key)
            if (
                record.idempotency_key
                and AcceptanceRecord.objects.filter(idempotency_key=record.idempotency_key)
                .exclude(pk=record.pk)  # SQLite saved this record already
                .exists()
            ):
                # A double-click's earlier submit committed while this one waited for its turn: replay it. Touching
                # its attestation here would hold the row while its after-commit step claims it (and skips it).
                raise IntegrityError("idempotency key already used")
            with state_changes(key, source="link_sent"):
                withdraw_open_links(key, actor=actor, context=context, event=RecordEvent.LINK_SUPERSEDED)
                attestations.append(_new_attestation(record, account))

        existing = append_once(record, then=replace_open_link)
        if existing is not None:
            return self._replay(existing, account, form)
        attestation = attestations[0]
        attestation.refresh_from_db()
        return Outcome(OutcomeKind.PENDING_SIGNATORY, record, attestation)

    @staticmethod
    def _replay(existing: AcceptanceRecord, account: Account, form: SignatoryForm) -> Outcome:
        if not _same_submission(existing, account, form):
            raise IdempotencyConflict(
                "This idempotency key was already used for a different submission.", code="idempotency_conflict"
            )
        return _outcome_for(existing)

    def send(self, record: AcceptanceRecord, *, tenant_id: str, request_id: str) -> SendOutcome:
        """Create the customer's agreement with the accepted attestation (delivery of the signatory's acceptance)."""
        client = get_client()
        template_id = record.template_id or client.get_current_template(MCA).template_id
        result = client.create_agreement_from_attestation(tenant_id, record.attestation_id, template_id, request_id)
        return SendOutcome(result.status_code, result.already_confirmed, dict(result.raw or {}), template_id)

    def after_sent(self, record: AcceptanceRecord, outcome: SendOutcome) -> None:
        _follow_up(
            record,
            RecordEvent.AGREEMENT_CREATED,
            tenant_id=str(record.account.partner_center_tenant_id or ""),
            template_id=outcome.template_id or record.template_id,
            microsoft_answer=_answer_text(outcome.answer),
        )

    def due(self, *, limit: int = 200) -> list[int]:
        return due_attestation_ids(limit)

    def advance(self, attestation_id: int) -> str | None:
        return advance_attestation(attestation_id)

    def check_now(self, key: str) -> None:
        check_open_attestations_now(key)

    def reissue(self, *, actor: AbstractBaseUser, account: Account, context: ConfirmationContext) -> Outcome:
        return reissue_link(actor=actor, account=account, context=context)


def _new_attestation(form_record: AcceptanceRecord, account: Account) -> Attestation:
    """The mutable progress row; Microsoft is asked for the link after commit (same MS-RequestId on retries)."""
    attestation = Attestation.objects.create(
        account=account,
        key=knowledge_key(account),
        form_record=form_record,
        request_id=uuid.uuid4(),
        signatory_name=f"{form_record.first_name} {form_record.last_name}",
        signatory_email=form_record.email,
        next_check_at=timezone.now(),
    )
    transaction.on_commit(lambda: advance_attestation(attestation.pk))
    return attestation


def _claim(attestation_id: int) -> Attestation | None:
    """Take the attestation for one conversation with Microsoft (a short lease; a crash only delays it)."""
    with transaction.atomic():
        attestation = (
            Attestation.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("form_record", "account")
            .filter(pk=attestation_id)
            .first()
        )
        if attestation is None or not attestation.is_open:
            return None
        now = timezone.now()
        if attestation.next_check_at is not None and attestation.next_check_at > now:
            return None
        attestation.next_check_at = now + CHECK_LEASE
        attestation.attempts += 1
        attestation.save(update_fields=["next_check_at", "attempts", "updated_at"])
        return attestation


def _poll_interval(attempts: int) -> timedelta:
    base = timedelta(seconds=settings.MCA_ATTESTATION_POLL_SECONDS)
    return min(MAX_POLL_INTERVAL, base * 2 ** min(max(0, attempts - 1), 10))


def _failed(attestation: Attestation, error: PartnerCenterError) -> None:
    wait = _poll_interval(attestation.attempts)
    if isinstance(error, PartnerCenterUnavailable) and error.held_back and error.retry_after is not None:
        # Not asked: Partner Center's shared health held it back; look again when calls may go.
        wait = timedelta(seconds=error.retry_after)
    elif isinstance(error, PartnerCenterThrottled) and error.retry_after:
        wait = max(wait, timedelta(seconds=error.retry_after))
    attestation.next_check_at = timezone.now() + wait
    attestation.last_error = error_text(error, retry_at=attestation.next_check_at)
    attestation.save(update_fields=["next_check_at", "last_error", "updated_at"])


def _signatory(record: AcceptanceRecord) -> Signatory:
    return Signatory(
        first_name=record.first_name,
        last_name=record.last_name,
        email=record.email,
        company_name=record.signatory_company,
        phone_number=record.phone or None,
    )


def _created(attestation: Attestation, answer: EnhancedAttestation) -> None:
    """Store Microsoft's link. A newer submission for the customer may have superseded this attestation while
    Microsoft was creating it: the link is kept (and logged) but the row stays superseded, so only the newest link
    is open. Same lock order as a submission: the customer, then the row, then the chain."""
    with transaction.atomic():
        lock_customer(attestation.key)
        state = Attestation.objects.select_for_update().filter(pk=attestation.pk).values_list("state", flat=True).get()
        attestation.attestation_id = answer.attestation_id
        attestation.acceptance_url = answer.acceptance_url
        attestation.expires_at = answer.expires_at
        attestation.attempts = 0
        attestation.last_error = ""
        if state == AttestationState.CREATING:
            attestation.state = AttestationState.PENDING
            attestation.next_check_at = timezone.now() + _poll_interval(1)
        else:
            attestation.state = state
            attestation.next_check_at = None
        attestation.save(
            update_fields=[
                "state",
                "attestation_id",
                "acceptance_url",
                "expires_at",
                "attempts",
                "last_error",
                "next_check_at",
                "updated_at",
            ]
        )
        _follow_up(
            attestation.form_record,
            RecordEvent.ATTESTATION_CREATED,
            attestation_id=answer.attestation_id,
            link_expires_at=answer.expires_at,
            microsoft_answer=_answer_text(answer.raw),
        )


def _accepted(attestation: Attestation, answer: EnhancedAttestation) -> None:
    accepted_at = answer.accepted_at or timezone.now()
    with transaction.atomic(), state_changes(attestation.key, source="signatory_accepted"):
        attestation.state = AttestationState.ACCEPTED
        attestation.accepted_at = accepted_at
        attestation.next_check_at = None
        attestation.last_error = ""
        attestation.save()
        story = attestation.form_record
        record = _follow_up(
            story,
            RecordEvent.SIGNATORY_ACCEPTED,
            **{
                "actor_username": story.email,
                "actor_display_name": f"{story.first_name} {story.last_name}",
                "actor_organisation": story.signatory_company,
            },
            attestation_id=attestation.attestation_id,
            tenant_id=str(attestation.account.partner_center_tenant_id or ""),
            evidence_class=EvidenceClass.SIGNATORY_AT_MICROSOFT,
            log_sufficient_as_proof=True,
            microsoft_answer=_answer_text(answer.raw),
        )
        remember_acceptance(
            key=attestation.key,
            kind=AcceptanceKind.SIGNATORY_AT_MICROSOFT,
            accepted_at=accepted_at,
            template_id=story.template_id,
            template_version_rank=story.template_version_rank,
            confirmed_by=f"{story.first_name} {story.last_name} (signatory, at Microsoft)",
            record=record,
            verified=True,
            source="signatory_accepted",
        )
        enqueue_delivery(record, attestation.account)


def _expired(attestation: Attestation, answer: EnhancedAttestation | None) -> None:
    with transaction.atomic(), state_changes(attestation.key, source="link_expired"):
        # Only an open link expires: a superseded one stays superseded (a whole-row save would resurrect it).
        values = {"state": AttestationState.EXPIRED, "next_check_at": None, "updated_at": timezone.now()}
        if answer is not None and answer.expires_at is not None:
            values["expires_at"] = answer.expires_at  # Microsoft may end a link before the expiry it announced
        Attestation.objects.filter(
            pk=attestation.pk, state__in=[AttestationState.CREATING, AttestationState.PENDING]
        ).update(**values)
        attestation.refresh_from_db(fields=["state", "next_check_at", "updated_at", "expires_at"])
        _follow_up(
            attestation.form_record,
            RecordEvent.LINK_EXPIRED,
            attestation_id=attestation.attestation_id,
            link_expires_at=attestation.expires_at,
            microsoft_answer=_answer_text(answer.raw) if answer is not None else "",
        )


def _settled_directly(attestation: Attestation) -> bool:
    """The customer accepted directly in the Microsoft 365 admin center meanwhile: that settles it too."""
    account = attestation.account
    if not account.is_synced:
        return False
    status = get_client().get_direct_signed_status(str(account.partner_center_tenant_id))
    if not status.is_signed:
        return False
    with transaction.atomic(), state_changes(attestation.key, source="direct_at_microsoft"):
        attestation.state = AttestationState.SUPERSEDED
        attestation.next_check_at = None
        attestation.last_error = "Settled: the customer accepted directly at Microsoft."
        attestation.save()
        remember_acceptance(
            key=attestation.key,
            kind=AcceptanceKind.DIRECT_AT_MICROSOFT,
            accepted_at=timezone.now(),
            verified=True,
            source="direct_at_microsoft",
        )
    return True


def advance_attestation(attestation_id: int) -> str | None:
    """Move one attestation on: ask Microsoft for its link, or whether the signatory accepted. Idempotent: a
    retried or concurrent call does nothing while another holds the claim. Returns the state afterwards."""
    attestation = _claim(attestation_id)
    if attestation is None:
        return None
    client = get_client()
    try:
        if attestation.state == AttestationState.CREATING:
            story = attestation.form_record
            answer = client.create_enhanced_attestation(
                _signatory(story),
                country=story.country,
                language=story.language,
                request_id=str(attestation.request_id),
            )
            _created(attestation, answer)
        else:
            answer = client.get_enhanced_attestation(attestation.attestation_id)
            if answer.status == AttestationStatus.ACCEPTED:
                _accepted(attestation, answer)
            elif answer.status == AttestationStatus.EXPIRED:
                _expired(attestation, answer)
            elif not _settled_directly(attestation):
                attestation.next_check_at = timezone.now() + _poll_interval(attestation.attempts)
                attestation.last_error = ""
                if answer.expires_at is not None:
                    attestation.expires_at = answer.expires_at  # Microsoft's expiresAt, as it reads now
                attestation.save(update_fields=["next_check_at", "last_error", "expires_at", "updated_at"])
    except PartnerCenterError as error:
        logger.warning("Attestation %s: Partner Center failed: %s", attestation.pk, error)
        _failed(attestation, error)
    return attestation.state


def due_attestation_ids(limit: int = 200) -> list[int]:
    """What is due at Microsoft, the longest waiting first. While Partner Center's shared circuit is open (or waits
    for its trial) only the first: it is the trial, the others would only be held back (each until the trial's
    timeouts have passed); once the trial closes the circuit the sweep runs again at once (mca.tasks) for the rest."""
    ids = list(
        Attestation.objects.filter(
            state__in=[AttestationState.CREATING, AttestationState.PENDING], next_check_at__lte=timezone.now()
        )
        .order_by("next_check_at")
        .values_list("pk", flat=True)[:limit]
    )
    if len(ids) > 1 and get_client().health.circuit_open():
        ids = ids[:1]
    return ids


def check_open_attestations_now(key: str) -> list[str | None]:
    """ "Check now": ask Microsoft about this customer's open attestations at once, whatever their schedule."""
    now = timezone.now()
    open_links = Attestation.objects.filter(key=key, state__in=[AttestationState.CREATING, AttestationState.PENDING])
    # However many pages poll ("Continue", a checkout's light poll, the BSS), Microsoft is asked about one link at
    # most once per MCA_ATTESTATION_MIN_CHECK_SECONDS: a claim or an answer touches `updated_at`.
    recent = now - timedelta(seconds=settings.MCA_ATTESTATION_MIN_CHECK_SECONDS)
    ids = list(open_links.filter(updated_at__lte=recent).values_list("pk", flat=True))
    Attestation.objects.filter(pk__in=ids).update(next_check_at=now)
    return [advance_attestation(pk) for pk in ids]


def _where(context: ConfirmationContext | None) -> dict[str, Any]:
    if context is None:
        return {}
    snapshot = log.context_snapshot(context)
    return {key: snapshot[key] for key in ("host", "ip_address", "user_agent")}


def withdraw_open_links(
    key: str, *, actor: AbstractBaseUser, context: ConfirmationContext, event: RecordEvent
) -> list[Attestation]:
    """Withdraw the customer's open links (call with the customer locked, in the caller's transaction): each is
    superseded here, its story gets an `event` record (who withdrew it, from where), and after commit Microsoft is
    asked to cancel it, so the signatory's old link answers "superseded"."""
    open_links = list(
        Attestation.objects.select_related("form_record").filter(
            key=key, state__in=[AttestationState.CREATING, AttestationState.PENDING]
        )
    )
    if not open_links:
        return []
    Attestation.objects.filter(pk__in=[link.pk for link in open_links]).update(
        state=AttestationState.SUPERSEDED, next_check_at=None, updated_at=timezone.now()
    )
    for link in open_links:
        log.append(
            AcceptanceRecord(
                **{
                    **log.follow_up_values(link.form_record),
                    **log.actor_snapshot(actor),
                    **_where(context),
                    "event": event,
                    "attestation_id": link.attestation_id,
                    "link_expires_at": link.expires_at,
                    "form_data": "{}",
                }
            )
        )
    at_microsoft = [link.attestation_id for link in open_links if link.attestation_id]
    if at_microsoft:
        transaction.on_commit(lambda: _cancel_at_microsoft(at_microsoft))
    return open_links


def _cancel_at_microsoft(attestation_ids: list[str]) -> None:
    """Best effort: a link Microsoft could not be told about stays superseded here; should its signatory accept it
    anyway, that is still the customer's acceptance, found by "Check now" or mca_reconcile."""
    client = get_client()
    for attestation_id in attestation_ids:
        try:
            client.cancel_enhanced_attestation(attestation_id)
        except PartnerCenterError as error:
            logger.warning("Could not withdraw attestation %s at Microsoft: %s", attestation_id, error)


def cancel_link(*, actor: AbstractBaseUser, account: Account, context: ConfirmationContext) -> list[Attestation]:
    """Cancel the acceptance link out with the customer's signatory (mistyped, or the wrong person): the customer is
    asked again (a new signatory can be named). Raises AcceptanceInvalid when no link is out."""
    ensure_can_confirm(actor, account)
    validate_context(context)
    key = knowledge_key(account)
    with transaction.atomic(), state_changes(key, source="link_cancelled"):
        lock_customer(key)
        withdrawn = withdraw_open_links(key, actor=actor, context=context, event=RecordEvent.LINK_CANCELLED)
    if not withdrawn:
        raise AcceptanceInvalid({"__all__": ["There is no acceptance link out to cancel for this customer."]})
    return withdrawn


def record_link_sent(
    *, actor: AbstractBaseUser, account: Account, context: ConfirmationContext | None, how: str
) -> AcceptanceRecord | None:
    """The log says how the customer's open link reached the signatory (e.g. e-mailed to the signatory only);
    None when no link is out."""
    attestation = (
        Attestation.objects.select_related("form_record")
        .filter(key=knowledge_key(account), state=AttestationState.PENDING)
        .order_by("-created_at", "-pk")
        .first()
    )
    if attestation is None:
        return None
    with transaction.atomic():
        return _append_link_sent(actor, attestation, attestation.form_record, context, how)


def _append_link_sent(
    actor: AbstractBaseUser,
    attestation: Attestation,
    story: AcceptanceRecord,
    context: ConfirmationContext,
    how: str,
) -> AcceptanceRecord:
    return log.append(
        AcceptanceRecord(
            **{
                **log.follow_up_values(story),
                **log.actor_snapshot(actor),
                **_where(context),
                "event": RecordEvent.LINK_SENT,
                "attestation_id": attestation.attestation_id,
                "link_expires_at": attestation.expires_at,
                "form_data": json.dumps({"delivered": how}, sort_keys=True, separators=(",", ":")),
            }
        )
    )


def reissue_link(*, actor: AbstractBaseUser, account: Account, context: ConfirmationContext) -> Outcome:
    """Issue a new acceptance link for the customer's latest submission (its link expired or was lost). The old
    link is superseded and stays in the log; the re-issue is a record of its own."""
    latest = (
        Attestation.objects.filter(key=knowledge_key(account))
        .exclude(state=AttestationState.ACCEPTED)
        .select_related("form_record")
        .order_by("-created_at")
        .first()
    )
    if latest is None:
        raise AcceptanceInvalid({"__all__": ["There is no acceptance link to send again for this customer."]})
    validate_context(context)
    with transaction.atomic(), state_changes(knowledge_key(account), source="link_reissued"):
        lock_customer(knowledge_key(account))
        Attestation.objects.filter(
            key=knowledge_key(account), state__in=[AttestationState.CREATING, AttestationState.PENDING]
        ).update(state=AttestationState.SUPERSEDED, next_check_at=None)
        replaced = [latest.attestation_id] if latest.is_open and latest.attestation_id else []
        if replaced:  # the old link is withdrawn at Microsoft too: the re-issue record below says why
            transaction.on_commit(lambda: _cancel_at_microsoft(replaced))
        story = latest.form_record
        log.append(
            AcceptanceRecord(
                **{**log.follow_up_values(story), **log.actor_snapshot(actor)},
                **{
                    key: value
                    for key, value in log.context_snapshot(context).items()
                    if key in ("host", "ip_address", "user_agent")
                },
                event=RecordEvent.LINK_REISSUED,
                link_expires_at=latest.expires_at,
                form_data="{}",
            )
        )
        attestation = _new_attestation(story, account)
    attestation.refresh_from_db()
    return Outcome(OutcomeKind.PENDING_SIGNATORY, story, attestation)
