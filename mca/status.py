"""The acceptance decision (R2–R4a): does this customer still need to accept the MCA, and why?"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from bss.choices import Role
from bss.models import Account
from mca import sentences
from mca.choices import AcceptanceKind, ReasonCode, RecheckOutcome
from mca.knowledge import knowledge_key, known_acceptance, remember_acceptance, still_counts
from mca.models import CustomerKnowledge
from mca.rules import attestation_counts, attestation_min_date, cloud_agreement_counts, cloud_agreement_cutoff
from mca.templates import shown_template
from partner_center.client import PartnerCenterClient, get_client
from partner_center.errors import (
    PartnerCenterBadResponse,
    PartnerCenterError,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)
from partner_center.types import MCA, AgreementContact, CustomerAgreement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str


@dataclass(frozen=True)
class TemplateInfo:
    template_id: str
    version_rank: int


@dataclass(frozen=True)
class AcceptanceStatus:
    needed: bool
    reason: Reason
    known_by: AcceptanceKind | None = None
    accepted_at: datetime | None = None
    verified_at: datetime | None = None
    # Filled when the form must be shown: what the person accepts, in the customer's country and language.
    template: TemplateInfo | None = None
    document_link: str = ""
    document_language: str = ""
    document_country: str = ""
    # When Partner Center said "not accepted" (now, or reused within MCA_NOT_ACCEPTED_TTL): "Check now" asks again.
    partner_center_answered_at: datetime | None = None

    @property
    def document_download_path(self) -> str:
        """Our link that fetches Microsoft's short-lived download link when clicked ("" without a template)."""
        if self.template is None:
            return ""
        path = reverse("agreement-document", args=[self.template.template_id])
        return f"{path}?{urlencode({'country': self.document_country, 'language': self.document_language})}"

    @property
    def summary(self) -> str:
        """One line a person can read, e.g. "Accepted directly at Microsoft, verified 2026-11-02 14:10"."""
        if self.verified_at is None:
            return self.reason.message
        return sentences.VERIFIED(reason=self.reason.message, when=_when(self.verified_at))


def _when(moment: datetime) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i")


def _day(moment: datetime) -> str:
    # date_format(..., "Y-m-d") without its format machinery: the gate says this on every check of a known customer.
    return f"{timezone.localtime(moment):%Y-%m-%d}"


# The reason sentence is shown on every account of the Microsoft customer, and a tenant can be managed by several
# partners (one account each): a partner's user who confirmed is named by role only, their name being that
# partner's business (issue 17). The customer's own user and the signatory are the customer's people: named.
_PARTNER_ROLE_SUFFIXES = {f" ({role.label})": role.label for role in Role if role != Role.CUSTOMER}


def confirmed_by_for_everyone(confirmed_by: str) -> str:
    """ " by Nancy Davolio (Customer user)", or " on the customer's behalf by a partner (Reseller user)"."""
    for suffix, label in _PARTNER_ROLE_SUFFIXES.items():
        if confirmed_by.endswith(suffix):
            return f" on the customer's behalf by a partner ({label})"
    return f" by {confirmed_by}" if confirmed_by else ""


def _accepted(knowledge: CustomerKnowledge) -> AcceptanceStatus:
    if knowledge.kind == AcceptanceKind.DIRECT_AT_MICROSOFT:
        reason = Reason(ReasonCode.DIRECT_AT_MICROSOFT, sentences.DIRECT_AT_MICROSOFT())
    elif knowledge.kind == AcceptanceKind.SIGNATORY_AT_MICROSOFT:
        by = knowledge.confirmed_by.replace(" (signatory, at Microsoft)", "") or "the signatory"
        reason = Reason(
            ReasonCode.SIGNATORY_AT_MICROSOFT,
            sentences.SIGNATORY_AT_MICROSOFT(name=by, day=_day(knowledge.accepted_at)),
        )
    elif knowledge.kind == AcceptanceKind.PARTNER_CENTER_ATTESTATION:
        reason = Reason(
            ReasonCode.PARTNER_CENTER_ATTESTATION,
            sentences.PARTNER_CENTER_ATTESTATION(day=_day(knowledge.accepted_at)),
        )
    else:
        by = confirmed_by_for_everyone(knowledge.confirmed_by)
        reason = Reason(ReasonCode.CONFIRMED_HERE, f"Accepted on {_day(knowledge.accepted_at)}{by}")
    return AcceptanceStatus(
        needed=False,
        reason=reason,
        known_by=AcceptanceKind(knowledge.kind),
        accepted_at=knowledge.accepted_at,
        verified_at=knowledge.verified_at,
    )


