"""Acceptance campaigns (issue 19, item 4): staff choose accounts, and each account's signatory is e-mailed
Microsoft's acceptance link (enhanced flow, through the gate), reminded after N days, and sent a new link when the
old one expires. docs/campaigns.md tells the whole story.

    campaign = start_campaign(actor=user, name="Stale Contoso customers", states=[McaState.STALE], reseller=contoso,
                              authority_confirmed=True)
    send_one(send_id)          # the Celery task's body: claim the row, submit through the gate, e-mail, record
    sweep()                    # the beat: due and abandoned sends, accepted/expired links, reminders

Idempotent by construction: one `CampaignSend` per account per campaign and one open campaign per account (unique
constraints); a worker claims a row with a lease before it acts; the gate's submission carries an idempotency key
per row, so a repeated or resumed send gets the same Microsoft link back instead of a second one; and the e-mail
hand-off is marked before it starts, so a worker killed during it never causes a second copy.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import timezone

from bss.choices import CampaignSendState, Channel, SignatorySource
from bss.models import Account, Campaign, CampaignSend, Contact, Membership, Reseller
from bss.services import notify
from mca import gate
from mca.choices import AttestationState, RecordEvent
from mca.models import AcceptanceRecord, Attestation

logger = logging.getLogger(__name__)

# The states a campaign may be started for: the customer must (again) accept and no link is out with anyone.
CAMPAIGN_STATES = (gate.McaState.REQUIRED, gate.McaState.STALE, gate.McaState.EXPIRED)
OPEN = (CampaignSendState.QUEUED, CampaignSendState.SENDING, CampaignSendState.SENT)
PROGRESS = (
    CampaignSendState.QUEUED,
    CampaignSendState.SENDING,
    CampaignSendState.SENT,
    CampaignSendState.ACCEPTED,
    CampaignSendState.EXPIRED,
    CampaignSendState.BOUNCED,
    CampaignSendState.FAILED,
    CampaignSendState.NEEDS_SIGNATORY,
    CampaignSendState.SKIPPED,
)

# How a send is queued: the Celery task, registered when the app is ready (bss.services may not import bss.tasks).
_queue_send: Callable[[int], object] | None = None


def queue_sends_with(queue: Callable[[int], object]) -> None:
    global _queue_send
    _queue_send = queue


def _queue_after_commit(send_ids: Sequence[int]) -> None:
    if _queue_send is None:
        raise RuntimeError("bss.services.campaigns: no send queue registered (BssConfig.ready does it)")
    queue, ids = _queue_send, list(send_ids)

    def publish() -> None:
        for send_id in ids:
            queue(send_id)

    transaction.on_commit(publish)


class CampaignInvalid(Exception):
    """The campaign cannot be started or extended as asked: a message per field; nothing was written."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(message for messages in errors.values() for message in messages))
        self.errors = errors


@dataclass(frozen=True)
class Signatory:
    first_name: str
    last_name: str
    email: str
    phone: str
    source: str


@dataclass
class Added:
    """What starting or extending a campaign did with each chosen account."""

    campaign: Campaign
    queued: list[int] = field(default_factory=list)
    needs_signatory: list[int] = field(default_factory=list)
    # Account id -> the campaign it is already open in (its link is not withdrawn by a second campaign).
    elsewhere: dict[int, str] = field(default_factory=dict)
    not_eligible: list[int] = field(default_factory=list)


def _setting(name: str, default: float) -> float:
    return getattr(settings, name, default)


# --- choosing accounts ------------------------------------------------------------------------------------------


def campaigns_visible_to(user: AbstractBaseUser) -> QuerySet[Campaign]:
    return Campaign.objects.visible_to(user)


def _scope_reseller(actor: AbstractBaseUser) -> Reseller | None:
    membership = Membership.of(actor)
    return membership.reseller if membership is not None and membership.reseller_id else None


