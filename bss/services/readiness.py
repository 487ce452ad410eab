"""The readiness page and its CSV (issue 19, item 1): every account a user may see, its MCA state from the state
model, and beside it its open orders, scheduled seat changes and the refusals predicted by the gate.

Counting and filtering a portfolio of 100 000 accounts happens in SQL on the stored readiness (`mca.models.
AccountReadiness`, rewritten by `gate.refresh_readiness`); the rows shown (a page of 50, or the CSV in chunks) get
their state live from `gate.states_for` and their planned changes from `gate.outlooks_for`: a fixed number of
queries per page or chunk, never a Partner Center call.

At 100 000 accounts on PostgreSQL (docs/benchmarks.md, issue 19) a page's total comes from the cached counts
whenever they hold it (every filter but search: no COUNT(*) over the filtered join), the page's 50 ids are found
before their rows are read (a deferred join: OFFSET walks an index, not rows), and search goes through trigram
indexes on name and domain (bss migration 0007).
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.functional import cached_property

from bss.models import Account, Reseller
from mca import gate

CSP_DIRECT = "csp"  # the reseller filter's value for the CSP's own customers
CSV_CHUNK = 1_000
PAGE_SIZE = 50
TRIGRAM = 3  # pg_trgm indexes serve LIKE '%term%' from this many characters on
NOT_COUNTED = "not_counted"  # accounts the stored readiness has not seen yet (new since the last refresh)
# The state filter's choices and the counts' columns, in this order.
STATE_CHOICES: list[tuple[str, Any]] = [*gate.McaState.choices, (NOT_COUNTED, "Not counted yet")]


@dataclass(frozen=True)
class ReadinessFilters:
    """What the page is asked for; every field optional."""

    state: str = ""
    reseller: str = ""  # a reseller's id, CSP_DIRECT, or ""
    at_risk: bool = False
    q: str = ""


@dataclass
class Counts:
    """Accounts per state and per owner (reseller or CSP direct), with those at risk, within the user's scope."""

    total: int = 0
    at_risk: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    at_risk_by_state: dict[str, int] = field(default_factory=dict)
    by_owner: list[dict[str, Any]] = field(default_factory=list)  # id, name, the four counts above, and cells
    computed_at: Any = None

    @property
    def states(self) -> list[tuple[str, Any, int]]:
        """(code, label, accounts) per state, in the columns' order."""
        return [(code, label, self.by_state.get(code, 0)) for code, label in STATE_CHOICES]


def _cells(by_state: dict[str, int]) -> list[int]:
    """Accounts per state in the columns' order: the page lays them out without a template loop looking up each
    owner's each state."""
    return [by_state.get(code, 0) for code, _label in STATE_CHOICES]


@dataclass(frozen=True)
class Row:
    account: Account
    state: gate.CustomerMcaState
    outlook: gate.Outlook


def accounts_for(user: AbstractBaseUser | AnonymousUser, filters: ReadinessFilters) -> QuerySet[Account]:
    """The accounts `user` may see (`visible_to`: the one scoping rule), narrowed by `filters`."""
    accounts = Account.objects.visible_to(user)
    if filters.state == NOT_COUNTED:
        accounts = accounts.filter(readiness__isnull=True)
    elif filters.state:
        accounts = accounts.filter(readiness__state=filters.state)
    if filters.reseller == CSP_DIRECT:
        accounts = accounts.filter(reseller__isnull=True)
    elif filters.reseller:
        accounts = accounts.filter(reseller_id=int(filters.reseller))
    if filters.at_risk:
        accounts = accounts.filter(readiness__refusals__gt=0)
    if filters.q:
        accounts = accounts.filter(Q(name__icontains=filters.q) | Q(domain__icontains=filters.q))
    return accounts