def _stale_reason(accepted_at: datetime, contact: AgreementContact | None = None) -> Reason:
    minimum = attestation_min_date()
    by = f" by {contact.first_name} {contact.last_name}" if contact is not None else ""
    other = (
        f" — Microsoft keeps one confirmation per person, so name someone other than {contact.first_name} "
        f"{contact.last_name}"
        if contact is not None
        else ""
    )
    return Reason(
        ReasonCode.STALE_ATTESTATION,
        f"The only partner confirmation is from {_day(accepted_at)}{by}, before the MCA refresh"
        f"{f' of {minimum:%Y-%m-%d}' if minimum else ''}: Microsoft requires the customer to accept the current "
        f"agreement{other}",
    )


def _latest_counting(agreements: list[CustomerAgreement]) -> CustomerAgreement | None:
    counting = [a for a in agreements if attestation_counts(a.date_agreed)]
    return max(counting, key=lambda a: a.date_agreed, default=None)


def _ask_partner_center(
    account: Account, client: PartnerCenterClient, correlation_id: str | None, deadline: float
) -> tuple[CustomerKnowledge | None, Reason | None, CustomerAgreement | None]:
    """Ask Partner Center within the time left before `deadline` (R3). Returns what it taught us, or why we
    still ask. The third value is the newest partner confirmation seen, when it no longer counts (for the reason).
    """
    key = knowledge_key(account)
    tenant = str(account.partner_center_tenant_id)
    try:
        agreements = client.get_customer_agreements(
            tenant, MCA, budget=max(deadline - time.monotonic(), 0.001), correlation_id=correlation_id
        )
        best = _latest_counting(agreements)
        if best is not None:
            knowledge = remember_acceptance(
                key=key,
                kind=AcceptanceKind.PARTNER_CENTER_ATTESTATION,
                accepted_at=best.date_agreed,
                template_id=best.template_id,
                verified=True,
                source="partner_center",
            )
            return knowledge, None, None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, Reason(ReasonCode.PARTNER_CENTER_SLOW, _UNAVAILABLE_TEXT["slow"]), None
        direct = client.get_direct_signed_status(tenant, budget=remaining, correlation_id=correlation_id)
        if direct.is_signed:
            knowledge = remember_acceptance(
                key=key,
                kind=AcceptanceKind.DIRECT_AT_MICROSOFT,
                accepted_at=timezone.now(),
                verified=True,
                source="partner_center",
            )
            return knowledge, None, None
    except PartnerCenterThrottled:
        return None, Reason(ReasonCode.PARTNER_CENTER_THROTTLED, _UNAVAILABLE_TEXT["throttled"]), None
    except PartnerCenterUnavailable as error:
        logger.warning("Partner Center unavailable for acceptance status of account %s: %s", account.pk, error)
        if error.timed_out:
            return None, Reason(ReasonCode.PARTNER_CENTER_SLOW, _UNAVAILABLE_TEXT["slow"]), None
        return None, Reason(ReasonCode.PARTNER_CENTER_UNAVAILABLE, _UNAVAILABLE_TEXT["down"]), None
    except PartnerCenterBadResponse as error:
        logger.warning("Unreadable Partner Center answer for account %s: %s", account.pk, error)
        return None, Reason(ReasonCode.PARTNER_CENTER_BAD_RESPONSE, _UNAVAILABLE_TEXT["bad"]), None
    except PartnerCenterError as error:
        logger.warning("Partner Center refused the acceptance status of account %s: %s", account.pk, error)
        return None, Reason(ReasonCode.PARTNER_CENTER_UNAVAILABLE, _UNAVAILABLE_TEXT["down"]), None
    stale = max(agreements, key=lambda a: a.date_agreed, default=None)
    return None, None, stale


