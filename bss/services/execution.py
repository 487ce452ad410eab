"""Executing orders in the BSS (SPEC flow 4), releasing orders held for acceptance, and operators' actions on
provisioning. The MCA question is the gate's: this module asks it and acts on the decision.

    execute_order(actor=..., order=..., acceptance=None, context=None)  # executes, holds, or AcceptanceRequired
    release_held_orders(accounts=...)                         # acceptance known: held orders go on
    retry_provisioning(actor=..., order=...), hold_order(actor=..., order=...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Permission
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from bss.choices import Channel, Operation, OrderStatus, ProvisioningOutcome, ProvisioningStepName, Role
from bss.models import Account, Membership, Order, OrderLine
from bss.services.acceptance import OperationResult, settle
from bss.services.holds import hold_for_acceptance, release
from bss.services.notify import notify_signatory, resend_pending_link
from bss.services.orders import gated_operations
from bss.services.provisioning import record_event
from mca import gate
from mca.messages import DIRECT_ACCEPTANCE_URL

logger = logging.getLogger("bss.execution")

EXECUTE_PERMISSION = "bss.execute_order"
CONFIRM_PERMISSION = "bss.confirm_mca_acceptance"
BSS_ROLES = frozenset({Role.CSP_BSS, Role.WHITE_LABEL_BSS})


class OrderNotExecutable(Exception):
    """The order is not in a state that can be executed (cancelled, already provisioned, ...)."""


# What executing did (the result every operation returns).
ExecutionResult = OperationResult


def is_bss_user(user: AbstractBaseUser | AnonymousUser) -> bool:
    """CSP staff and white-label staff (and administrators); not customers, resellers or anonymous users."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    membership = Membership.of(user)
    return membership is not None and membership.role in BSS_ROLES


def _ensure_may_execute(actor: AbstractBaseUser, order: Order) -> None:
    if not is_bss_user(actor) or not actor.has_perm(EXECUTE_PERMISSION):
        raise PermissionDenied("You may not execute orders.")
    if not Account.objects.visible_to(actor).filter(pk=order.account_id).exists():
        raise PermissionDenied("You may not execute orders for this customer.")


# How an executed order's provisioning is queued: the Celery task, registered when the app is ready
# (BssConfig.ready), so this service does not import the tasks that import it (tasks > services).
_queue_provisioning: Callable[[int], object] | None = None


def queue_provisioning_with(queue: Callable[[int], object]) -> None:
    global _queue_provisioning
    _queue_provisioning = queue


def start_provisioning(order: Order) -> None:
    """Queue provisioning of an executed order once the current transaction commits."""
    if _queue_provisioning is None:
        raise RuntimeError("bss.services.execution: no provisioning queue registered (BssConfig.ready does it)")
    queue, order_id = _queue_provisioning, order.pk
    transaction.on_commit(lambda: queue(order_id))