def eligible_accounts(
    actor: AbstractBaseUser,
    *,
    states: Iterable[str] = CAMPAIGN_STATES,
    reseller: Reseller | None = None,
    direct_only: bool = False,
    account_ids: Iterable[int] | None = None,
) -> list[Account]:
    """The accounts `actor` may see whose MCA state (the state model, no Partner Center call) is one of `states`:
    a reseller's customers (`reseller`), the CSP's direct ones (`direct_only`), or a hand-picked list."""
    wanted = {str(state) for state in states}
    accounts = Account.objects.visible_to(actor).order_by("pk")
    if reseller is not None:
        accounts = accounts.filter(reseller=reseller)
    elif direct_only:
        accounts = accounts.filter(reseller__isnull=True)
    if account_ids is not None:
        accounts = accounts.filter(pk__in=list(account_ids))
    accounts = list(accounts)
    known = gate.states_for(accounts, viewer=actor)
    return [account for account in accounts if str(known[account.pk].code) in wanted]


def signatories_for(accounts: Sequence[Account]) -> dict[int, Signatory]:
    """Each account's signatory: its primary contact (else any contact), else the last signatory named in the
    acceptance log (a submitted form or a legacy confirmation). An account with neither is absent: it is listed
    as "needs a signatory", never guessed. Two queries whatever the number of accounts."""
    ids = [account.pk for account in accounts]
    found: dict[int, Signatory] = {}
    for contact in Contact.objects.filter(account_id__in=ids).exclude(email="").order_by("account_id", "-is_primary"):
        found.setdefault(
            contact.account_id,
            Signatory(
                contact.first_name, contact.last_name, contact.email, str(contact.phone or ""), SignatorySource.CONTACT
            ),
        )
    missing = [pk for pk in ids if pk not in found]
    if missing:
        records = (
            AcceptanceRecord.objects.filter(
                account_id__in=missing,
                event__in=[RecordEvent.FORM_SUBMITTED, RecordEvent.LEGACY_CONFIRMATION],
            )
            .exclude(email="")
            .order_by("account_id", "-sequence")
            .values_list("account_id", "first_name", "last_name", "email", "phone")
        )
        for account_id, first, last, email, phone in records:
            found.setdefault(account_id, Signatory(first, last, email, phone or "", SignatorySource.RECORDS))
    return found


# --- starting and extending ------------------------------------------------------------------------------------


def _ensure_may_run(actor: AbstractBaseUser) -> None:
    if settings.MCA_ATTESTATION_FLOW != "enhanced":
        raise CampaignInvalid({"__all__": ["Campaigns send Microsoft's acceptance links: the enhanced flow only."]})
    if not actor.is_authenticated or not actor.has_perm("bss.confirm_mca_acceptance"):
        raise PermissionDenied("You may not send acceptance links for customers.")
    membership = Membership.of(actor)
    if not actor.is_superuser and (membership is None or membership.role not in ("csp_bss", "wl_bss", "admin")):
        raise PermissionDenied("Campaigns are run by CSP and white-label BSS staff.")


def _chosen(
    actor: AbstractBaseUser,
    *,
    states: Iterable[str],
    reseller: Reseller | None,
    direct_only: bool,
    account_ids: Sequence[int] | None,
) -> tuple[list[Account], list[int]]:
    """The eligible accounts and the hand-picked ones that are not eligible. A hand-picked account the actor may not
    see (another reseller's, or no such account) refuses the whole request: nothing is written."""
    if account_ids is not None:
        ids = sorted({int(pk) for pk in account_ids})
        visible = set(Account.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))
        foreign = [pk for pk in ids if pk not in visible]
        if foreign:
            raise CampaignInvalid(
                {"accounts": [f"No such account among your customers: {', '.join(str(pk) for pk in foreign)}."]}
            )
        accounts = eligible_accounts(actor, states=states, account_ids=ids)
        eligible = {account.pk for account in accounts}
        return accounts, [pk for pk in ids if pk not in eligible]
    if reseller is not None and not Account.objects.visible_to(actor).filter(reseller=reseller).exists():
        own = _scope_reseller(actor)
        if own is not None and own.pk != reseller.pk:
            raise CampaignInvalid({"reseller": ["You may only run campaigns for your own customers."]})
    return eligible_accounts(actor, states=states, reseller=reseller, direct_only=direct_only), []