_UNAVAILABLE_TEXT = {
    "down": sentences.PARTNER_CENTER_DOWN(),
    "slow": sentences.PARTNER_CENTER_SLOW(),
    "throttled": sentences.PARTNER_CENTER_THROTTLED(),
    "bad": sentences.PARTNER_CENTER_BAD(),
}


def _with_form(
    account: Account,
    reason: Reason,
    deadline: float,
    correlation_id: str | None,
    partner_center_answered_at: datetime | None = None,
    form: bool = True,
) -> AcceptanceStatus:
    """A needed status, with the template and document link the form shows, within what is left of the budget
    (the last known ones when Partner Center cannot answer in time); without them when no form is shown (`form`)."""
    if not form:
        return AcceptanceStatus(needed=True, reason=reason, partner_center_answered_at=partner_center_answered_at)
    shown = shown_template(account, deadline=deadline, correlation_id=correlation_id)
    return AcceptanceStatus(
        needed=True,
        reason=reason,
        template=TemplateInfo(shown.template_id, shown.version_rank) if shown.template_id else None,
        document_link=shown.document_link,
        document_language=shown.language,
        document_country=shown.country,
        partner_center_answered_at=partner_center_answered_at,
    )


# --- Partner Center's "not accepted", remembered for a short time (R3) ----------------------------------------
# A positive answer is remembered for good as CustomerKnowledge (R2, R3). A negative one means "ask" (the form is
# shown) — and asking Partner Center again on every check would cost two calls per page and per API poll for a
# customer nobody has confirmed yet, so the answer is kept in the cache for MCA_NOT_ACCEPTED_TTL seconds (per
# Partner Center and tenant). It must not outlive that: the customer may accept directly at Microsoft, or another
# partner may confirm, at any moment. "Check now" and mca_reconcile ask again at once (`ask_again`), at most once
# per MCA_ATTESTATION_MIN_CHECK_SECONDS. Failures (down, slow, throttled, unreadable) are never remembered.


def _not_accepted_key(account: Account) -> str:
    where = hashlib.sha256(str(settings.PARTNER_CENTER_BASE_URL).encode()).hexdigest()[:16]
    return f"mca:partner-center-not-accepted:v1:{where}:{knowledge_key(account)}"


def _remember_not_accepted(account: Account, stale_seen: CustomerAgreement | None, answered_at: datetime) -> None:
    ttl = settings.MCA_NOT_ACCEPTED_TTL
    if ttl <= 0:
        return
    contact = stale_seen.primary_contact if stale_seen is not None else None
    answer = {
        "answered_at": answered_at.isoformat(),
        "stale_date": stale_seen.date_agreed.isoformat() if stale_seen is not None else None,
        "stale_contact": [contact.first_name, contact.last_name] if contact is not None else None,
    }
    try:
        cache.set(_not_accepted_key(account), answer, ttl)
    except Exception:
        logger.warning("Could not remember Partner Center's answer for account %s", account.pk, exc_info=True)


