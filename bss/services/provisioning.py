"""Provisioning an executed order to Partner Center (SPEC flow 5), one idempotent, retried run at a time.

    provision_order(order_id=...)      # the Celery task `bss.tasks.provision_order_task` wraps it

A run claims the order with a short lease (a second worker, a retried task or a double click finds it claimed
or already provisioned and does nothing), then walks the steps, recording each on the order
(`ProvisioningEvent`, with its time and error):

1. the gate (R11): acceptance missing -> the order is held in "awaiting acceptance" and nothing is sent;
2. the Partner Center customer: created when the account is not synced, with an MS-RequestId persisted before
   the call (a retry is the same request, so Microsoft never creates a second customer), then the tenant is
   stored through `gate.set_tenant`;
3. the customer's acceptances delivered to Partner Center, or its agreement created from an accepted attestation
   (`gate.prepare_for_orders`), before any order goes;
4. the Partner Center order (again with a persisted MS-RequestId) for new purchases, the seat-count change for
   existing subscriptions;
5. the subscription ids stored on `Subscription` rows; the order marked provisioned.

Failures never lose the order: Partner Center down, slow, throttling or answering 5xx -> "failed" with the last
error and the next attempt (exponential backoff, at least Retry-After); Microsoft refusing the purchase for lack of
MCA acceptance (403/13605) -> held in "awaiting acceptance". The beat task `retry_provisioning_task` picks up due
failures and runs whose worker died (lease expired).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bss.choices import Operation, OrderStatus, ProvisioningOutcome, ProvisioningStepName
from bss.models import Account, Order, OrderLine, ProvisioningEvent, Subscription
from bss.services.holds import hold_for_acceptance
from bss.services.orders import changed_product, gated_operations
from mca import gate
from mca.messages import problem_for
from partner_center.errors import (
    MCA_ACCEPTANCE_REQUIRED_CODE,
    McaAcceptanceRequired,
    PartnerCenterBadResponse,
    PartnerCenterError,
    PartnerCenterRejected,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)
from partner_center.types import CustomerProfile, OrderLineItem

logger = logging.getLogger("bss.provisioning")

# How long one run may hold an order before another worker may take it over (far above one run's duration:
# each Partner Center call is bounded by PARTNER_CENTER_RETRY_BUDGET).
LEASE = timedelta(minutes=5)
# Backoff between automatic attempts: 30 s, 1, 2, 4 ... minutes, at most an hour; never below Retry-After.
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
RUNNABLE = (OrderStatus.EXECUTED, OrderStatus.PROVISIONING, OrderStatus.FAILED)


class RunResult(str):
    """The order's status after a run (a str, for Celery's result), with when to try again, if at all."""

    retry_in: float | None = None


@dataclass
class _Retry(Exception):
    """A step cannot finish now; the order waits and is tried again after `retry_in` seconds (None: backoff)."""

    step: str
    message: str
    retry_in: float | None = None


@dataclass
class _Hold(Exception):
    """The customer's acceptance is missing (R11): hold the order, send nothing."""

    step: str
    message: str


def _result(status: str, retry_in: float | None = None) -> RunResult:
    result = RunResult(status)
    result.retry_in = retry_in
    return result


def backoff_seconds(attempt: int) -> float:
    """Seconds before the next automatic attempt after `attempt` failed ones (1 -> 30 s, doubling, max 1 h)."""
    return float(min(BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_MAX_SECONDS))


def record_event(*, order: Order, step: str, outcome: str, message: str = "") -> ProvisioningEvent:
    """Append one step of the order's provisioning history."""
    return ProvisioningEvent.objects.create(
        order=order, step=step, outcome=outcome, message=message[:2000], attempt=order.provisioning_attempts
    )


def _claim(order_id: int) -> Order | None:
    """Take the order for this run, or None when there is nothing to do (done, held, cancelled, or another
    worker holds a live lease)."""
    now = timezone.now()
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(pk=order_id).first()
        if order is None or order.status not in RUNNABLE:
            return None
        if (
            order.status == OrderStatus.PROVISIONING
            and order.provisioning_lease_until is not None
            and order.provisioning_lease_until > now
        ):
            return None
        if order.status != OrderStatus.PROVISIONING:
            order.move_to(OrderStatus.PROVISIONING)
        # Conditional update: two workers racing past the lock-free SQLite path still cannot both win.
        claimed = (
            Order.objects.filter(pk=order.pk, status=OrderStatus.PROVISIONING)
            .filter(Q(provisioning_lease_until__isnull=True) | Q(provisioning_lease_until__lte=now))
            .update(
                provisioning_lease_until=now + LEASE,
                provisioning_attempts=order.provisioning_attempts + 1,
                next_attempt_at=None,
            )
        )
        if not claimed:
            return None
        order.refresh_from_db()
        record_event(order=order, step=ProvisioningStepName.START, outcome=ProvisioningOutcome.DONE)
    return order


