"""Refusals predicted (issue 19, item 2): which planned changes Microsoft would refuse for lack of a current MCA
acceptance, and on which day — before they fail.

A planned change is an open order, a scheduled seat change or an auto-renewal; each goes to Microsoft on a known day
with a set of operations (a renewal with other seats or another billing term is a renewal plus a seat or term
change). Whether it would be refused is the gate's own rules, on local knowledge only (no Partner Center call):

- R1 (`rules.requires_acceptance`): renewals and cancellations as they are, and non-Microsoft products, never are;
- the customer's state from the state model (`state.states_for`: R2-R4a, the stale / minimum-date rule, links out
  with a signatory or expired), read once for all accounts;
- R4 on the day the change goes out (`rules.cloud_agreement_counts(now=that day)`): an accepted Cloud Agreement
  stops counting at the cut-over.

`AccountReadiness` keeps the last answer per account so that a portfolio can be counted and filtered in SQL;
`refresh_readiness` rewrites it in chunks (beat, after an acceptance becomes known, before the daily digest).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from bss.choices import Operation, OrderStatus
from bss.models import Account, Order, OrderLine, ScheduledSeatChange, Subscription
from mca.models import AccountReadiness
from mca.rules import cloud_agreement_counts, requires_acceptance
from mca.state import CLOUD_AGREEMENT_HOW, CustomerMcaState, McaState, states_for

# Orders that have not reached Microsoft yet (or were stopped on the way): each would still be sent.
OPEN_ORDER_STATUSES = (
    OrderStatus.PLACED,
    OrderStatus.AWAITING_ACCEPTANCE,
    OrderStatus.EXECUTED,
    OrderStatus.PROVISIONING,
    OrderStatus.FAILED,
    OrderStatus.HELD,
)
REFRESH_CHUNK = 2_000
_VERSION_KEY = "mca:readiness:version"  # moves whenever a refresh writes a row: cached counts are then out of date


def readiness_version() -> str:
    """A token that changes whenever the stored readiness changes (for caching what is counted from it)."""
    from django.core.cache import cache

    return str(cache.get(_VERSION_KEY, 0))


def _bump_version() -> None:
    from django.core.cache import cache

    try:
        cache.incr(_VERSION_KEY)
    except ValueError:
        cache.set(_VERSION_KEY, 1, timeout=None)


class ChangeKind(models.TextChoices):
    ORDER = "order", "Open order"
    SEAT_CHANGE = "seat_change", "Scheduled seat change"
    RENEWAL = "renewal", "Auto-renewal"


@dataclass(frozen=True)
class PlannedOperation:
    """One operation of a planned change, on a Microsoft product or not (R1)."""

    operation: str
    is_microsoft: bool = True


@dataclass(frozen=True)
class PlannedChange:
    """Something that will go to Microsoft for one account on a known day."""

    account_id: int
    kind: str
    reference: str
    description: str
    operations: tuple[PlannedOperation, ...]
    on: date

    @property
    def needs_acceptance(self) -> bool:
        return any(requires_acceptance(item.operation, is_microsoft=item.is_microsoft) for item in self.operations)

    @property
    def kind_label(self) -> str:
        return ChangeKind(self.kind).label


@dataclass(frozen=True)
class PredictedRefusal:
    """A planned change Microsoft would refuse on `fails_on`. `certain` is False when it is refused only unless
    something happens first (a signatory accepts the link that is out; Partner Center knows an acceptance this
    application has not been told of yet)."""

    change: PlannedChange
    fails_on: date
    state: str
    reason: str
    certain: bool = True


@dataclass(frozen=True)
class Outlook:
    """One account's planned changes and the refusals among them."""

    changes: tuple[PlannedChange, ...]
    refusals: tuple[PredictedRefusal, ...]

    def of_kind(self, kind: str) -> list[PlannedChange]:
        return [change for change in self.changes if change.kind == kind]

    @property
    def refused_references(self) -> set[tuple[str, str]]:
        return {(refusal.change.kind, refusal.change.reference) for refusal in self.refusals}

    @property
    def first_refusal_on(self) -> date | None:
        return min((refusal.fails_on for refusal in self.refusals), default=None)


def _today() -> date:
    return timezone.localdate()