def _add(campaign: Campaign, accounts: list[Account], added: Added) -> None:
    """Insert one send per account (the unique constraints skip an account already in this or another open
    campaign), then queue the new rows after commit."""
    found = signatories_for(accounts)
    rows = []
    for account in accounts:
        who = found.get(account.pk)
        if who is None:
            rows.append(CampaignSend(campaign=campaign, account=account, state=CampaignSendState.NEEDS_SIGNATORY))
            continue
        rows.append(
            CampaignSend(
                campaign=campaign,
                account=account,
                signatory_first_name=who.first_name[:100],
                signatory_last_name=who.last_name[:100],
                signatory_email=who.email,
                signatory_phone=who.phone[:40],
                signatory_source=who.source,
            )
        )
    CampaignSend.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    ids = [account.pk for account in accounts]
    mine = dict(CampaignSend.objects.filter(campaign=campaign, account_id__in=ids).values_list("account_id", "state"))
    for account in accounts:
        state = mine.get(account.pk)
        if state == CampaignSendState.QUEUED:
            added.queued.append(account.pk)
        elif state == CampaignSendState.NEEDS_SIGNATORY:
            added.needs_signatory.append(account.pk)
    others = [pk for pk in ids if pk not in mine]
    if others:
        for account_id, name in CampaignSend.objects.filter(account_id__in=others, state__in=OPEN).values_list(
            "account_id", "campaign__name"
        ):
            added.elsewhere[account_id] = name
    new_ids = list(
        CampaignSend.objects.filter(
            campaign=campaign, account_id__in=added.queued, state=CampaignSendState.QUEUED, attempts=0
        ).values_list("pk", flat=True)
    )
    _queue_after_commit(new_ids)


def start_campaign(
    *,
    actor: AbstractBaseUser,
    name: str,
    authority_confirmed: bool,
    states: Iterable[str] = CAMPAIGN_STATES,
    reseller: Reseller | None = None,
    direct_only: bool = False,
    account_ids: Sequence[int] | None = None,
    reminder_days: int | None = None,
    sender: str = "",
) -> Added:
    """Start a campaign over the accounts `actor` chose: all of a reseller's (or the CSP's direct, or any visible)
    accounts in `states`, or a hand-picked list. The actor declares that each named signatory may accept for
    the customer (the enhanced form's declaration, made once for the campaign). Raises PermissionDenied or
    CampaignInvalid (nothing written)."""
    _ensure_may_run(actor)
    errors: dict[str, list[str]] = {}
    if not (name or "").strip():
        errors["name"] = ["Give the campaign a name."]
    if not authority_confirmed:
        errors["authority_confirmed"] = ["Confirm that the signatories are authorised to accept for their customers."]
    states = [str(state) for state in states]
    bad = [state for state in states if state not in {str(s) for s in CAMPAIGN_STATES}]
    if bad or not states:
        errors["states"] = [f"Choose states among {', '.join(str(s) for s in CAMPAIGN_STATES)}."]
    if reminder_days is not None and reminder_days < 1:
        errors["reminder_days"] = ["Reminders come at least one day after a send."]
    if errors:
        raise CampaignInvalid(errors)
    own = _scope_reseller(actor)
    if own is not None and reseller is not None and reseller.pk != own.pk:
        raise CampaignInvalid({"reseller": ["You may only run campaigns for your own customers."]})
    accounts, not_eligible = _chosen(
        actor, states=states, reseller=reseller, direct_only=direct_only, account_ids=account_ids
    )
    if not accounts:
        raise CampaignInvalid({"accounts": ["No chosen account needs the agreement (required, stale or expired)."]})
    with transaction.atomic():
        campaign = Campaign.objects.create(
            name=name.strip()[:200],
            reseller=own,
            created_by=actor,
            selection=_selection_text(states, reseller, direct_only, account_ids)[:300],
            reminder_days=reminder_days or int(_setting("CAMPAIGN_REMINDER_DAYS", 3)),
            max_reminders=int(_setting("CAMPAIGN_MAX_REMINDERS", 2)),
            sender=(sender or (own.display_name if own is not None else ""))[:200],
        )
        added = Added(campaign, not_eligible=not_eligible)
        _add(campaign, accounts, added)
    return added


