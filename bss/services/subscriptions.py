"""Manual subscriptions in the BSS (SPEC flow 4): create one for an account, change its seat count, renew or
cancel it. Each is an order on the "BSS subscription" channel, executed at once, so it is gated (R1/R11),
provisioned (flow 5) and visible like any other order.

A new Microsoft subscription and any seat-count change (increase or decrease) go through the gate; a renewal, a
cancellation or a non-Microsoft product never asks. When the gate asks, the call raises
`gate.AcceptanceRequired`; call again with `acceptance=` (the form data of `gate.form_for`) to confirm and
proceed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied

from bss.choices import Channel, Operation
from bss.models import Account, Product, Subscription
from bss.services.acceptance import OperationResult
from bss.services.execution import EXECUTE_PERMISSION, execute_order, is_bss_user
from bss.services.orders import LineRequest, OrderInvalid, place_order
from mca import gate


def _ensure_may_manage(actor: AbstractBaseUser, account: Account) -> None:
    if not is_bss_user(actor) or not actor.has_perm(EXECUTE_PERMISSION):
        raise PermissionDenied("You may not manage subscriptions.")
    if not Account.objects.visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("You may not manage this customer's subscriptions.")


def _submit(
    *,
    actor: AbstractBaseUser,
    account: Account,
    line: LineRequest,
    acceptance: Any,
    context: gate.ConfirmationContext | None,
    idempotency_key: str | None,
    subscription_ref: str = "",
) -> OperationResult:
    """The change as an order of its own, placed (the gate asked, the acceptance submitted) and executed at once."""
    _ensure_may_manage(actor, account)
    context = (context or gate.ConfirmationContext(channel=Channel.BSS_SUBSCRIPTION)).with_trigger(
        subscription_ref=subscription_ref
    )
    placed = place_order(
        actor=actor,
        account=account,
        lines=[line],
        context=context,
        acceptance=acceptance,
        idempotency_key=idempotency_key,
        channel=Channel.BSS_SUBSCRIPTION,  # the order is the BSS's, whichever channel asked for it
    )
    result = execute_order(actor=actor, order=placed.order)
    return OperationResult(
        order=result.order,
        executed=result.executed,
        held=result.held,
        decision=result.decision or placed.decision,
        outcome=placed.outcome,
        emailed_to=placed.emailed_to,
    )


def create_subscription(
    *,
    actor: AbstractBaseUser,
    account: Account,
    product: Product,
    seats: int,
    acceptance: Any = None,
    context: gate.ConfirmationContext | None = None,
    idempotency_key: str | None = None,
) -> OperationResult:
    """Create a subscription for `account` by hand: an order (channel "BSS subscription") executed at once;
    provisioning creates the `Subscription` row (with its Partner Center id for a Microsoft product).

    Raises `gate.AcceptanceRequired` for a Microsoft product when the customer's acceptance is needed and
    `acceptance` is None; PermissionDenied (needs `bss.execute_order`, and `bss.confirm_mca_acceptance` to
    confirm); `gate.AcceptanceInvalid`; `OrderInvalid` (seat count).
    """
    line = LineRequest(product=product, quantity=seats, operation=Operation.NEW_PURCHASE)
    return _submit(
        actor=actor,
        account=account,
        line=line,
        acceptance=acceptance,
        context=context,
        idempotency_key=idempotency_key,
        subscription_ref=f"new:{product.sku}",
    )


def change_seats(
    *,
    actor: AbstractBaseUser,
    subscription: Subscription,
    seats: int,
    acceptance: Any = None,
    context: gate.ConfirmationContext | None = None,
    idempotency_key: str | None = None,
) -> OperationResult:
    """Change a subscription's seat count to `seats` (the new total). An increase or a decrease of a Microsoft
    subscription is gated (R1: Microsoft refuses both without a current MCA). Same errors as
    `create_subscription`; OrderInvalid when the count does not change or the subscription is cancelled."""
    if not subscription.is_active:
        raise OrderInvalid({"seats": ["The subscription is cancelled."]})
    if seats == subscription.seats:
        raise OrderInvalid({"seats": [f"The subscription already has {seats} seats."]})
    operation = Operation.SEAT_INCREASE if seats > subscription.seats else Operation.SEAT_DECREASE
    line = LineRequest(product=subscription.product, quantity=seats, operation=operation, subscription=subscription)
    return _submit(
        actor=actor,
        account=subscription.account,
        line=line,
        acceptance=acceptance,
        context=context,
        idempotency_key=idempotency_key,
        subscription_ref=subscription.partner_center_subscription_id or f"bss:{subscription.pk}",
    )


def _whole_subscription(
    *, actor: AbstractBaseUser, subscription: Subscription, operation: Operation, idempotency_key: str | None
) -> OperationResult:
    """An operation on the whole subscription as it stands (its seat count unchanged), as its own order."""
    line = LineRequest(
        product=subscription.product, quantity=subscription.seats, operation=operation, subscription=subscription
    )
    return _submit(
        actor=actor,
        account=subscription.account,
        line=line,
        acceptance=None,
        context=None,
        idempotency_key=idempotency_key,
    )


def renew_subscription(
    *, actor: AbstractBaseUser, subscription: Subscription, idempotency_key: str | None = None
) -> OperationResult:
    """Renew a subscription (never gated: R1)."""
    return _whole_subscription(
        actor=actor, subscription=subscription, operation=Operation.RENEWAL, idempotency_key=idempotency_key
    )


def cancel_subscription(
    *, actor: AbstractBaseUser, subscription: Subscription, idempotency_key: str | None = None
) -> OperationResult:
    """Cancel a subscription (never gated: R1). Provisioning marks it inactive."""
    return _whole_subscription(
        actor=actor, subscription=subscription, operation=Operation.CANCELLATION, idempotency_key=idempotency_key
    )