def _remembered_not_accepted(
    account: Account, *, ask_again: bool
) -> tuple[datetime, datetime | None, AgreementContact | None] | None:
    """Partner Center's recent "not accepted": when it answered, and the newest stale confirmation it listed (with
    its contact), or None: ask it."""
    try:
        answer = cache.get(_not_accepted_key(account))
    except Exception:
        logger.warning("Could not read Partner Center's remembered answer; asking it", exc_info=True)
        return None
    if answer is None:
        return None
    try:
        answered_at = datetime.fromisoformat(answer["answered_at"])
        stale_date = datetime.fromisoformat(answer["stale_date"]) if answer.get("stale_date") else None
        names = answer.get("stale_contact")
        contact = AgreementContact(first_name=names[0], last_name=names[1], email="") if names else None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        logger.warning("Unreadable remembered Partner Center answer for account %s; asking it", account.pk)
        return None
    if ask_again and (timezone.now() - answered_at).total_seconds() >= settings.MCA_ATTESTATION_MIN_CHECK_SECONDS:
        return None
    if stale_date is not None and attestation_counts(stale_date):
        # The confirmation Partner Center showed counts under today's R4a (MCA_ATTESTATION_MIN_DATE was moved or
        # emptied since): the remembered "not accepted" is obsolete, so Partner Center is asked again.
        return None
    return answered_at, stale_date, contact


@dataclass(frozen=True)
class RememberedAnswer:
    """Partner Center's recent "not accepted" for one customer, as remembered in the cache."""

    answered_at: datetime
    stale_date: datetime | None