def extend_campaign(
    *,
    actor: AbstractBaseUser,
    campaign: Campaign,
    account_ids: Sequence[int] | None = None,
    states: Iterable[str] = CAMPAIGN_STATES,
) -> Added:
    """Add accounts to a campaign (accounts already in it are left as they are). The campaign must be visible to
    the actor and every account theirs: PermissionDenied / CampaignInvalid otherwise, nothing written."""
    _ensure_may_run(actor)
    if not campaigns_visible_to(actor).filter(pk=campaign.pk).exists():
        raise PermissionDenied("No such campaign among yours.")
    reseller = campaign.reseller
    accounts, not_eligible = _chosen(
        actor, states=states, reseller=reseller, direct_only=False, account_ids=account_ids
    )
    if reseller is not None:
        outside = [account.pk for account in accounts if account.reseller_id != reseller.pk]
        if outside:
            raise CampaignInvalid({"accounts": ["A reseller's campaign holds only that reseller's customers."]})
    with transaction.atomic():
        added = Added(campaign, not_eligible=not_eligible)
        _add(campaign, accounts, added)
    return added


def _selection_text(states: list[str], reseller: Reseller | None, direct: bool, ids: Sequence[int] | None) -> str:
    which = ", ".join(states)
    if ids is not None:
        return f"{len(set(ids))} hand-picked account(s) in state {which}"
    if reseller is not None:
        return f"{reseller.name}'s customers in state {which}"
    return f"{'CSP direct' if direct else 'All visible'} customers in state {which}"


# --- sending ------------------------------------------------------------------------------------------------------


def _claim(send_id: int) -> CampaignSend | None:
    """Take a due queued row, or one whose worker's lease ran out (the worker died), for one attempt."""
    now = timezone.now()
    with transaction.atomic():
        row = (
            CampaignSend.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("campaign", "campaign__created_by", "account")
            .filter(pk=send_id)
            .first()
        )
        if row is None:
            return None
        due = row.state == CampaignSendState.QUEUED and row.due_at <= now
        abandoned = row.state == CampaignSendState.SENDING and (row.lease_until is None or row.lease_until <= now)
        if not (due or abandoned):
            return None
        row.state = CampaignSendState.SENDING
        row.lease_until = now + timedelta(seconds=_setting("CAMPAIGN_SEND_LEASE_SECONDS", 300))
        row.attempts += 1
        row.save(update_fields=["state", "lease_until", "attempts", "updated_at"])
        return row


def _finish(row: CampaignSend, state: str, error: str = "", **values: object) -> str:
    row.state = state
    row.lease_until = None
    row.last_error = error[:500]
    for name, value in values.items():
        setattr(row, name, value)
    row.save()
    return state


def _retry_later(row: CampaignSend, error: str) -> str:
    if row.attempts >= int(_setting("CAMPAIGN_MAX_ATTEMPTS", 5)):
        return _finish(row, CampaignSendState.FAILED, f"Gave up after {row.attempts} attempts: {error}")
    wait = timedelta(seconds=_setting("CAMPAIGN_RETRY_SECONDS", 60) * 2 ** (row.attempts - 1))
    return _finish(row, CampaignSendState.QUEUED, error, due_at=timezone.now() + wait, email_started_at=None)


def _context(row: CampaignSend) -> gate.ConfirmationContext:
    # One key per row: a repeated or resumed submission replays the first one (same record, same Microsoft link).
    return gate.ConfirmationContext(
        channel=Channel.BSS_CAMPAIGN, idempotency_key=f"campaign:{row.campaign_id}:send:{row.pk}"
    )


def _form_data(row: CampaignSend) -> dict[str, str]:
    return {
        "signatory_first_name": row.signatory_first_name,
        "signatory_last_name": row.signatory_last_name,
        "signatory_email": row.signatory_email,
        "signatory_phone": row.signatory_phone,
        "company_name": row.account.name,
        "authority_confirmed": "on",  # declared by the campaign's author when starting it
    }


def _link_expired(attestation: Attestation | None) -> bool:
    if attestation is None:
        return False
    if attestation.state == AttestationState.EXPIRED:
        return True
    return attestation.state == AttestationState.PENDING and bool(
        attestation.expires_at and attestation.expires_at <= timezone.now()
    )


def _errors_text(error: Exception) -> str:
    messages = getattr(error, "message_dict", None)
    if isinstance(messages, dict):
        return "; ".join(f"{key}: {' '.join(str(m) for m in value)}" for key, value in messages.items())
    return str(error)