def provision_order(*, order_id: int) -> RunResult:
    """Provision one executed order (idempotent; safe to run twice or concurrently). Returns the order's status
    afterwards, with `retry_in` (seconds) when it failed and should be tried again automatically."""
    order = _claim(order_id)
    if order is None:
        status = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
        return _result(status or "missing")
    try:
        _run_steps(order)
    except _Hold as hold:
        return _hold(order, hold.step, hold.message)
    except _Retry as retry:
        return _fail(order, retry.step, retry.message, retry_in=retry.retry_in)
    except McaAcceptanceRequired as error:
        problem = problem_for(MCA_ACCEPTANCE_REQUIRED_CODE)
        return _hold(order, ProvisioningStepName.ORDER, str(problem) if problem else error.message)
    except PartnerCenterThrottled as error:
        return _fail(order, _current_step(order), _describe(error), retry_in=error.retry_after)
    except (PartnerCenterUnavailable, PartnerCenterBadResponse) as error:
        return _fail(order, _current_step(order), _describe(error))
    except PartnerCenterRejected as error:
        # Microsoft answered and said no: retrying the same request will not change that. Visible, for a person.
        return _fail(order, _current_step(order), _describe(error), automatic_retry=False)
    except Exception as error:  # a bug must not leave the order claimed and silent
        logger.exception("Provisioning order %s failed unexpectedly", order.number)
        return _fail(order, _current_step(order), f"Unexpected error: {type(error).__name__}: {error}")
    return _result(OrderStatus.PROVISIONED)


def _current_step(order: Order) -> str:
    return getattr(order, "_provisioning_step", ProvisioningStepName.START)


def _enter(order: Order, step: str) -> None:
    order._provisioning_step = step  # type: ignore[attr-defined]  # where a failure is reported


def _describe(error: PartnerCenterError) -> str:
    parts = [error.message]
    code = getattr(error, "code", "")
    if code and str(code) not in error.message:
        parts.append(f"(code {code})")
    if isinstance(error, PartnerCenterThrottled) and error.retry_after:
        parts.append(f"Retry-After {error.retry_after:g} s.")
    if error.request_id:
        parts.append(f"MS-RequestId {error.request_id}")
    return " ".join(parts)


def _run_steps(order: Order) -> None:
    lines = list(order.lines.select_related("product", "subscription__product").order_by("pk"))
    account = order.account
    # What Partner Center is told about: Microsoft purchases and seat changes. (Renewals are Microsoft's own;
    # cancellations, upgrades and term changes have no call in our client yet and are recorded here only.)
    microsoft = [line for line in lines if _changes_at_microsoft(line)]

    _enter(order, ProvisioningStepName.GATE)
    decision = gate.check(account, gated_operations(lines))
    if decision.undetermined:
        raise _Retry(ProvisioningStepName.GATE, f"Cannot tell whether the customer accepted: {decision.reason}")
    if decision.needed:
        raise _Hold(ProvisioningStepName.GATE, decision.hold_reason)
    _step(order, ProvisioningStepName.GATE, ProvisioningOutcome.DONE, decision.reason)

    if microsoft:
        _enter(order, ProvisioningStepName.CUSTOMER)
        account = _ensure_customer(order, account)
        _enter(order, ProvisioningStepName.ACCEPTANCES)
        if not gate.prepare_for_orders(account):
            raise _Retry(
                ProvisioningStepName.ACCEPTANCES,
                "The customer's MCA acceptance has not reached Partner Center yet; the order waits for it.",
            )
        _step(order, ProvisioningStepName.ACCEPTANCES, ProvisioningOutcome.DONE)
        _enter(order, ProvisioningStepName.ORDER)
        _place_partner_center_order(order, account, [line for line in microsoft if _is_purchase(line)])
        _enter(order, ProvisioningStepName.QUANTITY)
        _change_quantities(order, account, [line for line in microsoft if _is_seat_change(line)])
    _enter(order, ProvisioningStepName.SUBSCRIPTIONS)
    _apply_locally(order, lines)
    with transaction.atomic():
        order.refresh_from_db()
        order.move_to(OrderStatus.PROVISIONED)
        Order.objects.filter(pk=order.pk).update(provisioning_lease_until=None, last_error="", next_attempt_at=None)
        _step(order, ProvisioningStepName.DONE, ProvisioningOutcome.DONE)