def remembered_answers(accounts: Iterable[Account]) -> dict[int, RememberedAnswer]:
    """Per account id, Partner Center's remembered "not accepted" (one cache read for all; no Partner Center
    call, no query): for lists, which show "required" or "stale" from it instead of asking per row."""
    by_key = {_not_accepted_key(account): account.pk for account in accounts}
    if not by_key:
        return {}
    try:
        found = cache.get_many(list(by_key))
    except Exception:
        logger.warning("Could not read Partner Center's remembered answers", exc_info=True)
        return {}
    answers = {}
    for key, answer in found.items():
        try:
            stale = answer.get("stale_date")
            answers[by_key[key]] = RememberedAnswer(
                answered_at=datetime.fromisoformat(answer["answered_at"]),
                stale_date=datetime.fromisoformat(stale) if stale else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return answers


def acceptance_status(
    account: Account, *, correlation_id: str | None = None, ask_again: bool = False, form: bool = True
) -> AcceptanceStatus:
    """Is the customer's MCA acceptance needed before a Microsoft purchase? (R2–R4a)

    Known customers are answered locally (one query, no Partner Center call). A synced customer with nothing
    known here is asked about at Partner Center within MCA_STATUS_TIME_BUDGET; a positive answer is remembered,
    anything else — a negative answer, an outage, throttling, a slow or unreadable answer — means the form is
    shown with the reason, so a sale is never blocked and the check never skipped silently. A negative answer is
    reused for MCA_NOT_ACCEPTED_TTL seconds; `ask_again` ("Check now") asks Partner Center anyway, unless it
    answered less than MCA_ATTESTATION_MIN_CHECK_SECONDS ago. `form=False` (re-checks) leaves out the template and
    document link a form would show.
    """
    knowledge = known_acceptance(account)
    if still_counts(knowledge):
        return _accepted(knowledge)
    if cloud_agreement_counts(account.cloud_agreement_accepted_at):
        return AcceptanceStatus(
            needed=False,
            reason=Reason(
                ReasonCode.CLOUD_AGREEMENT,
                f"Microsoft Cloud Agreement accepted on {_day(account.cloud_agreement_accepted_at)}; it counts until "
                f"the cut-over of {_when(cloud_agreement_cutoff())}",
            ),
            accepted_at=account.cloud_agreement_accepted_at,
        )

    # One budget for the whole check, Partner Center's answers and the template lookup together.
    deadline = time.monotonic() + settings.MCA_STATUS_TIME_BUDGET
    stale_date = knowledge.accepted_at if knowledge is not None else None
    stale_contact = None
    answered_at = None
    if account.is_synced:
        remembered = _remembered_not_accepted(account, ask_again=ask_again)
        if remembered is None:
            learned, failure, stale_seen = _ask_partner_center(account, get_client(), correlation_id, deadline)
            if learned is not None:
                return _accepted(learned)
            if failure is not None:
                return _with_form(account, failure, deadline, correlation_id, form=form)
            answered_at = timezone.now()
            _remember_not_accepted(account, stale_seen, answered_at)
            seen = (stale_seen.date_agreed, stale_seen.primary_contact) if stale_seen else (None, None)
            remembered = (answered_at, *seen)
        answered_at, seen_date, seen_contact = remembered
        if seen_date is not None and (stale_date is None or seen_date > stale_date):
            stale_date, stale_contact = seen_date, seen_contact

    if stale_date is not None and not attestation_counts(stale_date):
        reason = _stale_reason(stale_date, stale_contact)
    elif account.cloud_agreement_accepted_at is not None:
        reason = Reason(
            ReasonCode.CLOUD_AGREEMENT_EXPIRED,
            f"The customer's Microsoft Cloud Agreement stopped counting at the cut-over of "
            f"{_when(cloud_agreement_cutoff())}: the MCA must be accepted",
        )
    elif account.is_synced:
        reason = Reason(ReasonCode.NOT_ACCEPTED, sentences.NOT_ACCEPTED())
    else:
        reason = Reason(
            ReasonCode.NEW_CUSTOMER,
            sentences.NEW_CUSTOMER_FIRST_MICROSOFT_ORDER(),
        )
    return _with_form(account, reason, deadline, correlation_id, answered_at, form=form)


# --- Re-checks (mca.recheck, mca_reconcile) ---------------------------------------------------------------------

_UNREACHABLE = frozenset(
    {ReasonCode.PARTNER_CENTER_UNAVAILABLE, ReasonCode.PARTNER_CENTER_SLOW, ReasonCode.PARTNER_CENTER_BAD_RESPONSE}
)


@dataclass(frozen=True)
class RecheckAnswer:
    """What asking Partner Center again about one customer came to: `outcome` a RecheckOutcome, `code` the
    AcceptanceKind (accepted) or ReasonCode (otherwise), `message` the reason sentence."""

    outcome: RecheckOutcome
    code: str
    message: str


def _outcome_of(status: AcceptanceStatus) -> RecheckAnswer:
    if not status.needed:
        return RecheckAnswer(RecheckOutcome.ACCEPTED, str(status.known_by or status.reason.code), status.reason.message)
    code = status.reason.code
    if code == ReasonCode.PARTNER_CENTER_THROTTLED:
        outcome = RecheckOutcome.THROTTLED
    elif code in _UNREACHABLE:
        outcome = RecheckOutcome.UNKNOWN
    else:
        outcome = RecheckOutcome.NOT_ACCEPTED
    return RecheckAnswer(outcome, str(code), status.reason.message)


def recheck_acceptance(account: Account, *, correlation_id: str | None = None) -> RecheckAnswer:
    """Ask Partner Center about the account's customer now, and record what it says, through the same code as every
    check: a customer unknown here goes through `acceptance_status(ask_again=True)`; one known here (a re-check of an
    old verification) is asked anyway, and a positive answer refreshes `verified_at` (`remember_acceptance`)."""
    knowledge = known_acceptance(account)
    if not still_counts(knowledge) or not account.is_synced:
        return _outcome_of(acceptance_status(account, correlation_id=correlation_id, ask_again=True, form=False))
    deadline = time.monotonic() + settings.MCA_STATUS_TIME_BUDGET
    learned, failure, _stale = _ask_partner_center(account, get_client(), correlation_id, deadline)
    if learned is not None:
        return _outcome_of(_accepted(learned))
    if failure is not None:
        return _outcome_of(AcceptanceStatus(needed=True, reason=failure))
    # Known here (e.g. confirmed here, not delivered yet), not at Microsoft: what is known stays (R2), the run says so.
    return RecheckAnswer(
        RecheckOutcome.NOT_ACCEPTED,
        str(ReasonCode.NOT_ACCEPTED),
        f"Partner Center does not report the acceptance known here ({_accepted(knowledge).reason.message})",
    )