def send_one(send_id: int) -> str | None:
    """Send one campaign row's link (the task's body; safe to run twice, or after a worker died at any point).
    Returns the row's state afterwards, or None when another worker holds it or nothing is due."""
    row = _claim(send_id)
    if row is None:
        return None
    if row.email_started_at is not None:
        # A worker stopped while handing the e-mail to the mail server: it may have gone out. Never a second copy
        # (the reminder follows in N days); the link itself was recorded before the hand-off.
        return _finish(
            row,
            CampaignSendState.SENT,
            "A worker stopped while handing this e-mail to the mail server; not sent again.",
            sent_at=row.sent_at or row.email_started_at,
            email_started_at=None,
            emails=row.emails + 1,
        )
    account, actor, campaign = row.account, row.campaign.created_by, row.campaign
    if gate.states_for([account], viewer=actor)[account.pk].code == gate.McaState.ACCEPTED:
        state = CampaignSendState.ACCEPTED if row.sent_at else CampaignSendState.SKIPPED
        return _finish(row, state, accepted_at=timezone.now())
    context = _context(row)
    kind = notify.CAMPAIGN_FIRST if row.sent_at is None else notify.CAMPAIGN_REISSUED
    try:
        outcome = gate.submit_acceptance(actor=actor, account=account, data=_form_data(row), context=context)
        attestation = outcome.attestation
        if attestation is not None and attestation.state == AttestationState.SUPERSEDED:
            return _finish(
                row, CampaignSendState.FAILED, "This link was withdrawn (another signatory was named meanwhile)."
            )
        if _link_expired(attestation):
            # The link this row sent expired: a new one for the same signatory (the old stays in the log).
            if not campaign.reissue_expired or row.reissues >= int(_setting("CAMPAIGN_MAX_REISSUES", 3)):
                return _finish(row, CampaignSendState.EXPIRED, "The link expired; no new link is sent automatically.")
            outcome = gate.resend_link(actor=actor, account=account, context=context)
            attestation = outcome.attestation
            row.reissues += 1
            row.save(update_fields=["reissues", "updated_at"])
            kind = notify.CAMPAIGN_REISSUED
    except PermissionDenied as error:
        return _finish(row, CampaignSendState.FAILED, f"{campaign.created_by} may no longer confirm: {error}")
    except (gate.AcceptanceInvalid, gate.IdempotencyConflict) as error:
        return _finish(row, CampaignSendState.FAILED, _errors_text(error))
    if attestation is not None and not outcome.link and attestation.state == AttestationState.CREATING:
        # A worker died while Microsoft was issuing this link: ask again now (same MS-RequestId, once the dead
        # worker's short claim on the attestation is over) rather than wait for the attestation poller.
        gate.check_now(account)
        attestation.refresh_from_db()
        if attestation.acceptance_url:
            return _email(row, attestation, attestation.acceptance_url, attestation.expires_at, kind, context)
    if attestation is None or not attestation.acceptance_url:
        # Microsoft has not issued the link yet (Partner Center unreachable or slow): the same submission is
        # replayed later, and the attestation poller keeps asking with the same MS-RequestId meanwhile.
        last = attestation.last_error if attestation is not None else ""
        return _retry_later(row, last or "Partner Center has not issued the acceptance link yet.")
    return _email(row, attestation, outcome.link, outcome.expires_at, kind, context)


def _email(
    row: CampaignSend,
    attestation: Attestation,
    link: str,
    expires_at: datetime | None,
    kind: str,
    context: gate.ConfirmationContext,
) -> str:
    row.attestation_pk = attestation.pk
    row.link_expires_at = expires_at
    row.email_started_at = timezone.now()
    row.save(update_fields=["attestation_pk", "link_expires_at", "email_started_at", "updated_at"])
    try:
        notify.send_campaign_link(
            account=row.account,
            to=row.signatory_email,
            name=row.signatory_name,
            link=link,
            expires_at=expires_at,
            kind=kind,
            sender=row.campaign.sender,
        )
    except smtplib.SMTPRecipientsRefused as error:
        return _finish(
            row, CampaignSendState.BOUNCED, f"The mail server refused the address: {error}", bounced_at=timezone.now()
        )
    except (smtplib.SMTPException, OSError) as error:
        return _retry_later(row, f"The mail server could not take the e-mail: {error}")
    masked = gate.mask_email(row.signatory_email)
    with transaction.atomic():
        gate.record_link_sent(
            actor=row.campaign.created_by,
            account=row.account,
            context=context,
            how=f"e-mailed by campaign {row.campaign_id} to the signatory only ({masked})",
        )
        return _finish(
            row,
            CampaignSendState.SENT,
            sent_at=row.sent_at or timezone.now(),
            email_started_at=None,
            emails=row.emails + 1,
        )


