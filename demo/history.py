"""Demo acceptance history for `seed_demo`: one past confirmation per channel, made through the real service.

Each uses an idempotency key, so a second seed returns the records of the first and writes nothing. Deliveries
go to Partner Center (the simulator) like any other: delivered for synced customers when the simulator is
being served, waiting for a customer id for the one that is not synced.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model

from bss.choices import Channel, Operation
from bss.models import Account
from demo.accounts import DEMO_ACCOUNTS
from demo.simulator import MCA_TEMPLATE_ID
from mca.attestation.legacy import confirm_acceptance
from mca.choices import AttestationState
from mca.context import ConfirmationContext
from mca.models import AcceptanceRecord, Attestation

DOCUMENT_LINK = "https://www.microsoft.com/licensing/docs/customeragreement"


@dataclass(frozen=True)
class PastConfirmation:
    account_key: str
    username: str
    channel: Channel
    date_agreed: str
    operation: Operation
    order_number: str = ""
    subscription_ref: str = ""


PAST_CONFIRMATIONS = [
    PastConfirmation(
        "blue-yonder", "by-customer", Channel.STOREFRONT, "2025-09-12", Operation.NEW_PURCHASE, "SO-900001"
    ),
    PastConfirmation(
        "proseware", "reseller", Channel.RESELLER_STOREFRONT, "2025-11-03", Operation.NEW_PURCHASE, "SO-900002"
    ),
    PastConfirmation("woodgrove", "bss", Channel.BSS_EXECUTION, "2026-02-17", Operation.NEW_PURCHASE, "SO-900003"),
    PastConfirmation(
        "trey", "wl-bss", Channel.BSS_SUBSCRIPTION, "2026-05-08", Operation.SEAT_INCREASE, subscription_ref="SUB-7731"
    ),
    # Not synced: waits for provisioning to give it a Partner Center customer id.
    PastConfirmation("lucerne", "bss", Channel.API, "2026-10-21", Operation.NEW_PURCHASE, "SO-900005"),
]


def seed_history(accounts: dict[str, Account]) -> list[AcceptanceRecord]:
    User = get_user_model()
    contacts = {demo.key: demo.contact for demo in DEMO_ACCOUNTS}
    records = []
    for past in PAST_CONFIRMATIONS:
        first, last, email, phone = contacts[past.account_key]
        records.append(
            confirm_acceptance(
                actor=User.objects.get(username=past.username),
                account=accounts[past.account_key],
                data={
                    "first_name": first,
                    "last_name": last,
                    "email": email,
                    "phone": phone,
                    "date_agreed": past.date_agreed,
                    "accepted": "on",
                },
                context=ConfirmationContext(
                    channel=past.channel,
                    host="127.0.0.1:8000",
                    ip_address="127.0.0.1",
                    user_agent="seed_demo",
                    order_number=past.order_number,
                    subscription_ref=past.subscription_ref,
                    operation=past.operation,
                    idempotency_key=f"seed-demo:{past.account_key}",
                    # The simulator's seeded template: what these customers were shown.
                    template_id=str(MCA_TEMPLATE_ID),
                    template_version_rank=0,
                    document_link=DOCUMENT_LINK,
                ),
            )
        )
    return records


@dataclass(frozen=True)
class OpenLink:
    """A signatory's acceptance link out (enhanced flow), so the pages show a pending and an expired link."""

    account_key: str
    username: str
    channel: Channel
    expired: bool


OPEN_LINKS = [
    # Pending: Contoso named Alpine Ski House's signatory; Fabrikam's account of the same tenant shows it too (R2).
    OpenLink("alpine-contoso", "reseller", Channel.RESELLER_STOREFRONT, expired=False),
    # Expired: the CSP's link to Coho Winery's signatory lapsed; "Send again" issues a new one.
    OpenLink("coho", "bss", Channel.BSS_EXECUTION, expired=True),
]


def seed_links(accounts: dict[str, Account]) -> list[Attestation]:
    """Start the enhanced attestations of OPEN_LINKS through the real flow (Microsoft is the simulator, which must
    be answering), and let the expired one lapse at the simulator. Idempotent: a second seed replays the first."""
    from mca.attestation.enhanced import EnhancedFlow, advance_attestation
    from partner_center.simulator import services as simulator

    User = get_user_model()
    contacts = {demo.key: demo.contact for demo in DEMO_ACCOUNTS}
    attestations = []
    for link in OPEN_LINKS:
        account = accounts[link.account_key]
        first, last, email, _phone = contacts[link.account_key]
        outcome = EnhancedFlow().start(
            actor=User.objects.get(username=link.username),
            account=account,
            data={
                "signatory_first_name": first,
                "signatory_last_name": last,
                "signatory_email": email,
                "signatory_phone": "",
                "company_name": account.name,
                "authority_confirmed": "on",
            },
            context=ConfirmationContext(
                channel=link.channel,
                host="127.0.0.1:8000",
                ip_address="127.0.0.1",
                user_agent="seed_demo",
                operation=Operation.NEW_PURCHASE,
                idempotency_key=f"seed-demo-link:{link.account_key}",
            ),
        )
        attestation = outcome.attestation
        if attestation is None:
            continue
        attestation.refresh_from_db()
        if link.expired and attestation.attestation_id and attestation.state == AttestationState.PENDING:
            simulator.expire_attestation(attestation_id=attestation.attestation_id)
            # Asked now, as `mca_reconcile` looks at open links: "Check now" would skip a link touched in the last
            # MCA_ATTESTATION_MIN_CHECK_SECONDS, as this one just was.
            Attestation.objects.filter(pk=attestation.pk).update(next_check_at=None)
            advance_attestation(attestation.pk)
            attestation.refresh_from_db()
        attestations.append(attestation)
    return attestations
