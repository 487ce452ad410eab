"""The simulator's side of the pinned demo (demo/accounts.py): templates, customers and their confirmations.

Idempotent like `seed_demo_data`: rows are found by natural key and written only when they differ, so a second
run changes no row. Confirmations made during a demo are left alone (the seed never deletes).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import models, transaction

from demo.accounts import DEMO_ACCOUNTS, demo_tenant_id
from partner_center.simulator.models import (
    CLOUD_AGREEMENT,
    MCA,
    SimAgreement,
    SimAgreementTemplate,
    SimCustomer,
)
from partner_center.simulator.services import AGREEMENT_LINKS

MCA_TEMPLATE_ID = uuid.UUID("117a77b0-9360-443b-8795-c6dedc750cf9")  # Microsoft's documented MCA template
# The simulator's own id for the Microsoft Cloud Agreement template (Microsoft's is not in our notes).
CLOUD_AGREEMENT_TEMPLATE_ID = uuid.UUID("5f4c9a2e-8d1b-4f63-9a0e-3b7d2c1e6a40")

# The partner user who made the seeded confirmations (stable so a re-seed matches).
DEMO_PARTNER_USER_ID = "3d0f5a8e-2b4c-4e61-9f7a-1c8b6d2e4f90"

# Every synced demo account's tenant (Alpine Ski House's two accounts share one).
SIMULATED_TENANTS = tuple(dict.fromkeys(account.tenant for account in DEMO_ACCOUNTS if account.tenant))


@dataclass(frozen=True)
class DemoConfirmation:
    tenant: str
    agreement_type: str
    template_id: uuid.UUID
    date_agreed: datetime
    # Who confirmed (first, last, e-mail, phone): the account's contact when None.
    person: tuple[str, str, str, str] | None = None


DEMO_CONFIRMATIONS = [
    DemoConfirmation("adventure-works", MCA, MCA_TEMPLATE_ID, datetime(2024, 5, 10, tzinfo=UTC)),
    DemoConfirmation("coho-winery", CLOUD_AGREEMENT, CLOUD_AGREEMENT_TEMPLATE_ID, datetime(2019, 11, 15, tzinfo=UTC)),
    # Before the 2023-04-01 refresh: stale, so Fourth Coffee's purchases are refused until it accepts again.
    # By Frank Miller, its signatory then (Fiona Ortiz is its contact now).
    DemoConfirmation(
        "fourth-coffee",
        MCA,
        MCA_TEMPLATE_ID,
        datetime(2021, 6, 15, tzinfo=UTC),
        person=("Frank", "Miller", "frank@fourthcoffee.example", "+12065550108"),
    ),
]


def _upsert(model: type[models.Model], lookup: dict[str, Any], values: dict[str, Any]) -> Any:
    """Find by natural key; create, or save only the fields that differ (an equal row is not written)."""
    obj = model.objects.filter(**lookup).first()  # type: ignore[attr-defined]
    if obj is None:
        return model.objects.create(**lookup, **values)  # type: ignore[attr-defined]
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, values[name])
    if changed:
        obj.save(update_fields=changed)
    return obj


def _demo_account(tenant: str) -> Any:
    # Alpine Ski House appears twice (two resellers, one tenant): either entry gives the same company.
    return next(account for account in DEMO_ACCOUNTS if account.tenant == tenant)


@transaction.atomic
def seed_simulator() -> None:
    """Load the simulator's demo state matching the BSS demo accounts."""
    _upsert(
        SimAgreementTemplate,
        {"template_id": MCA_TEMPLATE_ID},
        {"agreement_type": MCA, "version_rank": 0, "agreement_link": AGREEMENT_LINKS[MCA]},
    )
    _upsert(
        SimAgreementTemplate,
        {"template_id": CLOUD_AGREEMENT_TEMPLATE_ID},
        {"agreement_type": CLOUD_AGREEMENT, "version_rank": 0, "agreement_link": AGREEMENT_LINKS[CLOUD_AGREEMENT]},
    )
    customers: dict[str, SimCustomer] = {}
    for tenant in SIMULATED_TENANTS:
        account = _demo_account(tenant)
        tenant_id = demo_tenant_id(tenant)
        customers[tenant] = _upsert(
            SimCustomer,
            {"tenant_id": tenant_id},
            {
                "commerce_id": uuid.uuid5(tenant_id, "commerce"),
                "company_name": account.name,
                "domain": f"{account.name.lower().replace(' ', '')}.onmicrosoft.com",
                "country": account.country,
                "direct_signed": False,
            },
        )
    for confirmation in DEMO_CONFIRMATIONS:
        first, last, email, phone = confirmation.person or _demo_account(confirmation.tenant).contact
        template = SimAgreementTemplate.objects.get(template_id=confirmation.template_id)
        _upsert(
            SimAgreement,
            {
                "customer": customers[confirmation.tenant],
                "agreement_type": confirmation.agreement_type,
                "first_name": first,
                "last_name": last,
                "email": email,
                "phone_number": phone,
            },
            {
                "template_id": template.template_id,
                "agreement_link": template.agreement_link,
                "date_agreed": confirmation.date_agreed,
                "user_id": DEMO_PARTNER_USER_ID,
            },
        )