# --- the sweep: progress, expired links, reminders, abandoned rows ---------------------------------------------


def sync_progress(limit: int = 5000) -> int:
    """Rows whose link was accepted become "accepted" (read from the attestations, no Partner Center call); rows
    whose link expired go back to the queue, where `send_one` re-issues it (or marks them expired)."""
    now = timezone.now()
    accepted = Attestation.objects.filter(state=AttestationState.ACCEPTED).values("pk")
    changed = CampaignSend.objects.filter(state=CampaignSendState.SENT, attestation_pk__in=accepted).update(
        state=CampaignSendState.ACCEPTED, accepted_at=now, updated_at=now
    )
    expired = Attestation.objects.filter(
        Q(state=AttestationState.EXPIRED) | Q(state=AttestationState.PENDING, expires_at__lte=now)
    ).values("pk")
    ids = list(
        CampaignSend.objects.filter(state=CampaignSendState.SENT, attestation_pk__in=expired).values_list(
            "pk", flat=True
        )[:limit]
    )
    if ids:
        CampaignSend.objects.filter(pk__in=ids, state=CampaignSendState.SENT).update(
            state=CampaignSendState.QUEUED, due_at=now, updated_at=now
        )
        _publish(ids)
    return changed + len(ids)


# "Check now" on a campaign page asks Microsoft about this many of its links at most (the beat's poller does the rest).
CHECK_NOW_LIMIT = 25


def check_links_now(campaign: Campaign, limit: int = CHECK_NOW_LIMIT) -> int:
    """The campaign page's "Check now" (and where no beat runs, as in `make run`): ask Microsoft at once about the
    links still out (the oldest `limit` rows, through the gate's "Check now"), then settle the rows whose link was
    accepted or expired, as the sweep does. Returns the rows settled."""
    rows = campaign.sends.filter(state=CampaignSendState.SENT).select_related("account").order_by("pk")[:limit]
    for row in rows:
        gate.check_now(row.account)
    return sync_progress()


def send_due_reminders(limit: int = 1000) -> int:
    """A reminder with the same link to each signatory who has not accepted `reminder_days` after the send (or the
    last reminder), up to the campaign's `max_reminders`. Each reminder is claimed by a conditional update before
    the e-mail, so two sweeps never send the same reminder twice."""
    now = timezone.now()
    sent = 0
    for campaign in Campaign.objects.filter(sends__state=CampaignSendState.SENT).distinct():
        cutoff = now - timedelta(days=campaign.reminder_days)
        due = (
            campaign.sends.filter(state=CampaignSendState.SENT, reminders__lt=campaign.max_reminders)
            .filter(Q(last_reminded_at__lte=cutoff) | Q(last_reminded_at__isnull=True, sent_at__lte=cutoff))
            .select_related("account", "campaign")[:limit]
        )
        for row in due:
            attestation = Attestation.objects.filter(pk=row.attestation_pk, state=AttestationState.PENDING).first()
            if attestation is None or _link_expired(attestation) or not attestation.acceptance_url:
                continue
            claimed = CampaignSend.objects.filter(
                pk=row.pk, state=CampaignSendState.SENT, reminders=row.reminders
            ).update(reminders=row.reminders + 1, last_reminded_at=now, updated_at=now)
            if not claimed:
                continue
            try:
                notify.send_campaign_link(
                    account=row.account,
                    to=row.signatory_email,
                    name=row.signatory_name,
                    link=attestation.acceptance_url,
                    expires_at=attestation.expires_at,
                    kind=notify.CAMPAIGN_REMINDER,
                    sender=campaign.sender,
                )
            except smtplib.SMTPRecipientsRefused as error:
                CampaignSend.objects.filter(pk=row.pk).update(
                    state=CampaignSendState.BOUNCED, bounced_at=now, last_error=f"Reminder refused: {error}"[:500]
                )
                continue
            except (smtplib.SMTPException, OSError) as error:
                logger.warning("Campaign reminder for send %s not sent: %s", row.pk, error)
                continue
            CampaignSend.objects.filter(pk=row.pk).update(emails=row.emails + 1)
            sent += 1
    return sent


