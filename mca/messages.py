"""Microsoft's answers in plain words, with the next step: one mapping that the storefront, the BSS, the API and
the setup area all show, so a person reads the same sentence wherever the problem surfaces.

- `problem_for(code)`: the Problem for one of our codes or Microsoft's error code ("600061", "13605", ...).
- `problem_for_error(error, retry_at=...)`: a `partner_center.errors.PartnerCenterError` as a Problem.
- `problem_for_delivery(delivery)` / `problem_for_attestation(attestation)`: what an acceptance delivery's or an
  enhanced attestation's last error means now (None when there is nothing wrong).
- `error_text(error, retry_at=...)`: the text kept in `last_error`: the plain sentence and next step, then the
  technical detail in brackets for whoever debugs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.formats import date_format

from mca.rules import attestation_min_date
from partner_center.errors import (
    AGREEMENT_ALREADY_EXISTS_CODE,
    MCA_ACCEPTANCE_REQUIRED_CODE,
    McaAcceptanceRequired,
    PartnerCenterBadResponse,
    PartnerCenterError,
    PartnerCenterNotFound,
    PartnerCenterRejected,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)

if TYPE_CHECKING:
    from mca.models import AcceptanceDelivery, Attestation

# Where a customer accepts the MCA by itself (sign-in required): Microsoft 365 admin center.
DIRECT_ACCEPTANCE_URL = "https://admin.microsoft.com/AdminPortal/Home?ref=/BillingAccounts/agreement"

THROTTLED = "throttled"
UNAVAILABLE = "unavailable"
TIMED_OUT = "timed_out"
LINK_EXPIRED = "link_expired"
UNREADABLE = "bad_response"
UNKNOWN_CUSTOMER = "unknown_customer"
REJECTED = "rejected"
STALE_DUPLICATE = "600061_stale"


@dataclass(frozen=True)
class Problem:
    code: str
    title: str
    next_step: str
    # When it is tried again by itself (throttling, an outage), if known.
    retry_at: datetime | None = None
    # What Microsoft said, for whoever debugs it (never shown as the message).
    detail: str = ""
    link: str = ""

    def __str__(self) -> str:
        return f"{self.title} {self.next_step}"

    @property
    def message(self) -> str:
        return str(self)

    def as_dict(self) -> dict[str, Any]:
        """For the API: stable code, the sentence, the next step, the link and the retry moment."""
        return {
            "code": self.code,
            "message": str(self),
            "title": self.title,
            "next_step": self.next_step,
            "link": self.link or None,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
        }


PROBLEMS: dict[str, Problem] = {
    AGREEMENT_ALREADY_EXISTS_CODE: Problem(
        AGREEMENT_ALREADY_EXISTS_CODE,
        "Microsoft already holds a confirmation by this signatory for this customer.",
        "Name another authorised signatory, or treat the customer as accepted if that confirmation is current.",
    ),
    MCA_ACCEPTANCE_REQUIRED_CODE: Problem(
        MCA_ACCEPTANCE_REQUIRED_CODE,
        "Microsoft refuses the purchase: the customer has no current Microsoft Customer Agreement acceptance.",
        "Confirm the customer's acceptance again here (their signatory accepts on Microsoft's page), or have the "
        f"customer accept it at {DIRECT_ACCEPTANCE_URL}; the order is held until Microsoft knows.",
        link=DIRECT_ACCEPTANCE_URL,
    ),
    LINK_EXPIRED: Problem(
        LINK_EXPIRED,
        "The signatory's acceptance link expired before it was used.",
        "Send a new link.",
    ),
    THROTTLED: Problem(
        THROTTLED,
        "Partner Center is throttling requests.",
        "It will be tried again automatically after the wait Microsoft asked for.",
    ),
    UNAVAILABLE: Problem(
        UNAVAILABLE,
        "Partner Center could not be reached.",
        "It will be tried again automatically.",
    ),
    TIMED_OUT: Problem(
        TIMED_OUT,
        "Partner Center did not answer in time.",
        "It will be tried again automatically.",
    ),
    UNREADABLE: Problem(
        UNREADABLE,
        "Partner Center's answer could not be read.",
        "It will be tried again automatically; if it keeps failing, contact support with the time shown.",
    ),
    UNKNOWN_CUSTOMER: Problem(
        UNKNOWN_CUSTOMER,
        "Partner Center does not know this customer's tenant.",
        "Check the customer's Microsoft tenant id in the BSS; it will be tried again automatically.",
    ),
    REJECTED: Problem(
        REJECTED,
        "Partner Center refused the request.",
        "Check the customer's details; it will be tried again automatically.",
    ),
}


def problem_for(code: str | int | None) -> Problem | None:
    return PROBLEMS.get(str(code)) if code is not None else None


def _moment(moment: datetime) -> str:
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return date_format(local, "Y-m-d H:i") + (f" {local.tzname()}" if local.tzname() else "")


def _day(moment: datetime) -> str:
    return date_format(timezone.localtime(moment) if timezone.is_aware(moment) else moment, "Y-m-d")


def _with_retry(problem: Problem, retry_at: datetime | None) -> Problem:
    if retry_at is None:
        return problem
    return Problem(
        problem.code,
        problem.title,
        f"It will be tried again automatically at {_moment(retry_at)}.",
        retry_at,
        problem.detail,
        problem.link,
    )


def _technical(error: PartnerCenterError) -> str:
    text = f"{type(error).__name__}: {error.message}"
    if isinstance(error, PartnerCenterRejected) and error.code:
        text += f" (code {error.code})"
    if error.status_code:
        text += f" [HTTP {error.status_code}]"
    return text


def problem_for_error(error: PartnerCenterError, *, retry_at: datetime | None = None) -> Problem:
    """A Partner Center error in plain words with the next step; `retry_at` is when it is tried again, if it is.

    Without `retry_at`, a throttled answer's Retry-After tells when."""
    detail = _technical(error)
    if isinstance(error, PartnerCenterThrottled):
        if retry_at is None and error.retry_after:
            retry_at = timezone.now() + timedelta(seconds=error.retry_after)
        base = PROBLEMS[THROTTLED]
    elif isinstance(error, PartnerCenterUnavailable):
        base = PROBLEMS[TIMED_OUT if error.timed_out else UNAVAILABLE]
    elif isinstance(error, McaAcceptanceRequired) or (
        isinstance(error, PartnerCenterRejected) and error.code == MCA_ACCEPTANCE_REQUIRED_CODE
    ):
        base = PROBLEMS[MCA_ACCEPTANCE_REQUIRED_CODE]
        retry_at = None  # nothing is retried: the customer must accept
    elif isinstance(error, PartnerCenterRejected) and error.code == AGREEMENT_ALREADY_EXISTS_CODE:
        base, retry_at = PROBLEMS[AGREEMENT_ALREADY_EXISTS_CODE], None
    elif isinstance(error, PartnerCenterNotFound):
        base = PROBLEMS[UNKNOWN_CUSTOMER]
    elif isinstance(error, PartnerCenterBadResponse):
        base = PROBLEMS[UNREADABLE]
    else:
        base = PROBLEMS[REJECTED]
    problem = Problem(base.code, base.title, base.next_step, None, detail, base.link)
    return _with_retry(problem, retry_at)


