"""Checkout logic in plain functions: the gate's decision for a cart, the step guards' conditions, placing the
order, creating a reseller's new customer.

The MCA question is always the gate's (`mca.gate`); nothing here combines acceptance rules or branches on the
attestation flow.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied

from bss.choices import Role
from bss.models import Account, Membership, Order
from bss.services import accounts, notify
from bss.services.orders import LineRequest, gated_operations, place_order
from mca import gate
from storefront.cart import Cart
from storefront.stores import Store


class FailedPreCondition(Exception):
    """A checkout step cannot be shown yet: go to `url` (the step that fixes it) and say `message`."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url
        self.message = message


def line_requests(cart: Cart) -> list[LineRequest]:
    return [line.as_request() for line in cart.lines()]


def decision_for(account: Account, lines: Sequence[LineRequest]) -> gate.Decision:
    """The gate's answer for ordering `lines` for `account`."""
    return gate.check(account, gated_operations(lines))


def may_place(decision: gate.Decision) -> bool:
    """The order may be placed: nothing needed, or a link is out with the signatory (the order is then held)."""
    return not decision.blocks_order


def existing_order(user: AbstractBaseUser, idempotency_keys: Sequence[str]) -> Order | None:
    """The order a previous submit with one of these keys placed, if the user may see it (a resubmit shows it)."""
    keys = [key for key in idempotency_keys if key]
    if not keys:
        return None
    return (
        Order.objects.filter(idempotency_key__in=keys, account__in=Account.objects.visible_to(user))
        .order_by("-pk")
        .first()
    )


def place_cart_order(
    *, actor: AbstractBaseUser, account: Account, cart: Cart, store: Store, idempotency_key: str
) -> Order:
    """Place the cart's order through `bss.services.orders.place_order` (which asks the gate) and empty the cart.
    Raises gate.AcceptanceRequired, PermissionDenied or OrderInvalid, and then keeps the cart."""
    result = place_order(
        actor=actor,
        account=account,
        lines=line_requests(cart),
        context=gate.ConfirmationContext(channel=store.channel_for(actor)),
        idempotency_key=idempotency_key or None,
    )
    cart.clear()
    return result.order


def may_create_customers(user: AbstractBaseUser, store: Store) -> bool:
    """Reseller users (and staff) create new customers for their organisation; a customer user cannot."""
    membership = Membership.of(user)
    if membership is None:
        return False
    if membership.role in (Role.RESELLER, Role.WHITE_LABEL_BSS):
        reseller = membership.reseller
        return reseller == store.reseller if store.is_white_label else not reseller.is_white_label
    return membership.role in (Role.CSP_BSS, Role.ADMIN) and not store.is_white_label


def may_choose_customer(user: AbstractBaseUser, store: Store) -> bool:
    """Whether the customer step offers a choice (several customers, or a new one): only then is there anything
    to change the order's customer to."""
    return may_create_customers(user, store) or store.accounts_for(user)[:2].count() > 1


def create_customer(*, actor: AbstractBaseUser, store: Store, name: str, country: str, language: str) -> Account:
    """A new customer account of the actor's organisation, created here only when this store is the actor's (see
    `may_create_customers`); the account itself is `bss.services.accounts.create_customer`'s."""
    if not may_create_customers(actor, store):
        raise PermissionDenied("You may not create customers here.")
    return accounts.create_customer(actor=actor, name=name, country=country, language=language)


def signatory_is(user: AbstractBaseUser, email: str) -> bool:
    """Is `user` the signatory named with `email` (then Microsoft's page is shown to them, not e-mailed)?"""
    return notify.signatory_is(user, email)
