"""One MCA state per customer, the same words on every page (issue 18): required, pending, accepted, expired,
stale or unknown, with a sentence and the next action for the viewer's role.

Two ways to get it, both through the gate:

- `gate.state_for(account, viewer=user)` — one customer, from the gate's full decision (R2-R4a; may ask Partner
  Center within its budget, like any check). For detail pages, the checkout and the API's account view.
- `gate.states_for(accounts, viewer=user)` — many customers in a fixed number of queries and no Partner Center call
  (lists: the customer picker, the BSS customer list and dashboard, My agreements, the admin). A synced customer
  with nothing known here and no recent answer from Partner Center is `unknown` ("not asked yet").

A link's expiry is read from Microsoft's `expiresAt` (stored with the attestation at each answer) against the clock
at every read, so a link past its expiry is `expired` at once, before any poll says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.utils import timezone

from bss.choices import Role
from bss.models import Account, Membership
from mca import sentences
from mca.choices import AttestationState, ReasonCode
from mca.knowledge import knowledge_key, still_counts
from mca.models import Attestation, CustomerKnowledge
from mca.rules import cloud_agreement_counts
from mca.status import remembered_answers

if TYPE_CHECKING:
    from mca.gate import Decision


class McaState(models.TextChoices):
    REQUIRED = "required", "Required"
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    STALE = "stale", "Renewal required"
    UNKNOWN = "unknown", "Unknown"


# How an account counts as accepted through R4 (the Cloud Agreement before the cut-over): the readiness forecast
# reads it to apply the cut-over on the day of a planned change.
CLOUD_AGREEMENT_HOW = "Microsoft Cloud Agreement"

# Who looks decides what "next" means: the customer's own user, a reseller user, or CSP / white-label staff.
CUSTOMER, RESELLER, STAFF = "customer", "reseller", "staff"

_NEXT_ACTION: dict[str, dict[str, str]] = {
    McaState.REQUIRED: {
        CUSTOMER: "Name your company's signatory at checkout (Service Details); Microsoft's page asks them to accept.",
        RESELLER: "Name the customer's signatory at checkout; the link is e-mailed to the signatory only.",
        STAFF: "Name the customer's signatory when executing an order, or on the customer's page.",
    },
    McaState.STALE: {
        CUSTOMER: "Accept the current agreement: name your company's signatory at checkout.",
        RESELLER: "Name a signatory at checkout to accept the current agreement (not the person of the old one).",
        STAFF: "Name a signatory to accept the current agreement, or send the customer the admin-center link.",
    },
    McaState.PENDING: {
        CUSTOMER: "Wait for your signatory to accept at Microsoft; you can send the link again or change the "
        "signatory.",
        RESELLER: "Wait for the signatory to accept; you can send the link again or change the signatory.",
        STAFF: "Wait for the signatory to accept; you can send the link again or change the signatory.",
    },
    McaState.EXPIRED: {
        CUSTOMER: "Send a new link, or name another signatory.",
        RESELLER: "Send a new link, or name another signatory.",
        STAFF: "Send a new link, or name another signatory.",
    },
    McaState.UNKNOWN: {
        CUSTOMER: "Open checkout: it asks Microsoft again, or asks you to accept.",
        RESELLER: "Open the customer at checkout: it asks Microsoft again, or asks you to name a signatory.",
        STAFF: "Open the customer's page and use “Check now”.",
    },
    McaState.ACCEPTED: {CUSTOMER: "Nothing to do.", RESELLER: "Nothing to do.", STAFF: "Nothing to do."},
}

_STATE_BY_REASON = {
    ReasonCode.PENDING_SIGNATORY: McaState.PENDING,
    ReasonCode.LINK_EXPIRED: McaState.EXPIRED,
    ReasonCode.STALE_ATTESTATION: McaState.STALE,
    ReasonCode.PARTNER_CENTER_UNAVAILABLE: McaState.UNKNOWN,
    ReasonCode.PARTNER_CENTER_THROTTLED: McaState.UNKNOWN,
    ReasonCode.PARTNER_CENTER_SLOW: McaState.UNKNOWN,
    ReasonCode.PARTNER_CENTER_BAD_RESPONSE: McaState.UNKNOWN,
}


def mask_email(email: str) -> str:
    """`n****@contoso.com`: enough for the person who typed it to recognise it, not enough to reach the signatory."""
    local, at, domain = (email or "").partition("@")
    if not at:
        return "****" if email else ""
    return f"{local[:1]}****@{domain}"


def is_signatory(viewer: AbstractBaseUser | AnonymousUser | None, email: str) -> bool:
    """Is `viewer` the signatory named with `email`? Only they see Microsoft's link (issue 17, item 6)."""
    own = (getattr(viewer, "email", "") or "").strip().lower()
    return bool(own) and own == (email or "").strip().lower()


