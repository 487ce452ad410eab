"""The daily readiness digest (issue 19, item 5): to CSP staff and to each reseller's staff, the customers whose
next order or change Microsoft would refuse (the gate's predicted refusals), each recipient only the customers it
may see (`Account.objects.visible_to`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from bss.choices import Role
from bss.models import Account
from mca import gate

# Who receives it: CSP staff (every customer), a reseller's users and white-label staff (their reseller's).
DIGEST_ROLES = (Role.CSP_BSS, Role.RESELLER, Role.WHITE_LABEL_BSS)
DIGEST_MAX_CUSTOMERS = 100  # per e-mail; the rest is on the readiness page
CHUNK = 1_000


@dataclass(frozen=True)
class AtRisk:
    account: Account
    refusals: list[gate.PredictedRefusal]


def _at_risk(today: date) -> dict[int, AtRisk]:
    """Every account with a refusal predicted now: the stored readiness narrows the candidates, the gate decides
    live for those (in chunks; no Partner Center call)."""
    found: dict[int, AtRisk] = {}
    candidates = Account.objects.filter(readiness__refusals__gt=0).select_related("reseller").order_by("pk")
    last = 0
    while batch := list(candidates.filter(pk__gt=last)[:CHUNK]):
        last = batch[-1].pk
        for pk, refusals in gate.predict_refusals(batch, today=today).items():
            found[pk] = AtRisk(next(account for account in batch if account.pk == pk), refusals)
    return found


def _body(user_name: str, items: list[AtRisk], page_url: str) -> str:
    lines = [
        f"Hello {user_name},",
        "",
        f"{len(items)} of your customers have an order or change that Microsoft would refuse for lack of a current "
        "Microsoft Customer Agreement acceptance:",
        "",
    ]
    for item in items[:DIGEST_MAX_CUSTOMERS]:
        lines.append(f"{item.account.name} ({item.account.owner_name})")
        for refusal in item.refusals:
            lines.append(
                f"  - {refusal.change.kind_label}: {refusal.change.description}; fails on "
                f"{refusal.fails_on:%Y-%m-%d}. {refusal.reason}."
            )
    if len(items) > DIGEST_MAX_CUSTOMERS:
        lines += ["", f"… and {len(items) - DIGEST_MAX_CUSTOMERS} more customers."]
    lines += ["", f"All of them, with filters and a CSV export: {page_url}"]
    return "\n".join(lines) + "\n"


def send_readiness_digest(*, today: date | None = None, refresh: bool = True) -> int:
    """E-mail each CSP staff member and each reseller user the customers they may see with a refusal predicted
    (no e-mail to someone with none); returns the number of e-mails sent. `refresh` rewrites the stored readiness
    first, so the digest does not depend on the last beat."""
    today = today or timezone.localdate()
    if refresh:
        gate.refresh_readiness()
    at_risk = _at_risk(today)
    if not at_risk:
        return 0
    page_url = settings.SITE_BASE_URL.rstrip("/") + reverse("bss:readiness") + "?at_risk=on"
    recipients = (
        get_user_model()
        .objects.filter(is_active=True, membership__role__in=DIGEST_ROLES)
        .exclude(email="")
        .select_related("membership")
        .order_by("pk")
    )
    sent = 0
    for user in recipients:
        # The one scoping rule decides what each recipient sees: a reseller never reads another's customers.
        visible = set(Account.objects.visible_to(user).filter(pk__in=list(at_risk)).values_list("pk", flat=True))
        items = sorted(
            (at_risk[pk] for pk in visible),
            key=lambda item: (item.refusals[0].fails_on, item.account.name, item.account.pk),
        )
        if not items:
            continue
        send_mail(
            subject=f"MCA readiness: {len(items)} customers would be refused",
            message=_body(user.get_full_name() or user.get_username(), items, page_url),
            from_email=None,
            recipient_list=[user.email],
        )
        sent += 1
    return sent
