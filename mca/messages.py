"""Microsoft's answers in plain words, with the next step: one mapping that the storefront, the BSS, the API and
the setup area all show, so a person reads the same sentence wherever the problem surfaces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.formats import date_format

from mca.rules import attestation_min_date
from partner_center.errors import AGREEMENT_ALREADY_EXISTS_CODE, MCA_ACCEPTANCE_REQUIRED_CODE

# Where a customer accepts the MCA by itself (sign-in required): Microsoft 365 admin center.
DIRECT_ACCEPTANCE_URL = "https://admin.microsoft.com/AdminPortal/Home?ref=/BillingAccounts/agreement"


@dataclass(frozen=True)
class Problem:
    code: str
    title: str
    next_step: str

    def __str__(self) -> str:
        return f"{self.title} {self.next_step}"


PROBLEMS: dict[str, Problem] = {
    AGREEMENT_ALREADY_EXISTS_CODE: Problem(
        AGREEMENT_ALREADY_EXISTS_CODE,
        "Microsoft already holds a confirmation by this signatory for this customer.",
        "Name another authorised signatory, or treat the customer as accepted if that confirmation is current.",
    ),
    MCA_ACCEPTANCE_REQUIRED_CODE: Problem(
        MCA_ACCEPTANCE_REQUIRED_CODE,
        "Microsoft refuses the purchase: the customer has no current Microsoft Customer Agreement acceptance.",
        f"Have the customer's signatory accept it, or the customer accept it at {DIRECT_ACCEPTANCE_URL}.",
    ),
    "link_expired": Problem(
        "link_expired",
        "The signatory's acceptance link expired before it was used.",
        "Send a new link.",
    ),
    "throttled": Problem(
        "throttled",
        "Partner Center is throttling requests.",
        "It will be tried again automatically after the wait Microsoft asked for.",
    ),
    "unavailable": Problem(
        "unavailable",
        "Partner Center could not be reached.",
        "It will be tried again automatically.",
    ),
}


def problem_for(code: str | int | None) -> Problem | None:
    return PROBLEMS.get(str(code)) if code is not None else None


def _day(moment: datetime) -> str:
    return date_format(timezone.localtime(moment) if timezone.is_aware(moment) else moment, "Y-m-d")


def stale_duplicate_message(record, existing_date: datetime) -> str:
    """600061 over a confirmation that no longer counts (R4a): what happened and what to do."""
    minimum = attestation_min_date()
    return (
        f"{PROBLEMS[AGREEMENT_ALREADY_EXISTS_CODE].title} It is dated {_day(existing_date)}, before the MCA refresh "
        f"of {minimum:%Y-%m-%d}, so it still does not count and Microsoft keeps refusing orders (13605). "
        f"Confirm again naming an authorised signatory other than {record.first_name} {record.last_name}, or have "
        f"the customer accept at {DIRECT_ACCEPTANCE_URL}."
    )
