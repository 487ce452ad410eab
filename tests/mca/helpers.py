"""Shared test data for the acceptance tests."""

from datetime import date

from bss.choices import Channel
from mca.context import ConfirmationContext

TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"


def form_data(**overrides) -> dict:
    data = {
        "first_name": "Jane",
        "last_name": "Smith",
        "email": "jane.smith@example.com",
        "phone": "+1 206 555 0100",
        "date_agreed": date(2026, 11, 20).isoformat(),
        "accepted": "on",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def context(**overrides) -> ConfirmationContext:
    """A context that names the template shown, so no Partner Center call is needed to write a record."""
    values = {
        "channel": Channel.STOREFRONT,
        "host": "shop.example",
        "ip_address": "203.0.113.7",
        "user_agent": "pytest",
        "template_id": TEMPLATE_ID,
        "template_version_rank": 0,
        "document_link": "https://www.microsoft.com/licensing/docs/customeragreement",
    }
    values.update(overrides)
    return ConfirmationContext(**values)
