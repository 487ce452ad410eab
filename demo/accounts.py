"""The pinned demo data that `seed_demo` loads and that later features and their tests rely on.

Idempotent: every row is found by its natural key and only created or corrected when it differs, so a
second run changes nothing. Passwords are set only when a user is created.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from bss.choices import BillingTerm, Channel, Operation, OrderStatus, Role, Vendor
from bss.models import (
    Account,
    CloudServiceProvider,
    Contact,
    Order,
    OrderLine,
    OrderStatusChange,
    Product,
    Reseller,
    ScheduledSeatChange,
    Subscription,
)
from bss.roles import grant_role

DEMO_PASSWORD = "demo"
_TENANT_NAMESPACE = uuid.UUID("6f1c9a52-3c1e-4a39-9a55-2b1d3f0a7c11")


def demo_tenant_id(key: str) -> uuid.UUID:
    """A stable Partner Center tenant id for a demo customer, the same on every machine."""
    return uuid.uuid5(_TENANT_NAMESPACE, key)


CSP_NAME = "Cloud Provider"
CSP_TENANT_ID = demo_tenant_id("cloud-provider")

PRODUCTS = [
    # name, sku, vendor, Partner Center offer id, billing term, price
    (
        "Microsoft 365 Business Standard",
        "MS-M365-BS",
        Vendor.MICROSOFT,
        "CFQ7TTC0LDPB:0001",
        BillingTerm.ANNUAL,
        "12.50",
    ),
    ("Microsoft 365 E3", "MS-M365-E3", Vendor.MICROSOFT, "CFQ7TTC0LFLX:0001", BillingTerm.ANNUAL, "36.00"),
    ("Azure plan", "MS-AZURE-PLAN", Vendor.MICROSOFT, "DZH318Z0BPS6:0001", BillingTerm.MONTHLY, "0.00"),
    ("Acronis Cyber Backup", "ACR-CYBER-BACKUP", Vendor.OTHER, "", BillingTerm.MONTHLY, "8.00"),
]


@dataclass(frozen=True)
class DemoAccount:
    key: str
    name: str
    reseller: str | None  # reseller slug, None = CSP direct
    country: str
    language: str
    tenant: str | None  # tenant key for demo_tenant_id, None = not synced
    contact: tuple[str, str, str, str]  # first name, last name, email, phone
    cloud_agreement_accepted_at: datetime | None = None


DEMO_ACCOUNTS = [
    DemoAccount(
        "northwind",
        "Northwind Traders",
        None,
        "US",
        "en-US",
        None,
        ("Nancy", "Davolio", "nancy@northwind.example", "+12065550101"),
    ),
    DemoAccount(
        "adventure-works",
        "Adventure Works",
        "contoso",
        "US",
        "en-US",
        "adventure-works",
        ("Alan", "Brewer", "alan@adventure-works.example", "+12065550102"),
    ),
    DemoAccount(
        "litware",
        "Litware",
        "contoso",
        "GB",
        "en-US",
        "litware",
        ("Lisa", "Andrews", "lisa@litware.example", "+442079460103"),
    ),
    DemoAccount(
        "wide-world",
        "Wide World Importers",
        "contoso",
        "DE",
        "de-DE",
        None,
        ("Wolfgang", "Weber", "wolfgang@wideworld.example", "+493012345604"),
    ),
    DemoAccount(
        "tailspin",
        "Tailspin Toys",
        "fabrikam",
        "FR",
        "fr-FR",
        None,
        ("Thomas", "Martin", "thomas@tailspin.example", "+33142685305"),
    ),
    DemoAccount(
        "alpine-contoso",
        "Alpine Ski House",
        "contoso",
        "US",
        "en-US",
        "alpine-ski-house",
        ("Anna", "Lidman", "anna@alpineskihouse.example", "+12065550106"),
    ),
    DemoAccount(
        "alpine-fabrikam",
        "Alpine Ski House",
        "fabrikam",
        "US",
        "en-US",
        "alpine-ski-house",
        ("Anna", "Lidman", "anna@alpineskihouse.example", "+12065550106"),
    ),
    DemoAccount(
        "coho",
        "Coho Winery",
        None,
        "US",
        "en-US",
        "coho-winery",
        ("Carol", "Philips", "carol@cohowinery.example", "+12065550107"),
        cloud_agreement_accepted_at=datetime(2019, 11, 15, 10, 0, tzinfo=UTC),
    ),
    # Customers with a confirmation in the demo log (demo/history.py), one per channel.
    DemoAccount(
        "blue-yonder",
        "Blue Yonder Airlines",
        None,
        "US",
        "en-US",
        "blue-yonder",
        ("Bella", "Young", "bella@blueyonder.example", "+12065550109"),
    ),
    DemoAccount(
        "proseware",
        "Proseware",
        "contoso",
        "NL",
        "nl-NL",
        "proseware",
        ("Pieter", "de Vries", "pieter@proseware.example", "+31201234510"),
    ),
    DemoAccount(
        "woodgrove",
        "Woodgrove Bank",
        None,
        "GB",
        "en-US",
        "woodgrove",
        ("Wendy", "Grove", "wendy@woodgrove.example", "+442079460111"),
    ),
    DemoAccount(
        "trey",
        "Trey Research",
        "fabrikam",
        "DE",
        "de-DE",
        "trey-research",
        ("Tobias", "Rey", "tobias@treyresearch.example", "+493012345612"),
    ),
    DemoAccount(
        "lucerne",
        "Lucerne Publishing",
        None,
        "CA",
        "fr-FR",
        None,
        ("Lucie", "Bernard", "lucie@lucernepublishing.example", "+15145550113"),
    ),
    DemoAccount(
        "fourth-coffee",
        "Fourth Coffee",
        None,
        "US",
        "en-US",
        "fourth-coffee",
        # Its contact now; its stale 2021 confirmation was Frank Miller's (demo/simulator.py), and Microsoft keeps
        # one confirmation per person: Fiona can accept the current agreement (the stale customer's campaign).
        ("Fiona", "Ortiz", "fiona@fourthcoffee.example", "+12065550118"),
    ),
]

# Placed orders waiting for BSS execution: (order number, account key, product sku, seats, placed by).
# Litware (synced, nothing accepted) asks for the MCA form at execution; Wide World Importers (not synced, German)
# is the README's BSS walk-through; Tailspin Toys is a Fabrikam (white-label) customer that wl-bss executes; both
# are not synced, so provisioning creates their Partner Center customer.
DEMO_ORDERS = [
    ("SO-DEMO-LITWARE", "litware", "MS-M365-BS", 10, "reseller"),
    ("SO-DEMO-WIDEWORLD", "wide-world", "MS-M365-E3", 25, "reseller"),
    ("SO-DEMO-TAILSPIN", "tailspin", "MS-M365-E3", 5, "wl-customer"),
]


@dataclass(frozen=True)
class DemoSubscription:
    """A subscription with its term (days from the seed until it renews) and what is planned for it: the readiness
    page's refusals predicted (issue 19) in every kind: a renewal with more seats, a scheduled seat change, a
    billing-term change at renewal, and changes Microsoft would not refuse (accepted customer, non-Microsoft)."""

    reference: str  # partner_center_subscription_id, the natural key
    account: str
    sku: str
    seats: int
    renews_in_days: int
    auto_renew: bool = True
    next_term_seats: int | None = None
    next_term_billing_term: str = ""
    seat_change: tuple[int, int] | None = None  # (seats, days from the seed)


DEMO_SUBSCRIPTIONS = [
    # Litware (synced, nothing known): a renewal with more seats and a scheduled increase, both refused.
    DemoSubscription("DEMO-SUB-LITWARE", "litware", "MS-M365-BS", 10, 30, next_term_seats=15, seat_change=(12, 7)),
    # Proseware (only a 2022 attestation: stale): renewing unchanged is fine; the scheduled decrease is refused.
    DemoSubscription("DEMO-SUB-PROSEWARE", "proseware", "MS-M365-E3", 20, 60, seat_change=(18, 14)),
    # Blue Yonder accepted at Microsoft: nothing it plans is refused.
    DemoSubscription("DEMO-SUB-BLUEYONDER", "blue-yonder", "MS-M365-E3", 50, 20, next_term_seats=60),
    # Trey Research (Fabrikam, not checked yet): a billing-term change at renewal, at risk.
    DemoSubscription("DEMO-SUB-TREY", "trey", "MS-M365-BS", 5, 45, next_term_billing_term=BillingTerm.MONTHLY),
    # Coho Winery: a non-Microsoft product's seat change never needs the MCA (R1).
    DemoSubscription("DEMO-SUB-COHO", "coho", "ACR-CYBER-BACKUP", 8, 25, seat_change=(10, 3)),
    DemoSubscription("DEMO-SUB-ADVENTURE", "adventure-works", "MS-AZURE-PLAN", 1, 90, auto_renew=False),
]

# username -> (role, account key or reseller slug, first name, last name)
DEMO_USERS = [
    ("admin", Role.ADMIN, None, "Ada", "Admin"),
    ("bss", Role.CSP_BSS, None, "Bob", "Backoffice"),
    ("reseller", Role.RESELLER, "contoso", "Rita", "Reseller"),
    ("wl-bss", Role.WHITE_LABEL_BSS, "fabrikam", "Will", "Fabrikam"),
    ("customer", Role.CUSTOMER, "northwind", "Nancy", "Davolio"),
    ("wl-customer", Role.CUSTOMER, "tailspin", "Thomas", "Martin"),
    ("by-customer", Role.CUSTOMER, "blue-yonder", "Bella", "Young"),
]


def _sync(model, lookup: dict, values: dict):
    """Create the row, or correct only the fields that differ (so an unchanged row is not written)."""
    obj = model.objects.filter(**lookup).first()
    if obj is None:
        return model.objects.create(**lookup, **values)
    changed = [field for field, value in values.items() if getattr(obj, field) != value]
    if changed:
        for field in changed:
            setattr(obj, field, values[field])
        obj.save(update_fields=changed)
    return obj


@transaction.atomic
def seed_demo_data() -> dict[str, Account]:
    """Load the pinned demo data; returns the demo accounts by key."""
    _sync(CloudServiceProvider, {"name": CSP_NAME}, {"partner_center_tenant_id": CSP_TENANT_ID})
    for name, sku, vendor, offer_id, term, price in PRODUCTS:
        _sync(
            Product,
            {"sku": sku},
            {
                "name": name,
                "vendor": vendor,
                "partner_center_offer_id": offer_id,
                "billing_term": term,
                "price": Decimal(price),
            },
        )
    resellers = {
        "contoso": _sync(Reseller, {"slug": "contoso"}, {"name": "Contoso Reseller", "is_white_label": False}),
        "fabrikam": _sync(
            Reseller,
            {"slug": "fabrikam"},
            {
                "name": "Fabrikam Cloud",
                "is_white_label": True,
                "brand_name": "Fabrikam Cloud Store",
                "brand_colour": "#5C2D91",
            },
        ),
    }
    accounts: dict[str, Account] = {}
    for demo in DEMO_ACCOUNTS:
        reseller = resellers[demo.reseller] if demo.reseller else None
        account = _sync(
            Account,
            {"name": demo.name, "reseller": reseller},
            {
                "country": demo.country,
                "language": demo.language,
                "partner_center_tenant_id": demo_tenant_id(demo.tenant) if demo.tenant else None,
                "cloud_agreement_accepted_at": demo.cloud_agreement_accepted_at,
                "domain": demo.name.lower().replace(" ", ""),
            },
        )
        first, last, email, phone = demo.contact
        _sync(
            Contact,
            {"account": account, "is_primary": True},
            {"first_name": first, "last_name": last, "email": email, "phone": phone},
        )
        accounts[demo.key] = account

    User = get_user_model()
    for username, role, org, first, last in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, email=f"{username}@demo.example", first_name=first, last_name=last)
            user.set_password(DEMO_PASSWORD)
            user.save()
        if role == Role.CUSTOMER:
            grant_role(user, role, account=accounts[org])
        elif role in (Role.RESELLER, Role.WHITE_LABEL_BSS):
            grant_role(user, role, reseller=resellers[org])
        else:
            grant_role(user, role)
    _seed_orders(accounts)
    _seed_subscriptions(accounts)
    return accounts


def _seed_subscriptions(accounts: dict[str, Account]) -> None:
    """The demo's subscriptions and scheduled seat changes, created once, their days counted from the first seed."""
    today = timezone.localdate()
    for demo in DEMO_SUBSCRIPTIONS:
        if Subscription.objects.filter(partner_center_subscription_id=demo.reference).exists():
            continue
        subscription = Subscription.objects.create(
            account=accounts[demo.account],
            product=Product.objects.get(sku=demo.sku),
            seats=demo.seats,
            partner_center_subscription_id=demo.reference,
            renews_on=today + timedelta(days=demo.renews_in_days),
            auto_renew=demo.auto_renew,
            next_term_seats=demo.next_term_seats,
            next_term_billing_term=demo.next_term_billing_term,
        )
        if demo.seat_change is not None:
            seats, days = demo.seat_change
            ScheduledSeatChange.objects.create(
                subscription=subscription, seats=seats, effective_on=today + timedelta(days=days)
            )


def _seed_orders(accounts: dict[str, Account]) -> None:
    """The demo's placed orders, created once: a demo that executed them keeps its progress on a re-seed."""
    User = get_user_model()
    for number, key, sku, seats, username in DEMO_ORDERS:
        if Order.objects.filter(number=number).exists():
            continue
        product = Product.objects.get(sku=sku)
        user = User.objects.get(username=username)
        channel = Channel.STOREFRONT if username.endswith("customer") else Channel.RESELLER_STOREFRONT
        order = Order.objects.create(
            number=number, account=accounts[key], channel=channel, status=OrderStatus.PLACED, created_by=user
        )
        OrderLine.objects.create(
            order=order, product=product, operation=Operation.NEW_PURCHASE, quantity=seats, unit_price=product.price
        )
        OrderStatusChange.objects.create(
            order=order,
            from_status=OrderStatus.DRAFT,
            to_status=OrderStatus.PLACED,
            changed_at=order.status_changed_at,
            changed_by=user,
            note="Demo order.",
        )
