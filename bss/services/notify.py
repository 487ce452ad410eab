"""The one notifier of the customer's signatory: Microsoft's acceptance link, e-mailed from whichever channel the
form came through (storefront, API, BSS execution, BSS subscriptions) or when staff send it again."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.mail import send_mail
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext

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
    # In the customer's language (Account.language), whatever the language of the person who asked for it.
    with translation.override(account.interface_language):
        until = "\n"
        if expires_at:
            expires = date_format(timezone.localtime(expires_at), "Y-m-d H:i T")
            until = "\n" + gettext("The link works until %(expires)s.") % {"expires": expires} + "\n"
        about = " (" + gettext("order %(number)s") % {"number": order.number} + ")" if order is not None else ""
        names = {"sender": sender, "customer": account.name, "about": about}
        asked = (
            gettext(
                "%(sender)s has named you as the person who accepts the Microsoft Customer Agreement for %(customer)s"
            )
            if sender
            else gettext(
                "You have been named as the person who accepts the Microsoft Customer Agreement for %(customer)s"
            )
        )
        body = (
            gettext("Dear %(name)s,") % {"name": name}
            + "\n\n"
            + (asked % names)
            + ": "
            + gettext("its Microsoft products%(about)s need your acceptance.") % names
            + " "
            + gettext("Please review and accept it on Microsoft's page:")
            + f"\n\n{link}\n{until}\n"
            + gettext("The order goes ahead as soon as Microsoft reports your acceptance.")
            + " "
            + gettext("If you are not the right person, reply to this e-mail.")
            + "\n"
        )
        subject = gettext("Please accept the Microsoft Customer Agreement for %(customer)s") % names
        if sender:
            subject = gettext("%(sender)s: please accept the Microsoft Customer Agreement for %(customer)s") % names
    send_mail(subject, body, None, [to])
    return to


def _recorded(
    to: str,
    *,
    account: Account,
    actor: AbstractBaseUser | AnonymousUser | None,
    context: gate.ConfirmationContext | None,
    sender: str,
) -> str:
    """The log says how the link reached the signatory (issue 17, item 6): by e-mail, to the signatory only."""
    if to and actor is not None and actor.is_authenticated:
        gate.record_link_sent(
            actor=actor,
            account=account,
            context=context,
            how=f"e-mailed by {sender or 'the provider'} to the signatory only ({gate.mask_email(to)})",
        )
    return to


def notify_signatory(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    outcome: gate.Outcome | None,
    order: Order | None = None,
    sender: str = "",
    context: gate.ConfirmationContext | None = None,
) -> str:
    """After a submitted acceptance form: e-mail the link of `outcome` to the signatory it names, unless the actor
    is that signatory (the page shows them Microsoft's link) or nothing is out (legacy flow, no link yet).
    Returns the address e-mailed, or ""."""
    attestation = outcome.attestation if outcome is not None else None
    if attestation is None or not outcome.link or signatory_is(actor, attestation.signatory_email):
        return ""
    to = send_link(
        account=attestation.account,
        to=attestation.signatory_email,
        name=attestation.signatory_name,
        link=outcome.link,
        expires_at=outcome.expires_at,
        order=order,
        sender=sender,
    )
    return _recorded(to, account=attestation.account, actor=actor, context=context, sender=sender)


def resend_pending_link(
    *,
    account: Account,
    pending: gate.PendingAttestation | None,
    sender: str = "",
    actor: AbstractBaseUser | AnonymousUser | None = None,
    context: gate.ConfirmationContext | None = None,
) -> str:
    """E-mail the link of the gate's open attestation again (staff asked for it); "" when none is usable."""
    if pending is None or not pending.waiting or not pending.link:
        return ""
    to = send_link(
        account=account,
        to=pending.signatory_email,
        name=pending.signatory_name,
        link=pending.link,
        expires_at=pending.expires_at,
        sender=sender,
    )
    return _recorded(to, account=account, actor=actor, context=context, sender=sender)


# --- The immediate notice when an order is held for acceptance (issue 19, item 5) -------------------------------


def hold_notice_recipients(account: Account) -> dict[str, list[str]]:
    """Who is told that an order of `account` is held, per organisation: the CSP's staff (CSP BSS users and
    administrators) always, and the staff of the customer's reseller (reseller and white-label BSS users); never
    another reseller's people, nor the customer's own users (their signatory gets Microsoft's link)."""
    from django.contrib.auth import get_user_model

    from bss.choices import Role

    people = (
        get_user_model()
        .objects.filter(is_active=True)
        .exclude(email="")
        .filter(membership__isnull=False)
        .values_list("email", "membership__role", "membership__reseller_id")
    )
    recipients: dict[str, list[str]] = {"csp": [], "reseller": []}
    csp = people.filter(membership__role__in=(Role.CSP_BSS, Role.ADMIN)).order_by("email")
    recipients["csp"] = [email for email, _role, _reseller in csp]
    if account.reseller_id is not None:
        resellers = people.filter(
            membership__role__in=(Role.RESELLER, Role.WHITE_LABEL_BSS), membership__reseller_id=account.reseller_id
        ).order_by("email")
        recipients["reseller"] = [email for email, _role, _reseller in resellers]
    return recipients


def send_hold_notice(order_id: int, reason: str) -> int:
    """E-mail each recipient (one message each: colleagues' addresses are not shared) that the order is held,
    why, and where to act. Returns how many were sent. BSS e-mails are in English, like the BSS."""
    from django.core.mail import send_mass_mail

    order = Order.objects.select_related("account", "account__reseller").get(pk=order_id)
    account = order.account
    subject = f"Order {order.number} for {account.name} is held for MCA acceptance"
    body = (
        f"Order {order.number} for {account.name} ({account.owner_name}) is waiting for the customer's acceptance "
        f"of the Microsoft Customer Agreement.\n\nWhy: {reason}\n\n"
        f"It goes on by itself once the acceptance is known. The order in the BSS: /bss/orders/{order.number}/\n"
        f"The customer: /bss/accounts/{account.pk}/\n"
    )
    recipients = hold_notice_recipients(account)
    mails = [(subject, body, None, [to]) for group in ("csp", "reseller") for to in recipients[group]]
    return send_mass_mail(mails, fail_silently=False) if mails else 0


def notice_when_held(sender: object = None, *, order: Order, reason: str, **kwargs: object) -> None:
    """Receiver of `bss.signals.order_held_for_acceptance`: the notice goes after commit (never for a change
    that rolled back); a mail server that fails is logged, the hold stands."""
    import logging

    from django.conf import settings
    from django.db import transaction

    if not settings.BSS_HOLD_NOTICE:
        return
    order_id = order.pk

    def send() -> None:
        try:
            send_hold_notice(order_id, reason)
        except Exception:
            logging.getLogger(__name__).exception("The hold notice for order %s was not sent", order_id)

    transaction.on_commit(send)


# The campaign e-mails (bss.services.campaigns): the first link, a reminder with the same link, a new link after the
# old one expired. Declared once; each is rendered in the customer's language (en, de, fr).
CAMPAIGN_FIRST, CAMPAIGN_REMINDER, CAMPAIGN_REISSUED = "first", "reminder", "reissued"


def send_campaign_link(
    *,
    account: Account,
    to: str,
    name: str,
    link: str,
    expires_at: datetime | None,
    kind: str = CAMPAIGN_FIRST,
    sender: str = "",
) -> str:
    """E-mail an acceptance campaign's link to the signatory `to`, in the customer's language. Returns the address.
    The mail server's refusal is raised (smtplib.SMTPRecipientsRefused: the campaign records a bounce)."""
    with translation.override(account.interface_language):
        names = {"customer": account.name, "sender": sender or gettext("Your Microsoft partner")}
        if kind == CAMPAIGN_REMINDER:
            subject = gettext("Reminder: please accept the Microsoft Customer Agreement for %(customer)s") % names
            opening = gettext(
                "This is a reminder: the Microsoft Customer Agreement for %(customer)s is still waiting for your "
                "acceptance."
            )
        elif kind == CAMPAIGN_REISSUED:
            subject = gettext("A new link to accept the Microsoft Customer Agreement for %(customer)s") % names
            opening = gettext(
                "The previous acceptance link for %(customer)s expired; here is a new one. The old link no longer "
                "works."
            )
        else:
            subject = gettext("Please accept the Microsoft Customer Agreement for %(customer)s") % names
            opening = gettext(
                "%(sender)s asks you, as the person who accepts agreements for %(customer)s, to accept the current "
                "Microsoft Customer Agreement. Without it, new Microsoft purchases and changes for %(customer)s "
                "will be refused."
            )
        until = ""
        if expires_at:
            expires = date_format(timezone.localtime(expires_at), "Y-m-d H:i T")
            until = gettext("The link works until %(expires)s.") % {"expires": expires} + "\n"
        body = (
            gettext("Dear %(name)s,") % {"name": name}
            + "\n\n"
            + (opening % names)
            + "\n\n"
            + gettext("Please review and accept it on Microsoft's page:")
            + f"\n\n{link}\n\n{until}\n"
            + gettext("If you are not the right person, reply to this e-mail.")
            + "\n"
        )
    send_mail(subject, body, None, [to])
    return to