@dataclass(frozen=True)
class CustomerMcaState:
    """Where one customer stands with the MCA, for one viewer."""

    code: McaState
    sentence: str
    next_action: str
    accepted_how: str = ""
    accepted_at: datetime | None = None
    verified_at: datetime | None = None
    link_expires_at: datetime | None = None
    signatory_name: str = ""
    signatory_email_masked: str = ""

    @property
    def label(self) -> str:
        return McaState(self.code).label

    @property
    def tooltip(self) -> str:
        return f"{self.sentence}. {self.next_action}"

    def as_dict(self) -> dict[str, Any]:
        """The state as the API shows it (`mca_state`)."""
        return {
            "code": str(self.code),
            "label": self.label,
            "sentence": self.sentence,
            "next_action": self.next_action,
            "accepted_how": self.accepted_how or None,
            "accepted_at": self.accepted_at.isoformat() if self.accepted_at else None,
            "verified_at": self.verified_at.isoformat() if self.verified_at else None,
            "link_expires_at": self.link_expires_at.isoformat() if self.link_expires_at else None,
            "signatory_name": self.signatory_name or None,
            "signatory_email": self.signatory_email_masked or None,
        }


def viewer_kind(viewer: AbstractBaseUser | AnonymousUser | None) -> str:
    membership = Membership.of(viewer) if viewer is not None else None
    if membership is None:
        return STAFF
    if membership.role == Role.CUSTOMER:
        return CUSTOMER
    if membership.role == Role.RESELLER:
        return RESELLER
    return STAFF


def _day(moment: datetime | None) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M} UTC" if moment else ""


def expired_sentence(signatory_name: str, expires_at: datetime | None, now: datetime | None = None) -> str:
    """Never "expired on <a future date>": Microsoft may end a link before the expiry it first announced."""
    now = now or timezone.now()
    name = signatory_name or "the signatory"
    if expires_at is not None and expires_at <= now:
        return sentences.LINK_EXPIRED_ON(name=name, when=_day(expires_at))
    return sentences.LINK_EXPIRED(name=name)


def link_is_expired(state: str, expires_at: datetime | None, now: datetime | None = None) -> bool:
    if state == AttestationState.EXPIRED:
        return True
    return state == AttestationState.PENDING and expires_at is not None and expires_at <= (now or timezone.now())


def _make(code: McaState, sentence: str, kind: str, **values: Any) -> CustomerMcaState:
    return CustomerMcaState(code=code, sentence=sentence, next_action=_NEXT_ACTION[code][kind], **values)


def state_from_decision(decision: Decision, *, viewer: AbstractBaseUser | AnonymousUser | None) -> CustomerMcaState:
    """The state a full gate decision (for a new purchase) stands for."""
    kind = viewer_kind(viewer)
    status = decision.status
    pending = decision.pending
    link: dict[str, Any] = {}
    if pending is not None:
        link = {
            "link_expires_at": pending.expires_at,
            "signatory_name": pending.signatory_name,
            "signatory_email_masked": mask_email(pending.signatory_email),
        }
    if not decision.needed:
        return _make(
            McaState.ACCEPTED,
            decision.reason,
            kind,
            accepted_how=decision.reason,
            accepted_at=status.accepted_at if status else None,
            verified_at=status.verified_at if status else None,
        )
    code = _STATE_BY_REASON.get(decision.reason_code, McaState.REQUIRED)
    return _make(code, decision.reason, kind, **link)