def _step(order: Order, step: str, outcome: str, message: str = "") -> None:
    record_event(order=order, step=step, outcome=outcome, message=message)


def _changes_at_microsoft(line: OrderLine) -> bool:
    """A Microsoft purchase or seat change (judged on the product that really changes: a change's subscription's)."""
    return changed_product(line).is_microsoft and (_is_purchase(line) or _is_seat_change(line))


def _is_purchase(line: OrderLine) -> bool:
    return line.operation == Operation.NEW_PURCHASE


def _is_seat_change(line: OrderLine) -> bool:
    return line.operation in (Operation.SEAT_INCREASE, Operation.SEAT_DECREASE)


# --- step 2: the Partner Center customer ---------------------------------------------------------------------


def _domain_prefix(account: Account) -> str:
    prefix = re.sub(r"[^a-z0-9]", "", (account.domain or account.name).lower())
    return (prefix or f"customer{account.pk}")[:27]


def customer_profile(account: Account) -> CustomerProfile:
    """What Partner Center needs to create the account's customer (from the account and its primary contact)."""
    contact = account.contacts.order_by("-is_primary", "pk").first()
    return CustomerProfile(
        domain=_domain_prefix(account),
        company_name=account.name,
        email=contact.email if contact else "",
        first_name=contact.first_name if contact else "",
        last_name=contact.last_name if contact else "",
        phone_number=str(contact.phone) if contact and contact.phone else "",
        country=str(account.country).upper(),
        culture=account.language or "en-US",
        language=(account.language or "en").split("-")[0],
    )