def counts_for(user: AbstractBaseUser | AnonymousUser) -> Counts:
    """Per state and per owner (the reseller filter's choices too), over the user's whole scope: one grouped query
    and one for the resellers' names, cached per scope for MCA_READINESS_COUNTS_SECONDS and until the stored
    readiness changes (the grouped count over 100 000 accounts is most of a CSP page's time)."""
    scope = Account.objects.visible_to(user)
    # The scope's own SQL names it: two users with the same scope share the entry, two scopes never do.
    try:
        digest = hashlib.sha256(str(scope.query).encode()).hexdigest()[:32]
    except EmptyResultSet:
        return Counts(by_state={code: 0 for code, _label in STATE_CHOICES})
    key = f"bss:readiness:counts:v2:{gate.readiness_version()}:{digest}"  # v2: at_risk_by_state, cells
    counts = cache.get(key)
    if counts is None:
        counts = _count(scope)
        cache.set(key, counts, timeout=settings.MCA_READINESS_COUNTS_SECONDS)
    return counts


def _count(scope: QuerySet[Account]) -> Counts:
    counts = Counts(by_state={code: 0 for code, _label in STATE_CHOICES})
    per_owner: dict[int | None, dict[str, Any]] = {}
    grouped = (
        scope.order_by()
        .values("reseller_id", "readiness__state")
        .annotate(n=Count("pk"), risky=Count("pk", filter=Q(readiness__refusals__gt=0)))
    )
    for row in grouped:
        state = row["readiness__state"] or NOT_COUNTED
        counts.total += row["n"]
        counts.at_risk += row["risky"]
        counts.by_state[state] = counts.by_state.get(state, 0) + row["n"]
        counts.at_risk_by_state[state] = counts.at_risk_by_state.get(state, 0) + row["risky"]
        owner = per_owner.setdefault(
            row["reseller_id"],
            {
                "id": row["reseller_id"] or CSP_DIRECT,
                "name": "CSP direct",
                "total": 0,
                "at_risk": 0,
                "by_state": {},
                "at_risk_by_state": {},
            },
        )
        owner["total"] += row["n"]
        owner["at_risk"] += row["risky"]
        owner["by_state"][state] = owner["by_state"].get(state, 0) + row["n"]
        owner["at_risk_by_state"][state] = owner["at_risk_by_state"].get(state, 0) + row["risky"]
    for owner in per_owner.values():
        owner["cells"] = _cells(owner["by_state"])
    ids = [pk for pk in per_owner if pk is not None]
    for pk, name in Reseller.objects.filter(pk__in=ids).values_list("pk", "name") if ids else []:
        per_owner[pk]["name"] = name
    counts.by_owner = sorted(per_owner.values(), key=lambda owner: (owner["id"] != CSP_DIRECT, owner["name"]))
    return counts


def known_count(counts: Counts, filters: ReadinessFilters) -> int | None:
    """How many accounts `filters` match, read from the scope's counts when they hold it (any filter but search),
    else None. The counts are those the page shows beside the filters (cached up to MCA_READINESS_COUNTS_SECONDS
    and made again when the stored readiness changes), so the total agrees with them; an account created since
    is counted, like in the boxes, after the next refresh or when the cache entry expires."""
    if filters.q:
        return None
    scope: dict[str, Any] = {
        "total": counts.total,
        "at_risk": counts.at_risk,
        "by_state": counts.by_state,
        "at_risk_by_state": counts.at_risk_by_state,
    }
    if filters.reseller:
        # The form offers only owners within the scope: one that has no accounts is simply not there.
        scope = next((owner for owner in counts.by_owner if str(owner["id"]) == filters.reseller), {})
    if filters.state and filters.at_risk:
        return scope.get("at_risk_by_state", {}).get(filters.state, 0)
    if filters.state:
        return scope.get("by_state", {}).get(filters.state, 0)
    if filters.at_risk:
        return scope.get("at_risk", 0)
    return scope.get("total", 0)


class CountedPaginator(Paginator):
    """A Paginator told its count when it is already known (`known_count`): no COUNT(*) then."""

    def __init__(self, object_list: QuerySet, per_page: int, *, known: int | None) -> None:
        super().__init__(object_list, per_page)
        self.known = known

    @cached_property
    def count(self) -> int:
        return self.known if self.known is not None else self.object_list.count()


