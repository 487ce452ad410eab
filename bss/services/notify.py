"""The one notifier of the customer's signatory: Microsoft's acceptance link, e-mailed from whichever channel the
form came through (storefront, API, BSS execution, BSS subscriptions) or when staff send it again."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.formats import date_format

from bss.models import Account, Order
from mca import gate


def signatory_is(user: AbstractBaseUser | AnonymousUser | None, email: str) -> bool:
    """Is `user` the signatory named with `email`? Then Microsoft's page is shown to them, not e-mailed."""
    own = (getattr(user, "email", "") or "").strip().lower()
    return bool(own) and own == (email or "").strip().lower()


def send_link(
    *,
    account: Account,
    to: str,
    name: str,
    link: str,
    expires_at: datetime | None,
    order: Order | None = None,
    sender: str = "",
) -> str:
    """E-mail Microsoft's acceptance link to the signatory `to`; returns the address, or "" without a link (Partner
    Center had not issued it yet). `sender` names who asks (a store's name; the CSP's staff when empty)."""
    if not link or not to:
        return ""
    until = (
        f"\nThe link works until {date_format(timezone.localtime(expires_at), 'Y-m-d H:i T')}.\n"
        if expires_at
        else "\n"
    )
    about = f" (order {order.number})" if order is not None else ""
    asked_by = f"{sender} has named you" if sender else "You have been named"
    body = (
        f"Dear {name},\n\n"
        f"{asked_by} as the person who accepts the Microsoft Customer Agreement for {account.name}: its Microsoft "
        f"products{about} need your acceptance. Please review and accept it on Microsoft's page:\n\n{link}\n{until}\n"
        "The order goes ahead as soon as Microsoft reports your acceptance. If you are not the right person, reply "
        "to this e-mail.\n"
    )
    subject = f"Please accept the Microsoft Customer Agreement for {account.name}"
    send_mail(f"{sender}: {subject[0].lower()}{subject[1:]}" if sender else subject, body, None, [to])
    return to


def notify_signatory(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    outcome: gate.Outcome | None,
    order: Order | None = None,
    sender: str = "",
) -> str:
    """After a submitted acceptance form: e-mail the link of `outcome` to the signatory it names, unless the actor
    is that signatory (the page shows them Microsoft's link) or nothing is out (legacy flow, no link yet).
    Returns the address e-mailed, or ""."""
    attestation = outcome.attestation if outcome is not None else None
    if attestation is None or not outcome.link or signatory_is(actor, attestation.signatory_email):
        return ""
    return send_link(
        account=attestation.account,
        to=attestation.signatory_email,
        name=attestation.signatory_name,
        link=outcome.link,
        expires_at=outcome.expires_at,
        order=order,
        sender=sender,
    )


def resend_pending_link(*, account: Account, pending: gate.PendingAttestation | None, sender: str = "") -> str:
    """E-mail the link of the gate's open attestation again (staff asked for it); "" when none is usable."""
    if pending is None or not pending.waiting or not pending.link:
        return ""
    return send_link(
        account=account,
        to=pending.signatory_email,
        name=pending.signatory_name,
        link=pending.link,
        expires_at=pending.expires_at,
        sender=sender,
    )
