"""Thin BSS services the API needs before the BSS branch lands (order execution, seat changes).

They ask the gate exactly as `bss.services.orders.place_order` does and never combine acceptance rules
themselves. TODO(merge): the BSS branch brings `bss.services.execution.execute_order` and
`bss.services.subscriptions`; the merger switches the API's calls to those and deletes this module.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction

from bss.choices import Operation, OrderStatus
from bss.models import Account, Order, Subscription
from bss.services.orders import MAX_SEATS, OrderInvalid, gated_operations
from mca import gate


class NotExecutable(Exception):
    """The order's status does not allow execution (already executed, cancelled, ...)."""


def execute_order(*, actor: AbstractBaseUser, order: Order) -> Order:
    """Execute a placed order (a BSS user with `bss.execute_order`), R11: not while the customer's acceptance is
    needed. A needed acceptance with a link out to the signatory holds the order "awaiting acceptance" and raises
    `gate.AcceptanceRequired`, so does a needed acceptance with nothing pending (the order stays as it is).

    TODO(merge): call bss.services.execution.execute_order once merged.
    """
    if not actor.has_perm("bss.execute_order"):
        raise PermissionDenied("You may not execute orders.")
    if not Account.objects.visible_to(actor).filter(pk=order.account_id).exists():
        raise PermissionDenied("You may not execute orders for this customer.")
    with transaction.atomic():
        order = Order.objects.select_for_update().select_related("account").get(pk=order.pk)
        if not order.can_move_to(OrderStatus.EXECUTED):
            raise NotExecutable(f"Order {order.number} is {order.get_status_display().lower()}.")
        decision = gate.check(order.account, gated_operations(list(order.lines.select_related("product"))))
        if not decision.needed:
            order.move_to(OrderStatus.EXECUTED, by=actor)
            return order
        if decision.waiting and order.can_move_to(OrderStatus.AWAITING_ACCEPTANCE):
            order.move_to(OrderStatus.AWAITING_ACCEPTANCE, by=actor, note=decision.reason[:500])
    raise gate.AcceptanceRequired(decision)  # after the commit: the hold stays


def seat_change_operation(subscription: Subscription, seats: int) -> Operation:
    return Operation.SEAT_INCREASE if seats > subscription.seats else Operation.SEAT_DECREASE


def change_seats(*, actor: AbstractBaseUser, subscription: Subscription, seats: int) -> Subscription:
    """Change a subscription's seat count by hand (a BSS user with `bss.execute_order`), R1: a seat increase or
    decrease on a Microsoft product needs the customer's acceptance (`gate.AcceptanceRequired` otherwise).

    TODO(merge): call bss.services.subscriptions (change_seats) once merged; it also tells Partner Center.
    """
    if not actor.has_perm("bss.execute_order"):
        raise PermissionDenied("You may not change subscriptions.")
    if not Account.objects.visible_to(actor).filter(pk=subscription.account_id).exists():
        raise PermissionDenied("You may not change this customer's subscriptions.")
    if isinstance(seats, bool) or not isinstance(seats, int) or not 1 <= seats <= MAX_SEATS:
        raise OrderInvalid({"seats": [f"The seat count must be a whole number from 1 to {MAX_SEATS}."]})
    if seats == subscription.seats:
        return subscription
    operation = seat_change_operation(subscription, seats)
    gate.ensure_accepted(subscription.account, [gate.GatedOperation.for_product(operation, subscription.product)])
    with transaction.atomic():
        Subscription.objects.filter(pk=subscription.pk).update(seats=seats)
    subscription.refresh_from_db()
    return subscription