def _move_to_executed(order: Order, *, by: AbstractBaseUser | None, note: str) -> bool:
    """Lock the order and execute it if it still may be; True when it is executed now or already was."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in (OrderStatus.PLACED, OrderStatus.AWAITING_ACCEPTANCE):
            order.refresh_from_db()
            return locked.status not in (OrderStatus.CANCELLED, OrderStatus.DRAFT)
        release(locked, OrderStatus.EXECUTED, by=by, note=note)
        if locked.executed_at is None:
            locked.executed_at = timezone.now()
            locked.executed_by = by if by is not None and by.is_authenticated else None
            locked.save(update_fields=["executed_at", "executed_by"])
        start_provisioning(locked)
    order.refresh_from_db()
    return True


def _hold_for_signatory(order: Order, *, by: AbstractBaseUser, decision: gate.Decision | None, note: str) -> None:
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == OrderStatus.PLACED:
            hold_for_acceptance(locked, by=by, reason=note)
        if locked.executed_at is None:
            locked.executed_at, locked.executed_by = timezone.now(), by
            locked.save(update_fields=["executed_at", "executed_by"])
    order.refresh_from_db()


def execute_order(
    *,
    actor: AbstractBaseUser,
    order: Order,
    acceptance: Any = None,
    context: gate.ConfirmationContext | None = None,
) -> OperationResult:
    """Execute a placed order (SPEC flow 4, R11), with the MCA confirmation form's data in `acceptance` when the
    gate asked for it (channel "BSS execution" unless `context` says otherwise; the order number in the record):

    - no acceptance needed (or known now, legacy flow): the order moves to "executed" and provisioning starts
      after commit;
    - a link is out with the customer's signatory (or the form just went in, enhanced flow): the order waits in
      "awaiting acceptance", Microsoft's link is e-mailed to the signatory, and the order is released
      automatically when Microsoft reports the acceptance;
    - acceptance needed, nothing pending, no form: raises `gate.AcceptanceRequired` (show `gate.form_for`).

    Executing an order that is already executed or further is a no-op (a double click executes once).
    Raises PermissionDenied (needs `bss.execute_order` and the customer in the actor's organisation; with
    `acceptance`, the right to confirm for it), OrderNotExecutable (cancelled or draft orders),
    `gate.AcceptanceInvalid` (a message per field; nothing written), `gate.IdempotencyConflict`.
    """
    _ensure_may_execute(actor, order)
    order.refresh_from_db()
    if order.status in (OrderStatus.DRAFT, OrderStatus.CANCELLED):
        raise OrderNotExecutable(f"Order {order.number} is {order.get_status_display().lower()}.")
    if order.status not in (OrderStatus.PLACED, OrderStatus.AWAITING_ACCEPTANCE):
        return OperationResult(order=order, executed=True, held=False)
    lines = order_lines(order)
    context = (context or gate.ConfirmationContext(channel=Channel.BSS_EXECUTION)).with_trigger(
        order_number=order.number, operation=lines[0].operation if lines else Operation.NEW_PURCHASE
    )
    settled = settle(
        actor=actor, account=order.account, operations=gated_operations(lines), acceptance=acceptance, context=context
    )
    decision, outcome = settled.decision, settled.outcome
    if not decision.needed:
        executed = _move_to_executed(order, by=actor, note="Executed in the BSS.")
        return OperationResult(order=order, executed=executed, held=False, decision=decision, outcome=outcome)
    if decision.blocks_order and outcome is None:
        raise gate.AcceptanceRequired(decision)
    # A link is out, or the form went in and the gate still asks (its link not created yet): hold, visibly.
    _hold_for_signatory(order, by=actor, decision=decision, note=decision.hold_reason)
    emailed_to = notify_signatory(actor=actor, outcome=outcome, order=order)
    return OperationResult(
        order=order, executed=False, held=True, decision=decision, outcome=outcome, emailed_to=emailed_to
    )


def order_lines(order: Order) -> list[OrderLine]:
    """The order's lines as the gate is asked about them (each change line with its subscription's product)."""
    return list(order.lines.select_related("product", "subscription__product").order_by("pk"))


def cancel_signatory_link(*, actor: AbstractBaseUser, account: Account, context: gate.ConfirmationContext) -> None:
    """Cancel the link out with the customer's signatory (recorded; withdrawn at Microsoft). Raises
    PermissionDenied, or gate.AcceptanceInvalid when no link is out."""
    if not is_bss_user(actor) or not gate.may_confirm(actor, account):
        raise PermissionDenied("You may not cancel acceptance links for this customer.")
    gate.cancel_link(actor=actor, account=account, context=context)


def change_signatory(*, actor: AbstractBaseUser, account: Account, data: Any, context: gate.ConfirmationContext) -> str:
    """Name another signatory while a link is out (or after it expired): the gate's form; the old link is
    superseded (recorded; withdrawn at Microsoft) and the new one e-mailed to the new signatory only. Returns the
    masked address it went to ("" while Microsoft prepares it). Raises PermissionDenied, gate.AcceptanceInvalid,
    gate.IdempotencyConflict."""
    if not is_bss_user(actor):
        raise PermissionDenied("You may not name signatories for this customer.")
    outcome = gate.submit_acceptance(actor=actor, account=account, data=data, context=context)
    return gate.mask_email(notify_signatory(actor=actor, outcome=outcome, context=context))


def resend_signatory_link(
    *, actor: AbstractBaseUser, account: Account, context: gate.ConfirmationContext | None = None
) -> str:
    """E-mail the open acceptance link (the gate's pending attestation) to its signatory again; returns the
    address, or "" when there is no usable link. Needs the right to confirm for this customer."""
    if not is_bss_user(actor) or not gate.may_confirm(actor, account):
        raise PermissionDenied("You may not send acceptance links for this customer.")
    return resend_pending_link(
        account=account, pending=gate.check(account, [Operation.NEW_PURCHASE]).pending, actor=actor, context=context
    )


def email_direct_acceptance_link(*, actor: AbstractBaseUser, account: Account, to: str) -> str:
    """E-mail the Microsoft 365 admin center link where the customer accepts the MCA by itself (sign-in needed).
    For synced accounts (the customer must have a tenant to sign in to). Returns the address."""
    if not is_bss_user(actor) or not Account.objects.visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("You may not contact this customer.")
    if not account.is_synced:
        raise ValueError("The customer has no Microsoft tenant yet: it cannot accept in the admin center.")
    body = (
        f"Hello,\n\nBefore we can complete Microsoft purchases for {account.name}, your company needs to accept the "
        "Microsoft Customer Agreement. A global or billing administrator of your Microsoft 365 tenant can accept "
        f"it in the Microsoft 365 admin center:\n\n{DIRECT_ACCEPTANCE_URL}\n\n"
        "Sign in with your company account, review the agreement and accept it. We will see your acceptance "
        "and continue with your orders.\n"
    )
    send_mail(f"Accept the Microsoft Customer Agreement for {account.name}", body, None, [to])
    return to


def check_now(*, actor: AbstractBaseUser, account: Account) -> gate.Decision:
    """ "Check now": ask Partner Center again for this customer and release its held orders when Microsoft now
    reports the acceptance (the gate's signal usually does it; this makes sure)."""
    if not is_bss_user(actor) or not Account.objects.visible_to(actor).filter(pk=account.pk).exists():
        raise PermissionDenied("You may not act for this customer.")
    decision = gate.check_now(account)
    if not decision.needed:
        release_held_orders(accounts=Account.objects.filter(pk=account.pk))
    return decision


def release_held_orders(*, accounts: QuerySet[Account] | Iterable[Account]) -> list[Order]:
    """The customers' acceptance is known: every order of these accounts held in "awaiting acceptance" whose
    gate now says yes moves to "executed" and provisioning starts. Idempotent; returns the released orders."""
    released = []
    # A queryset (what `acceptance_known` sends) goes in as a subquery: one query on a first confirmation.
    accounts_in = accounts if isinstance(accounts, QuerySet) else list(accounts)
    held = Order.objects.filter(account__in=accounts_in, status=OrderStatus.AWAITING_ACCEPTANCE).select_related(
        "account"
    )
    for order in held:
        decision = gate.check(order.account, gated_operations(order_lines(order)))
        if decision.needed:
            continue
        if order.executed_at is None:
            # Held when it was placed: it goes back to the queue it came from, where the BSS executes it.
            if _move_back_to_placed(order):
                released.append(order)
            continue
        executed_by = order.executed_by.get_username() if order.executed_by else "the BSS"
        note = (
            f"Released by the system: the customer's MCA acceptance is known; the order was executed by "
            f"{executed_by} on {timezone.localtime(order.executed_at):%Y-%m-%d %H:%M} and held for it."
        )
        if _move_to_executed(order, by=None, note=note):
            released.append(order)
    return released


def _move_back_to_placed(order: Order) -> bool:
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != OrderStatus.AWAITING_ACCEPTANCE:
            return False
        release(
            locked,
            OrderStatus.PLACED,
            note="Released by the system: the customer's MCA acceptance is known; back in the queue to execute.",
        )
    order.refresh_from_db()
    return True


def release_on_acceptance(sender: Any = None, *, accounts: Any = None, **kwargs: Any) -> None:
    """Receiver of `mca.signals.acceptance_known` (connected in BssConfig.ready). Never raises into the sender:
    a failure here is logged and the beat's sweep releases the orders later."""
    try:
        release_held_orders(accounts=accounts if accounts is not None else Account.objects.none())
    except Exception:
        logger.exception("Releasing held orders after an acceptance failed; the sweep will retry")


def release_due_held_orders(*, limit: int = 50) -> int:
    """Beat backstop for a lost signal: re-ask the gate for accounts with executed orders held for acceptance."""
    account_ids = (
        Order.objects.filter(status=OrderStatus.AWAITING_ACCEPTANCE)
        .values_list("account_id", flat=True)
        .distinct()[:limit]
    )
    return len(release_held_orders(accounts=Account.objects.filter(pk__in=list(account_ids))))


def retry_provisioning(*, actor: AbstractBaseUser, order: Order) -> Order:
    """An operator retries a failed or held order now (its provisioning runs again; idempotent)."""
    _ensure_may_execute(actor, order)
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in (OrderStatus.FAILED, OrderStatus.HELD):
            raise OrderNotExecutable(f"Only failed or held orders can be retried; {locked.number} is {locked.status}.")
        if locked.status == OrderStatus.HELD:
            locked.move_to(OrderStatus.PROVISIONING, by=actor, note="Retried by an operator.")
        locked.next_attempt_at = timezone.now()
        locked.provisioning_lease_until = None
        locked.save(update_fields=["next_attempt_at", "provisioning_lease_until"])
        record_event(
            order=locked,
            step=ProvisioningStepName.START,
            outcome=ProvisioningOutcome.WAITING,
            message=f"Retry asked by {actor.get_username()}.",
        )
        start_provisioning(locked)
    order.refresh_from_db()
    return order


def hold_order(*, actor: AbstractBaseUser, order: Order, note: str = "") -> Order:
    """An operator stops automatic retries of a failed order ("held"); Retry starts it again."""
    _ensure_may_execute(actor, order)
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status != OrderStatus.FAILED:
            raise OrderNotExecutable(f"Only failed orders can be held; {locked.number} is {locked.status}.")
        locked.move_to(OrderStatus.HELD, by=actor, note=(note or "Held by an operator.")[:500])
        locked.next_attempt_at = None
        locked.save(update_fields=["next_attempt_at"])
    order.refresh_from_db()
    return order


def who_can_confirm(account: Account, *, limit: int = 5) -> list[str]:
    """Names of BSS users of the account's organisation who may confirm its MCA acceptance (to tell a BSS user
    without that right whom to ask)."""
    app_label, codename = CONFIRM_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    if permission is None:
        return []
    organisation = (
        Q(membership__role=Role.CSP_BSS)
        if account.reseller_id is None
        else Q(membership__role=Role.WHITE_LABEL_BSS, membership__reseller_id=account.reseller_id)
        | Q(membership__role=Role.CSP_BSS)
    )
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(organisation)
        .filter(Q(groups__permissions=permission) | Q(user_permissions=permission))
        .distinct()
        .order_by("last_name", "username")[: limit * 3]
    )
    names = []
    for user in users:
        if gate.may_confirm(user, account):
            names.append(user.get_full_name() or user.get_username())
        if len(names) == limit:
            break
    return names
