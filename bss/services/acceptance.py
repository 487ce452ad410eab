"""The acceptance step every operation shares, and the stand-alone acceptance form. Channels never submit the form
to the gate themselves: they call an operation (`place_order`, `execute_order`, `create_subscription`,
`change_seats`) with `acceptance=`, or `confirm_acceptance` for the form alone.

    settled = settle(actor=..., account=..., operations=..., acceptance=..., context=...)
    # settled.decision: the gate's answer after the form went in; settled.outcome: the form's outcome, if any
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied

from bss.models import Account, Order
from bss.services.notify import notify_signatory
from mca import gate


@dataclass(frozen=True)
class OperationResult:
    """What an operation did. `executed`: the order is executed and provisioning started (or had already been).
    `held`: it waits in "awaiting acceptance" for the customer's signatory (`decision`/`outcome` say who and until
    when). `outcome` is the acceptance form's outcome when a form was submitted in this call; `emailed_to` the
    signatory the link was e-mailed to."""

    order: Order
    executed: bool
    held: bool
    decision: gate.Decision | None = None
    outcome: gate.Outcome | None = None
    emailed_to: str = ""


@dataclass(frozen=True)
class Settled:
    """The gate's decision for an operation once the acceptance given with it (if any) went in."""

    decision: gate.Decision
    outcome: gate.Outcome | None = None


def settle(
    *,
    actor: AbstractBaseUser,
    account: Account,
    operations: Sequence[gate.GatedOperation],
    acceptance: Any,
    context: gate.ConfirmationContext,
) -> Settled:
    """Ask the gate about `operations`; when it asks for the form and `acceptance` (the form's data) is given,
    submit it for `account` (R6: the actor must be allowed to confirm) and ask again. An acceptance that is not
    needed (known already, or a link is out) is not submitted. Raises PermissionDenied, gate.AcceptanceInvalid
    and gate.IdempotencyConflict, writing nothing then; never raises AcceptanceRequired (the caller decides)."""
    decision = gate.check(account, operations)
    if acceptance is None or not decision.blocks_order:
        return Settled(decision)
    if not gate.may_confirm(actor, account):
        raise PermissionDenied("You may not confirm this customer's MCA acceptance.")
    outcome = gate.submit_acceptance(
        actor=actor, account=account, data=acceptance, context=decision.context_for(context)
    )
    return Settled(gate.check(account, operations), outcome)


def confirm_acceptance(
    *,
    actor: AbstractBaseUser,
    account: Account,
    data: Any,
    context: gate.ConfirmationContext,
    sender: str = "",
) -> tuple[gate.Outcome, str]:
    """The acceptance form alone (the storefront's Service Details step, the API's acceptances endpoint): submit it
    (R5-R10) and e-mail Microsoft's link to the signatory unless the actor is the signatory. Returns the outcome
    and the address e-mailed (""). Raises PermissionDenied (R6), gate.AcceptanceInvalid, gate.IdempotencyConflict,
    and then writes nothing."""
    outcome = gate.submit_acceptance(actor=actor, account=account, data=data, context=context)
    return outcome, notify_signatory(actor=actor, outcome=outcome, sender=sender, context=context)


def resend_link(
    *, actor: AbstractBaseUser, account: Account, context: gate.ConfirmationContext, sender: str = ""
) -> tuple[gate.Outcome, str]:
    """A new acceptance link for the signatory (the old one expired or was lost), e-mailed unless the actor is the
    signatory. Returns the outcome and the address e-mailed ("")."""
    outcome = gate.resend_link(actor=actor, account=account, context=context)
    return outcome, notify_signatory(actor=actor, outcome=outcome, sender=sender, context=context)