def ordering_for(filters: ReadinessFilters) -> tuple[Any, ...]:
    """By name. A search of TRIGRAM characters or more sorts its matches (found through the trigram indexes) by an
    expression the name index cannot serve: PostgreSQL's planner otherwise walks the name index expecting matches
    spread evenly, and reads half the table when they sit together ("Lumen…" in the middle of the alphabet);
    sorting the matches costs what counting them costs. A shorter term has no trigram: its matches are found by a
    scan either way, and walking the name index stops at the first 50 (dense: "a" matches most names), where
    sorting them all took 150 ms at 100 000 accounts. Same order either way."""
    if len(filters.q) >= TRIGRAM:
        return (Concat("name", Value("")), "pk")
    return ("name", "pk")


def page_for(user: AbstractBaseUser | AnonymousUser, filters: ReadinessFilters, counts: Counts, number: Any) -> Page:
    """Page `number` (as `Paginator.get_page` takes it) of the accounts `user` may see, narrowed by `filters`: two
    queries, or one when `known_count` has the total. The page's ids first, then their rows (a deferred join:
    OFFSET 10 000 walks ids in the name index instead of reading and joining 10 000 rows)."""
    ordering = ordering_for(filters)
    ids = accounts_for(user, filters).order_by(*ordering).values_list("pk", flat=True)
    page = CountedPaginator(ids, PAGE_SIZE, known=known_count(counts, filters)).get_page(number)
    page.object_list = Account.objects.filter(pk__in=page.object_list).select_related("reseller").order_by(*ordering)
    return page


def rows_for(
    accounts: list[Account], *, viewer: AbstractBaseUser | AnonymousUser, today: date | None = None
) -> list[Row]:
    """The listed accounts with their live state and outlook (states_for + outlooks_for: a fixed number of queries)."""
    states = gate.states_for(accounts, viewer=viewer)
    outlooks = gate.outlooks_for(accounts, states=states, today=today)
    return [Row(account, states[account.pk], outlooks[account.pk]) for account in accounts]


CSV_HEADER = [
    "Customer",
    "Owner",
    "Country",
    "Partner Center tenant",
    "MCA state",
    "State",
    "Accepted how",
    "Accepted at",
    "Last verified at",
    "Open orders",
    "Scheduled seat changes",
    "Auto-renewals",
    "Refusals predicted",
    "First refusal on",
    "Refusals",
]


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet runs a cell that starts with these as a formula: a customer's name must never be one.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _iso(moment: Any) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


def csv_lines(
    user: AbstractBaseUser | AnonymousUser, filters: ReadinessFilters, *, today: date | None = None
) -> Iterator[str]:
    """The CSV of the page's accounts (same scope and filters), line by line, CSV_CHUNK accounts at a time."""

    class Line:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Line())
    yield writer.writerow(CSV_HEADER)
    accounts = accounts_for(user, filters).select_related("reseller").order_by("pk")
    last = 0
    while True:
        batch = list(accounts.filter(pk__gt=last)[:CSV_CHUNK])
        if not batch:
            return
        last = batch[-1].pk
        for row in rows_for(batch, viewer=user, today=today):
            account, state, outlook = row.account, row.state, row.outlook
            refusals = " | ".join(
                f"{refusal.change.kind_label}: {refusal.change.description} fails on {refusal.fails_on:%Y-%m-%d}"
                f" ({refusal.reason})"
                for refusal in outlook.refusals
            )
            first = outlook.first_refusal_on
            yield writer.writerow(
                [
                    _cell(value)
                    for value in (
                        account.name,
                        account.owner_name,
                        account.country,
                        account.partner_center_tenant_id or "",
                        state.code,
                        state.sentence,
                        state.accepted_how,
                        _iso(state.accepted_at),
                        _iso(state.verified_at),
                        len(outlook.of_kind(gate.ChangeKind.ORDER)),
                        len(outlook.of_kind(gate.ChangeKind.SEAT_CHANGE)),
                        len(outlook.of_kind(gate.ChangeKind.RENEWAL)),
                        len(outlook.refusals),
                        first.isoformat() if first else "",
                        refusals,
                    )
                ]
            )