def planned_changes(account_ids: Iterable[int], *, today: date | None = None) -> dict[int, list[PlannedChange]]:
    """Per account id, its open orders, scheduled seat changes and auto-renewals: four queries for any number of
    accounts (orders, their lines, seat changes, renewals), each change with the day it goes to Microsoft."""
    ids = list(account_ids)
    today = today or _today()
    found: dict[int, list[PlannedChange]] = defaultdict(list)
    if not ids:
        return found
    orders = (
        Order.objects.filter(account_id__in=ids, status__in=OPEN_ORDER_STATUSES)
        .only("pk", "number", "account_id", "status", "next_attempt_at")
        .prefetch_related(
            Prefetch(
                "lines",
                OrderLine.objects.select_related("product").only(
                    "order_id", "operation", "quantity", "product__name", "product__vendor"
                ),
            )
        )
        .order_by("created_at", "pk")
    )
    for order in orders:
        lines = list(order.lines.all())
        # An order goes out when it is executed (any day now) or at its next provisioning attempt.
        when = max(today, timezone.localdate(order.next_attempt_at)) if order.next_attempt_at else today
        what = ", ".join(
            f"{Operation(line.operation).label.lower()} of {line.product.name} x {line.quantity}" for line in lines
        )
        found[order.account_id].append(
            PlannedChange(
                account_id=order.account_id,
                kind=ChangeKind.ORDER,
                reference=order.number,
                description=f"Order {order.number} ({order.get_status_display().lower()}): {what}",
                operations=tuple(PlannedOperation(line.operation, line.product.is_microsoft) for line in lines),
                on=when,
            )
        )
    seat_changes = (
        ScheduledSeatChange.objects.filter(subscription__account_id__in=ids, done_at__isnull=True)
        .select_related("subscription__product")
        .order_by("effective_on", "pk")
    )
    for change in seat_changes:
        subscription = change.subscription
        found[subscription.account_id].append(
            PlannedChange(
                account_id=subscription.account_id,
                kind=ChangeKind.SEAT_CHANGE,
                reference=str(change.pk),
                description=f"{subscription.product.name}: {subscription.seats} → {change.seats} seats",
                operations=(PlannedOperation(change.operation, subscription.product.is_microsoft),),
                on=max(today, change.effective_on),
            )
        )
    renewals = (
        Subscription.objects.filter(account_id__in=ids, is_active=True, auto_renew=True, renews_on__isnull=False)
        .select_related("product")
        .order_by("renews_on", "pk")
    )
    for subscription in renewals:
        operations = subscription.renewal_operations
        changes = []
        if subscription.next_term_seats is not None and subscription.next_term_seats != subscription.seats:
            changes.append(f"{subscription.seats} → {subscription.next_term_seats} seats")
        if Operation.TERM_CHANGE in operations:
            changes.append(f"billing term → {subscription.get_next_term_billing_term_display().lower()}")
        found[subscription.account_id].append(
            PlannedChange(
                account_id=subscription.account_id,
                kind=ChangeKind.RENEWAL,
                reference=str(subscription.pk),
                description=f"{subscription.product.name} renews on {subscription.renews_on:%Y-%m-%d}"
                + (f" with {', '.join(changes)}" if changes else " unchanged"),
                operations=tuple(PlannedOperation(op, subscription.product.is_microsoft) for op in operations),
                on=max(today, subscription.renews_on),
            )
        )
    return found


def refusal_for(
    state: CustomerMcaState, change: PlannedChange, *, today: date | None = None
) -> PredictedRefusal | None:
    """Would Microsoft refuse `change` for a customer in `state`, on the day it goes out? None when not."""
    if not change.needs_acceptance:
        return None
    fails_on = max(change.on, today or _today())
    moment = datetime.combine(fails_on, time.min, tzinfo=UTC)
    code = state.code
    if code == McaState.ACCEPTED:
        if state.accepted_how == CLOUD_AGREEMENT_HOW and not cloud_agreement_counts(state.accepted_at, now=moment):
            reason = "The Microsoft Cloud Agreement no longer counts on that day: the customer must accept the MCA"
            return PredictedRefusal(change, fails_on, McaState.REQUIRED, reason)
        return None
    if code == McaState.PENDING:
        expires = state.link_expires_at
        if expires is not None and expires < moment:
            reason = (
                f"Refused unless {state.signatory_name or 'the signatory'} accepts before the link expires on "
                f"{timezone.localtime(expires):%Y-%m-%d}"
            )
        else:
            reason = f"Refused unless {state.signatory_name or 'the signatory'} accepts at Microsoft before then"
        return PredictedRefusal(change, fails_on, code, reason, certain=False)
    if code == McaState.UNKNOWN:
        reason = "Not checked with Partner Center yet: refused unless Microsoft knows an acceptance"
        return PredictedRefusal(change, fails_on, code, reason, certain=False)
    return PredictedRefusal(change, fails_on, code, state.sentence)


