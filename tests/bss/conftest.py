"""Helpers for the BSS tests: placed orders for demo accounts, the acceptance forms' data."""

from __future__ import annotations

import pytest

from bss.choices import Channel, Operation, OrderStatus
from bss.models import Order, OrderLine, Product

_numbers = iter(range(1, 10_000))


def make_order(
    account, sku: str = "MS-M365-BS", seats: int = 3, *, operation=Operation.NEW_PURCHASE, subscription=None
):
    """A placed order for `account` (as a channel would have placed it)."""
    product = Product.objects.get(sku=sku)
    order = Order.objects.create(
        number=f"SO-T-{next(_numbers):05d}", account=account, channel=Channel.STOREFRONT, status=OrderStatus.PLACED
    )
    OrderLine.objects.create(
        order=order,
        product=product,
        operation=operation,
        quantity=seats,
        subscription=subscription,
        unit_price=product.price,
    )
    return order


def legacy_data(**overrides) -> dict:
    data = {
        "first_name": "Lisa",
        "last_name": "Andrews",
        "email": "lisa@litware.example",
        "phone": "+442079460103",
        "date_agreed": "2026-01-02",
        "accepted": "on",
        "confirm": "1",
    }
    data.update(overrides)
    return data


def signatory_data(company: str = "Litware", **overrides) -> dict:
    data = {
        "signatory_first_name": "Lena",
        "signatory_last_name": "Fischer",
        "signatory_email": "lena.fischer@example.com",
        "signatory_phone": "",
        "company_name": company,
        "authority_confirmed": "on",
        "confirm": "1",
    }
    data.update(overrides)
    return data


@pytest.fixture
def fast_pc(settings):
    """Partner Center failures give up quickly (the client's own retries stay short)."""
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.0
    # About each call's own retries: the shared circuit (tests/partner_center/test_health.py) is off here.
    settings.PARTNER_CENTER_BREAKER_FAILURES = 0
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def _short_partner_center_budget(settings):
    # Unreachable Partner Center (no simulator in most tests, or a "down" fault) gives up fast.
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.5
    # About each call's own retries: the shared circuit (tests/partner_center/test_health.py) is off here.
    settings.PARTNER_CENTER_BREAKER_FAILURES = 0
    settings.MCA_STATUS_TIME_BUDGET = 0.5