def error_text(error: PartnerCenterError, *, retry_at: datetime | None = None) -> str:
    """What `last_error` keeps: the plain sentence and next step, then the technical detail in brackets."""
    problem = problem_for_error(error, retry_at=retry_at)
    return f"{problem} [{problem.detail}]"


# The technical part of a stored last_error (both "Class: message" from before and "... [Class: message]").
_ERROR_CLASS = re.compile(r"(?:^|\[)(PartnerCenter\w+|McaAcceptanceRequired): ")
_CODE = re.compile(r"\(code (\d+)\)")


def _from_text(text: str, *, status_code: int | None, retry_at: datetime | None) -> Problem | None:
    match = _ERROR_CLASS.search(text)
    code = _CODE.search(text)
    name = match.group(1) if match else ""
    error_code = code.group(1) if code else ""
    detail = text[match.start() :].strip("[] ") if match else text
    if error_code == MCA_ACCEPTANCE_REQUIRED_CODE or name == "McaAcceptanceRequired":
        base, retry_at = PROBLEMS[MCA_ACCEPTANCE_REQUIRED_CODE], None
    elif error_code == AGREEMENT_ALREADY_EXISTS_CODE:
        base, retry_at = PROBLEMS[AGREEMENT_ALREADY_EXISTS_CODE], None
    elif name == "PartnerCenterThrottled" or status_code == 429:
        base = PROBLEMS[THROTTLED]
    elif name == "PartnerCenterUnavailable":
        base = PROBLEMS[TIMED_OUT if "timed out" in text.lower() else UNAVAILABLE]
    elif name == "PartnerCenterNotFound" or status_code == 404:
        base = PROBLEMS[UNKNOWN_CUSTOMER]
    elif name == "PartnerCenterBadResponse":
        base = PROBLEMS[UNREADABLE]
    elif name or status_code:
        base = PROBLEMS[REJECTED]
    else:
        return None
    return _with_retry(Problem(base.code, base.title, base.next_step, None, detail, base.link), retry_at)


def problem_for_delivery(delivery: AcceptanceDelivery) -> Problem | None:
    """What is wrong with one acceptance delivery, in plain words (None when nothing is)."""
    from mca.choices import DeliveryState

    if delivery.state == DeliveryState.REFUSED:
        return Problem(
            STALE_DUPLICATE,
            PROBLEMS[AGREEMENT_ALREADY_EXISTS_CODE].title,
            delivery.last_error.removeprefix(PROBLEMS[AGREEMENT_ALREADY_EXISTS_CODE].title).strip(),
            detail="600061 over a confirmation that no longer counts",
            link=DIRECT_ACCEPTANCE_URL,
        )
    if delivery.state != DeliveryState.FAILING or not delivery.last_error:
        return None
    return _from_text(delivery.last_error, status_code=delivery.last_status_code, retry_at=delivery.next_attempt_at)


def problem_for_attestation(attestation: Attestation) -> Problem | None:
    """What is wrong with one enhanced attestation, in plain words (None when nothing is)."""
    from mca.choices import AttestationState

    if attestation.state == AttestationState.EXPIRED:
        return PROBLEMS[LINK_EXPIRED]
    if not attestation.last_error or not attestation.is_open:
        return None
    return _from_text(attestation.last_error, status_code=None, retry_at=attestation.next_check_at)


def stale_duplicate_message(record, existing_date: datetime) -> str:
    """600061 over a confirmation that no longer counts (R4a): what happened and what to do."""
    minimum = attestation_min_date()
    return (
        f"{PROBLEMS[AGREEMENT_ALREADY_EXISTS_CODE].title} It is dated {_day(existing_date)}, before the MCA refresh "
        f"of {minimum:%Y-%m-%d}, so it still does not count and Microsoft keeps refusing orders (13605). "
        f"Confirm again naming an authorised signatory other than {record.first_name} {record.last_name}, or have "
        f"the customer accept at {DIRECT_ACCEPTANCE_URL}."
    )