def states_for(
    accounts: Iterable[Account], *, viewer: AbstractBaseUser | AnonymousUser | None
) -> dict[int, CustomerMcaState]:
    """Per account id, the state from what is known here: two queries whatever the number of accounts (knowledge
    and the newest link per customer), plus one cache read for Partner Center's recent "not accepted" answers; no
    Partner Center call. Scope `accounts` with `visible_to` first."""
    accounts = list(accounts)
    if not accounts:
        return {}
    kind = viewer_kind(viewer)
    keys = {account.pk: knowledge_key(account) for account in accounts}
    knowledge = {k.key: k for k in CustomerKnowledge.objects.filter(key__in=set(keys.values()))}
    links: dict[str, Attestation] = {}
    for attestation in (
        Attestation.objects.filter(key__in=set(keys.values()))
        .order_by("created_at", "pk")
        .only("key", "state", "signatory_name", "signatory_email", "expires_at", "created_at")
    ):
        links[attestation.key] = attestation  # the newest wins: older links were replaced by it
    unsettled = [
        account for account in accounts if account.is_synced and not still_counts(knowledge.get(keys[account.pk]))
    ]
    answers = remembered_answers(unsettled)
    now = timezone.now()
    result: dict[int, CustomerMcaState] = {}
    for account in accounts:
        key = keys[account.pk]
        known = knowledge.get(key)
        if still_counts(known):
            result[account.pk] = _make(
                McaState.ACCEPTED,
                _accepted_sentence(known),
                kind,
                accepted_how=known.get_kind_display(),
                accepted_at=known.accepted_at,
                verified_at=known.verified_at,
            )
            continue
        if cloud_agreement_counts(account.cloud_agreement_accepted_at):
            result[account.pk] = _make(
                McaState.ACCEPTED,
                sentences.CLOUD_AGREEMENT(),
                kind,
                accepted_how=CLOUD_AGREEMENT_HOW,
                accepted_at=account.cloud_agreement_accepted_at,
            )
            continue
        link = links.get(key)
        if link is not None and link.state in (
            AttestationState.CREATING,
            AttestationState.PENDING,
            AttestationState.EXPIRED,
        ):
            values = {
                "link_expires_at": link.expires_at,
                "signatory_name": link.signatory_name,
                "signatory_email_masked": mask_email(link.signatory_email),
            }
            if link_is_expired(link.state, link.expires_at, now):
                result[account.pk] = _make(
                    McaState.EXPIRED, expired_sentence(link.signatory_name, link.expires_at, now), kind, **values
                )
            else:
                name = link.signatory_name
                result[account.pk] = _make(
                    McaState.PENDING,
                    sentences.WAITING_UNTIL(name=name, expires=_day(link.expires_at))
                    if link.expires_at
                    else sentences.WAITING(name=name),
                    kind,
                    **values,
                )
            continue
        answer = answers.get(account.pk)
        if known is not None or (answer is not None and answer.stale_date is not None):
            day = known.accepted_at if known is not None else answer.stale_date
            result[account.pk] = _make(
                McaState.STALE,
                sentences.STALE_SHORT(day=f"{timezone.localtime(day):%Y-%m-%d}"),
                kind,
            )
        elif account.is_synced and answer is None:
            result[account.pk] = _make(McaState.UNKNOWN, sentences.NOT_CHECKED(), kind)
        elif account.is_synced:
            result[account.pk] = _make(McaState.REQUIRED, sentences.NOT_ACCEPTED(), kind)
        else:
            result[account.pk] = _make(McaState.REQUIRED, sentences.NEW_CUSTOMER(), kind)
    return result


def _accepted_sentence(known: CustomerKnowledge) -> str:
    with_by, without = sentences.ACCEPTED_BY_KIND[known.kind]
    day = f"{timezone.localtime(known.accepted_at):%Y-%m-%d}"
    text = with_by(day=day, by=known.confirmed_by) if known.confirmed_by else without(day=day)
    if known.verified_at:
        return sentences.VERIFIED(reason=text, when=_day(known.verified_at))
    return text


# --- Announcing changes (mca.signals.state_changed) --------------------------------------------------------------

_announcing: ContextVar[frozenset[str]] = ContextVar("mca_state_announcing", default=frozenset())


@contextmanager
def state_changes(key: str, *, source: str) -> Iterator[None]:
    """Around a write that may move the state of the customer `key` stands for (knowledge written or removed, a
    link sent, cancelled or expired): after the block, `state_changed` is sent for each of its accounts whose state
    moved, inside the caller's transaction. Costs nothing (no query) when no receiver wants the signal; otherwise
    the states before and after (two queries each, `states_for`) and the accounts. Nested blocks for the same key
    announce once, from the outermost (which knows the state before the whole change)."""
    from mca.knowledge import accounts_for
    from mca.signals import state_changed, wanted

    if key in _announcing.get() or not wanted(state_changed):
        yield
        return
    accounts = list(accounts_for(key).select_related("reseller"))
    before = {pk: state.code for pk, state in states_for(accounts, viewer=None).items()}
    token = _announcing.set(_announcing.get() | {key})
    try:
        yield
    finally:
        _announcing.reset(token)
    after = states_for(accounts, viewer=None)
    for account in accounts:
        previous, state = before.get(account.pk), after[account.pk].code
        if previous != state:
            state_changed.send(sender=Account, account=account, previous=str(previous), state=str(state), source=source)
