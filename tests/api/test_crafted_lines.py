"""Attacks on the order API with crafted lines: a change line's product is its subscription's product, so the gate
is asked about what really changes at Microsoft (issue 20, "What was seen" 1)."""

import pytest

from bss.models import Order, OrderLine, Subscription
from mca.models import AcceptanceRecord
from tests.api.conftest import assert_problem


@pytest.fixture
def coho_m365(demo, microsoft_product):
    """Coho Winery needs the MCA (its Cloud Agreement is from before the cut-over) and has 10 seats of M365."""
    return Subscription.objects.create(account=demo["coho"], product=microsoft_product, seats=10)


def seat_line(product, subscription, quantity=50, operation="seat_increase"):
    return {"product": product.pk, "quantity": quantity, "operation": operation, "subscription": subscription.pk}


def test_the_honest_seat_increase_is_refused_for_acceptance(api, demo, microsoft_product, coho_m365):
    body = {"account": demo["coho"].pk, "lines": [seat_line(microsoft_product, coho_m365)]}
    assert_problem(api("bss").post("/api/v1/orders/", body, format="json"), 409, "mca_acceptance_required")
    assert not Order.objects.exists()


@pytest.mark.parametrize("operation", ["seat_increase", "seat_decrease", "renewal", "cancellation"])
def test_a_change_line_naming_another_product_than_its_subscription_is_400_and_writes_nothing(
    api, demo, other_product, coho_m365, operation
):
    """The attack: the same seat increase, labelled Acronis. Before the fix: 201, then executed and provisioned,
    and the Microsoft subscription went to 50 seats with no acceptance, no record and no Partner Center call."""
    body = {"account": demo["coho"].pk, "lines": [seat_line(other_product, coho_m365, operation=operation)]}
    problem = assert_problem(api("bss").post("/api/v1/orders/", body, format="json"), 400, "validation_error")
    assert list(problem["errors"]) == ["lines[0].product"]
    assert "subscription" in problem["errors"]["lines[0].product"][0]
    assert not Order.objects.exists() and not OrderLine.objects.exists()
    assert not AcceptanceRecord.objects.exists()
    coho_m365.refresh_from_db()
    assert coho_m365.seats == 10