def _customer_request_id(order: Order, account: Account) -> uuid.UUID:
    """The MS-RequestId for creating this account's customer, persisted before the call. An order of the same
    account that already tried reuses its id, so two orders never create two customers."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.pc_customer_request_id is None:
            sibling = (
                Order.objects.filter(account=account, pc_customer_request_id__isnull=False)
                .order_by("pk")
                .values_list("pc_customer_request_id", flat=True)
                .first()
            )
            locked.pc_customer_request_id = sibling or uuid.uuid4()
            locked.save(update_fields=["pc_customer_request_id"])
        order.pc_customer_request_id = locked.pc_customer_request_id
    return order.pc_customer_request_id


def _ensure_customer(order: Order, account: Account) -> Account:
    from partner_center.client import get_client

    account.refresh_from_db(fields=["partner_center_tenant_id"])
    if account.is_synced:
        _step(order, ProvisioningStepName.CUSTOMER, ProvisioningOutcome.SKIPPED, "Already a Partner Center customer.")
        return account
    request_id = _customer_request_id(order, account)
    customer = get_client().create_customer(customer_profile(account), str(request_id))
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        if not account.is_synced:
            account = gate.set_tenant(account, customer.tenant_id)
    _step(
        order,
        ProvisioningStepName.CUSTOMER,
        ProvisioningOutcome.DONE,
        f"Partner Center customer {account.partner_center_tenant_id} (MS-RequestId {request_id}).",
    )
    return account


# --- step 4: the Partner Center order and seat changes -------------------------------------------------------


def _order_request_id(order: Order) -> uuid.UUID:
    if order.pc_order_request_id is None:
        with transaction.atomic():
            locked = Order.objects.select_for_update().get(pk=order.pk)
            if locked.pc_order_request_id is None:
                locked.pc_order_request_id = uuid.uuid4()
                locked.save(update_fields=["pc_order_request_id"])
            order.pc_order_request_id = locked.pc_order_request_id
    return order.pc_order_request_id


def _place_partner_center_order(order: Order, account: Account, lines: list[OrderLine]) -> None:
    from partner_center.client import get_client

    pending = [line for line in lines if line.subscription_id is None]
    if not pending:
        if lines:
            _step(
                order, ProvisioningStepName.ORDER, ProvisioningOutcome.SKIPPED, f"Already placed: {order.pc_order_id}"
            )
        return
    request_id = _order_request_id(order)
    items = [
        OrderLineItem(offer_id=line.product.partner_center_offer_id, quantity=line.quantity, friendly_name="")
        for line in pending
    ]
    placed = get_client().create_order(str(account.partner_center_tenant_id), items, str(request_id))
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(pc_order_id=placed.order_id)
        order.pc_order_id = placed.order_id
        by_number = {item.line_item_number: item for item in placed.line_items}
        stored = []
        for number, line in enumerate(pending):
            result = by_number.get(number)
            subscription = Subscription.objects.create(
                account=account,
                product=line.product,
                seats=line.quantity,
                partner_center_subscription_id=result.subscription_id if result else "",
            )
            OrderLine.objects.filter(pk=line.pk, subscription__isnull=True).update(subscription=subscription)
            line.subscription = subscription
            stored.append(subscription.partner_center_subscription_id or "(no id in the answer)")
    _step(
        order,
        ProvisioningStepName.ORDER,
        ProvisioningOutcome.DONE,
        f"Partner Center order {placed.order_id} (MS-RequestId {request_id}).",
    )
    _step(order, ProvisioningStepName.SUBSCRIPTIONS, ProvisioningOutcome.DONE, ", ".join(stored))


def _change_quantities(order: Order, account: Account, lines: list[OrderLine]) -> None:
    from partner_center.client import get_client

    for line in lines:
        subscription = line.subscription
        if subscription.seats == line.quantity:
            continue  # done by an earlier run
        if not subscription.partner_center_subscription_id:
            raise _Retry(
                ProvisioningStepName.QUANTITY,
                f"{subscription} has no Partner Center subscription id yet (its own order is not provisioned).",
            )
        # Same request id on every attempt; the client also treats "already at that quantity" as done.
        request_id = uuid.uuid5(_order_request_id(order), f"line-{line.pk}")
        get_client().update_subscription_quantity(
            str(account.partner_center_tenant_id),
            subscription.partner_center_subscription_id,
            line.quantity,
            request_id=str(request_id),
        )
        Subscription.objects.filter(pk=subscription.pk).update(seats=line.quantity)
        subscription.seats = line.quantity
        _step(
            order,
            ProvisioningStepName.QUANTITY,
            ProvisioningOutcome.DONE,
            f"{subscription.product}: {line.quantity} seats on {subscription.partner_center_subscription_id}.",
        )


def _apply_locally(order: Order, lines: list[OrderLine]) -> None:
    """What needs no Partner Center call: non-Microsoft purchases and seat changes, renewals, cancellations."""
    with transaction.atomic():
        for line in lines:
            if _changes_at_microsoft(line):
                continue
            if _is_purchase(line) and line.subscription_id is None:
                subscription = Subscription.objects.create(
                    account=order.account, product=line.product, seats=line.quantity
                )
                OrderLine.objects.filter(pk=line.pk).update(subscription=subscription)
            elif _is_seat_change(line):
                Subscription.objects.filter(pk=line.subscription_id).update(seats=line.quantity)
            elif line.operation == Operation.CANCELLATION:
                Subscription.objects.filter(pk=line.subscription_id).update(is_active=False)


# --- holding and failing --------------------------------------------------------------------------------------


def _hold(order: Order, step: str, message: str) -> RunResult:
    with transaction.atomic():
        order.refresh_from_db()
        hold_for_acceptance(order, reason=message)
        Order.objects.filter(pk=order.pk).update(
            provisioning_lease_until=None, last_error=message, next_attempt_at=None
        )
        _step(order, step, ProvisioningOutcome.HELD, message)
    return _result(OrderStatus.AWAITING_ACCEPTANCE)


def _fail(
    order: Order, step: str, message: str, *, retry_in: float | None = None, automatic_retry: bool = True
) -> RunResult:
    delay = max(backoff_seconds(order.provisioning_attempts), retry_in or 0.0) if automatic_retry else None
    with transaction.atomic():
        order.refresh_from_db()
        if order.status == OrderStatus.PROVISIONING:
            order.move_to(OrderStatus.FAILED, note=message[:500])
        Order.objects.filter(pk=order.pk).update(
            provisioning_lease_until=None,
            last_error=message,
            next_attempt_at=timezone.now() + timedelta(seconds=delay) if delay is not None else None,
        )
        outcome = ProvisioningOutcome.WAITING if automatic_retry else ProvisioningOutcome.FAILED
        _step(order, step, outcome, message)
    logger.warning("Provisioning order %s failed at %s: %s", order.number, step, message)
    return _result(OrderStatus.FAILED, delay)


# --- operator actions and the sweeper -------------------------------------------------------------------------


def due_order_ids(*, limit: int = 100) -> list[int]:
    """Orders the beat should (re)start: failed and due, executed but never started (a lost message), and
    provisioning runs whose worker died (lease expired)."""
    now = timezone.now()
    due = Order.objects.filter(
        Q(status=OrderStatus.FAILED, next_attempt_at__lte=now)
        | Q(status=OrderStatus.EXECUTED, status_changed_at__lte=now - timedelta(minutes=1))
        | Q(status=OrderStatus.PROVISIONING, provisioning_lease_until__lte=now)
        | Q(status=OrderStatus.PROVISIONING, provisioning_lease_until__isnull=True)
    )
    return list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
