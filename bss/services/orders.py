"""Placing orders. The MCA question is the gate's (`mca.gate`): this module asks it and acts on the decision,
it never combines the acceptance rules itself."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from bss.choices import Channel, Operation, OrderStatus
from bss.models import Account, Order, OrderLine, Product, Subscription
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


def gated_operations(lines: Sequence[LineRequest] | Sequence[OrderLine]) -> list[gate.GatedOperation]:
    """What the gate is asked about for these lines (R1 decides from the operation and the product)."""
    return [gate.GatedOperation.for_product(line.operation, line.product) for line in lines]


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
    channel: Channel | str,
    idempotency_key: str | None = None,
) -> Order:
    """Place an order for `account` (R11): "placed" when no acceptance is needed, "awaiting acceptance" while a
    link is out with the customer's signatory; refused with `gate.AcceptanceRequired` when acceptance is needed and
    nothing is pending. Raises PermissionDenied for an account the actor may not order for, OrderInvalid for bad
    lines; writes nothing then. A repeated submit with the same idempotency key returns the first order.
    """
    if not Account.objects.visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("You may not order for this customer.")
    if idempotency_key:
        existing = Order.objects.filter(idempotency_key=idempotency_key, account=account).first()
        if existing is not None:
            return existing
    _validate_lines(account, lines)
    decision = gate.check(account, gated_operations(lines))
    if decision.needed and not decision.waiting:
        raise gate.AcceptanceRequired(decision)
    status = OrderStatus.AWAITING_ACCEPTANCE if decision.waiting else OrderStatus.PLACED
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
                if status == OrderStatus.AWAITING_ACCEPTANCE:
                    order.move_to(status, by=actor, note=decision.reason[:500])
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
        )
        for line in lines
    )
