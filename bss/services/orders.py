"""Placing orders: the one entry point every channel (storefront, API, BSS subscriptions) calls. The MCA question
is the gate's (`mca.gate`): this module asks it about what really changes at Microsoft and acts on the decision,
it never combines the acceptance rules itself.

    result = place_order(actor=..., account=..., lines=[LineRequest(...)], context=..., acceptance=None)
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from bss.choices import Operation, OrderStatus
from bss.models import SEAT_CHANGES, Account, Order, OrderLine, Product, Subscription
from bss.services.acceptance import OperationResult, settle
from bss.services.holds import hold_for_acceptance
from bss.services.notify import notify_signatory
from mca import gate

MAX_SEATS = 10_000


class OrderInvalid(ValidationError):
    """The order's lines are invalid; nothing was written."""


@dataclass(frozen=True)
class LineRequest:
    """One line a channel asks for: a product, a seat count, and what it does (a new purchase by default)."""

    product: Product
    quantity: int
    operation: Operation | str = Operation.NEW_PURCHASE
    subscription: Subscription | None = None


def changed_product(line: LineRequest | OrderLine) -> Product:
    """The product that really changes at Microsoft: a change's subscription's product (whatever the line says,
    for orders stored before lines were validated), a purchase's own product."""
    if line.operation != Operation.NEW_PURCHASE and line.subscription is not None:
        return line.subscription.product
    return line.product


def gated_operations(lines: Sequence[LineRequest] | Sequence[OrderLine]) -> list[gate.GatedOperation]:
    """What the gate is asked about for these lines (R1 decides from the operation and the product that changes).
    Load stored lines with `select_related("product", "subscription__product")`."""
    return [gate.GatedOperation.for_product(line.operation, changed_product(line)) for line in lines]


def _validate_lines(account: Account, lines: Sequence[LineRequest]) -> None:
    if not lines:
        raise OrderInvalid({"lines": ["An order needs at least one line."]})
    for index, line in enumerate(lines):
        where = f"lines[{index}]"
        if not line.product.is_active:
            raise OrderInvalid({where: [f"{line.product.name} is not for sale."]})
        if line.operation not in Operation.values:
            raise OrderInvalid({where: [f"Unknown operation {line.operation!r}."]})
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int) or not 1 <= line.quantity <= MAX_SEATS:
            raise OrderInvalid({where: [f"The seat count must be a whole number from 1 to {MAX_SEATS}."]})
        if line.operation == Operation.NEW_PURCHASE:
            if line.subscription is not None:
                raise OrderInvalid({f"{where}.subscription": ["A new purchase does not name a subscription."]})
            continue
        subscription = line.subscription
        if subscription is None or subscription.account_id != account.pk:
            raise OrderInvalid({where: ["A change must name one of this customer's subscriptions."]})
        # What changes at Microsoft is the subscription's product, whatever the line says: the gate (R1) and
        # provisioning decide from the line's product, so a line naming another product is refused, never trusted.
        if line.product.pk != subscription.product_id:
            raise OrderInvalid(
                {f"{where}.product": ["A change's product must be the product of the subscription it changes."]}
            )
        if line.operation == Operation.SEAT_INCREASE and line.quantity <= subscription.seats:
            raise OrderInvalid({f"{where}.quantity": [f"A seat increase must exceed {subscription.seats} seats."]})
        if line.operation == Operation.SEAT_DECREASE and line.quantity >= subscription.seats:
            raise OrderInvalid({f"{where}.quantity": [f"A seat decrease must be below {subscription.seats} seats."]})


# Order numbers are SO-<day>-<6 random hex digits>: about 16.7 million a day, so two orders of one day share a
# number about once in 5,000 (the birthday bound). A clash is drawn again rather than failing the order.
NUMBER_DRAWS = 5


def _new_number() -> str:
    return f"SO-{timezone.now():%y%m%d}-{secrets.token_hex(3).upper()}"


def place_order(
    *,
    actor: AbstractBaseUser,
    account: Account,
    lines: Sequence[LineRequest],
    context: gate.ConfirmationContext,
    acceptance: Any = None,
    idempotency_key: str | None = None,
    channel: str | None = None,
) -> OperationResult:
    """Place an order for `account` on `channel` (default: the context's; R11).

    Validates the lines, asks the gate about what changes at Microsoft, submits `acceptance` (the form's data) when
    the gate asks for it, then places: "placed" when no acceptance is needed, "awaiting acceptance" while a link is
    out with the customer's signatory (e-mailed to them when the form went in here); refused with
    `gate.AcceptanceRequired` when acceptance is needed and nothing is pending. Raises PermissionDenied for an
    account the actor may not order for (or confirm for, with `acceptance`), OrderInvalid for bad lines,
    gate.AcceptanceInvalid for a bad form; writes nothing then. A repeated submit with the same idempotency key
    returns the first order.
    """
    if not Account.objects.visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("You may not order for this customer.")
    if idempotency_key:
        existing = Order.objects.filter(idempotency_key=idempotency_key, account=account).first()
        if existing is not None:
            return _already_placed(existing)
    _validate_lines(account, lines)
    settled = settle(
        actor=actor,
        account=account,
        operations=gated_operations(lines),
        acceptance=acceptance,
        context=context.with_trigger(operation=lines[0].operation),
    )
    decision = settled.decision
    if decision.blocks_order:
        raise gate.AcceptanceRequired(decision, settled.outcome)
    order = _create(
        actor=actor,
        account=account,
        lines=lines,
        channel=channel or context.channel,
        idempotency_key=idempotency_key,
        hold_reason=decision.hold_reason if decision.waiting else None,
    )
    held = order.status == OrderStatus.AWAITING_ACCEPTANCE
    emailed_to = notify_signatory(actor=actor, outcome=settled.outcome, order=order) if held else ""
    return OperationResult(
        order=order, executed=False, held=held, decision=decision, outcome=settled.outcome, emailed_to=emailed_to
    )


def _already_placed(order: Order) -> OperationResult:
    return OperationResult(order=order, executed=False, held=order.status == OrderStatus.AWAITING_ACCEPTANCE)


def _create(
    *,
    actor: AbstractBaseUser,
    account: Account,
    lines: Sequence[LineRequest],
    channel: str,
    idempotency_key: str | None,
    hold_reason: str | None,
) -> Order:
    for draw in range(1, NUMBER_DRAWS + 1):
        number = _new_number()
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=number,
                    account=account,
                    channel=channel,
                    created_by=actor if actor.is_authenticated else None,
                    idempotency_key=idempotency_key or None,
                )
                _write_lines(order, lines)
                order.move_to(OrderStatus.PLACED, by=actor)
                if hold_reason is not None:
                    hold_for_acceptance(order, by=actor, reason=hold_reason)
            return order
        except IntegrityError:
            if idempotency_key:  # a double-click raced us: the first one won
                existing = Order.objects.filter(idempotency_key=idempotency_key, account=account).first()
                if existing is not None:
                    return existing
            if draw == NUMBER_DRAWS or not Order.objects.filter(number=number).exists():
                raise
            # Another order has this number: draw again (nothing of this one was written).
    raise AssertionError("unreachable: the last draw returns or raises")


def _write_lines(order: Order, lines: Sequence[LineRequest]) -> None:
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=line.product,
            operation=line.operation,
            quantity=line.quantity,
            subscription=line.subscription,
            unit_price=line.product.price,
            # Kept so the line is priced as the difference (5 -> 7: two seats) after the subscription has changed.
            previous_seats=line.subscription.seats
            if line.subscription is not None and line.operation in SEAT_CHANGES
            else None,
        )
        for line in lines
    )
