"""Holding an order for the customer's MCA acceptance and releasing it: the one place each happens, so the signals
for tools outside the application (`bss.signals`) are sent once per change, inside the transaction that made it."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from bss.choices import OrderStatus
from bss.models import Order
from bss.signals import order_held_for_acceptance, order_released


def hold_for_acceptance(order: Order, *, reason: str, by: AbstractBaseUser | None = None) -> None:
    """Move the order to "awaiting acceptance" (recorded with `reason`) and announce it. Call inside the
    transaction that holds it."""
    order.move_to(OrderStatus.AWAITING_ACCEPTANCE, by=by, note=reason[:500])
    order_held_for_acceptance.send(sender=Order, order=order, reason=reason)


def release(order: Order, to: str, *, note: str, by: AbstractBaseUser | None = None) -> None:
    """Move an order held for acceptance on (`to`: back to "placed", or "executed") and announce it. Call inside
    the transaction, with the order locked."""
    held = order.status == OrderStatus.AWAITING_ACCEPTANCE
    order.move_to(to, by=by, note=note)
    if held:
        order_released.send(sender=Order, order=order)