def due_send_ids(limit: int = 1000) -> list[int]:
    """Rows whose message is missing: retries that came due (no message was published for them), rows whose worker
    died (lease over), and rows left queued for a whole lease (their message was lost). A row just published has
    its message in the queue and is left alone, so a sweep never floods the queue with copies."""
    now = timezone.now()
    quiet = now - timedelta(seconds=_setting("CAMPAIGN_SEND_LEASE_SECONDS", 300))
    return list(
        CampaignSend.objects.filter(
            Q(state=CampaignSendState.QUEUED, due_at__lte=now)
            & (Q(updated_at__lt=F("due_at")) | Q(updated_at__lte=quiet))
            | Q(state=CampaignSendState.SENDING, lease_until__lte=now)
            & (Q(updated_at__lt=F("lease_until")) | Q(updated_at__lte=quiet))
        )
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )


def _publish(ids: Sequence[int]) -> None:
    """Queue `ids` again, marking them published (`updated_at`) so the next sweep leaves them to their message."""
    if ids:
        with transaction.atomic():
            CampaignSend.objects.filter(pk__in=list(ids)).update(updated_at=timezone.now())
            _queue_after_commit(ids)


def sweep() -> dict[str, int]:
    """The beat task's body."""
    progressed = sync_progress()
    reminded = send_due_reminders()
    ids = due_send_ids()
    _publish(ids)
    return {"progressed": progressed, "reminded": reminded, "queued": len(ids)}


# --- bounces and progress -----------------------------------------------------------------------------------------


def mark_bounced(*, email: str, reason: str = "", campaign: Campaign | None = None) -> int:
    """A bounce reported after the send (a delivery-status notification read by the mail system, or staff told by
    the customer): the open rows e-mailed to `email` become "bounced" and get no reminders. Returns the rows."""
    rows = CampaignSend.objects.filter(
        signatory_email__iexact=(email or "").strip(), state__in=[CampaignSendState.SENT, CampaignSendState.SENDING]
    )
    if campaign is not None:
        rows = rows.filter(campaign=campaign)
    now = timezone.now()
    return rows.update(
        state=CampaignSendState.BOUNCED,
        bounced_at=now,
        lease_until=None,
        last_error=(f"Bounce reported: {reason}" if reason else "Bounce reported")[:500],
        updated_at=now,
    )


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]
    total: int
    emails: int
    reminders: int
    reissues: int

    def __getitem__(self, state: str) -> int:
        # KeyError for anything but a state, so templates fall back to the properties (links_sent, ...).
        return self.counts[str(state)]

    @property
    def links_sent(self) -> int:
        """Links out with a signatory or settled after a send (sent, accepted, expired later)."""
        return self["sent"] + self["accepted"] + self["expired"]

    @property
    def links_expired(self) -> int:
        """Links that expired: re-issued ones plus those left expired."""
        return self.reissues + self["expired"]


def progress(campaign: Campaign) -> Progress:
    """The campaign's counts: two queries."""
    return progress_for([campaign])[campaign.pk]


def progress_for(shown: Sequence[Campaign]) -> dict[int, Progress]:
    """Per campaign id, its counts: two queries whatever the number of campaigns (the list page)."""
    ids = [campaign.pk for campaign in shown]
    counts: dict[int, dict[str, int]] = {pk: {} for pk in ids}
    rows = CampaignSend.objects.filter(campaign_id__in=ids).order_by().values_list("campaign_id", "state")
    for campaign_id, state, n in rows.annotate(n=Count("pk")):
        counts[campaign_id][state] = n
    totals = {
        row["campaign_id"]: row
        for row in CampaignSend.objects.filter(campaign_id__in=ids)
        .order_by()
        .values("campaign_id")
        .annotate(emails=Sum("emails"), reminders=Sum("reminders"), reissues=Sum("reissues"))
    }
    result = {}
    for pk in ids:
        total = totals.get(pk, {})
        result[pk] = Progress(
            counts={str(state): counts[pk].get(state, 0) for state in PROGRESS},
            total=sum(counts[pk].values()),
            emails=total.get("emails") or 0,
            reminders=total.get("reminders") or 0,
            reissues=total.get("reissues") or 0,
        )
    return result