def outlooks_for(
    accounts: Iterable[Account],
    *,
    viewer: AbstractBaseUser | AnonymousUser | None = None,
    states: dict[int, CustomerMcaState] | None = None,
    today: date | None = None,
) -> dict[int, Outlook]:
    """Per account id, its planned changes and the refusals predicted among them: `states_for` (unless the caller
    has the states already) plus `planned_changes`, a fixed number of queries and no Partner Center call."""
    accounts = list(accounts)
    today = today or _today()
    if states is None:
        states = states_for(accounts, viewer=viewer)
    changes = planned_changes([account.pk for account in accounts], today=today)
    result = {}
    for account in accounts:
        planned = sorted(changes.get(account.pk, []), key=lambda change: (change.on, change.kind, change.reference))
        refusals = [refusal_for(states[account.pk], change, today=today) for change in planned]
        result[account.pk] = Outlook(tuple(planned), tuple(refusal for refusal in refusals if refusal is not None))
    return result


def predict_refusals(
    accounts: Iterable[Account],
    *,
    viewer: AbstractBaseUser | AnonymousUser | None = None,
    states: dict[int, CustomerMcaState] | None = None,
    today: date | None = None,
) -> dict[int, list[PredictedRefusal]]:
    """Per account id, the planned changes Microsoft would refuse, earliest first (accounts without any: absent)."""
    outlooks = outlooks_for(accounts, viewer=viewer, states=states, today=today)
    return {
        pk: sorted(outlook.refusals, key=lambda refusal: refusal.fails_on)
        for pk, outlook in outlooks.items()
        if outlook.refusals
    }


def refresh_readiness(accounts: QuerySet[Account] | None = None, *, chunk: int = REFRESH_CHUNK) -> int:
    """Rewrite `AccountReadiness` for `accounts` (all by default), `chunk` accounts at a time (each chunk a fixed
    number of queries); only rows that changed are written (`computed_at`: when it last changed). Returns the
    number of accounts written."""
    accounts = Account.objects.all() if accounts is None else accounts
    today = _today()
    written = 0
    last_pk = 0
    while True:
        batch = list(
            accounts.filter(pk__gt=last_pk)
            .order_by("pk")
            .only("pk", "partner_center_tenant_id", "cloud_agreement_accepted_at")[:chunk]
        )
        if not batch:
            return written
        last_pk = batch[-1].pk
        states = states_for(batch, viewer=None)
        outlooks = outlooks_for(batch, states=states, today=today)
        now = timezone.now()
        stored = {
            row[0]: row[1:]
            for row in AccountReadiness.objects.filter(account_id__in=[account.pk for account in batch]).values_list(
                "account_id", "state", "verified_at", "refusals", "first_refusal_on"
            )
        }
        rows = []
        for account in batch:
            state, outlook = states[account.pk], outlooks[account.pk]
            values = (str(state.code), state.verified_at, len(outlook.refusals), outlook.first_refusal_on)
            if stored.get(account.pk) == values:
                continue  # unchanged: not rewritten (a periodic refresh of 100 000 accounts writes only changes)
            rows.append(
                AccountReadiness(
                    account_id=account.pk,
                    state=values[0],
                    verified_at=values[1],
                    refusals=values[2],
                    first_refusal_on=values[3],
                    computed_at=now,
                )
            )
        AccountReadiness.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["account"],
            update_fields=["state", "verified_at", "refusals", "first_refusal_on", "computed_at"],
        )
        written += len(rows)
        if rows:
            _bump_version()


def refresh_readiness_of(accounts: Any) -> int:
    """After a change to some accounts (an acceptance became known, a state changed): rewrite theirs only."""
    ids = [getattr(account, "pk", account) for account in accounts]
    return refresh_readiness(Account.objects.filter(pk__in=ids)) if ids else 0
