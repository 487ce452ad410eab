"""Manual subscriptions (SPEC flow 4): new Microsoft subscriptions and any seat-count change are gated (channel
"BSS subscription"); renewals, cancellations and non-Microsoft products never ask."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bss.choices import Channel, Operation, OrderStatus
from bss.models import Product, Subscription
from bss.services import subscriptions
from bss.services.orders import OrderInvalid
from mca import gate
from mca.models import AcceptanceRecord
from tests.bss.conftest import legacy_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def m365_subscription(demo):
    return Subscription.objects.create(
        account=demo["northwind"],
        product=Product.objects.get(sku="MS-M365-BS"),
        seats=5,
        partner_center_subscription_id="sub-1",
    )


@pytest.mark.parametrize("seats", [8, 2], ids=["increase", "decrease"])
def test_a_seat_change_asks_for_acceptance(demo_user, m365_subscription, seats):
    with pytest.raises(gate.AcceptanceRequired) as raised:
        subscriptions.change_seats(actor=demo_user("bss"), subscription=m365_subscription, seats=seats)
    assert raised.value.decision.show_form
    assert m365_subscription.order_lines.count() == 0


def test_a_new_microsoft_subscription_asks_and_a_non_microsoft_one_does_not(
    demo, demo_user, django_capture_on_commit_callbacks
):
    bss, northwind = demo_user("bss"), demo["northwind"]
    with pytest.raises(gate.AcceptanceRequired):
        subscriptions.create_subscription(
            actor=bss, account=northwind, product=Product.objects.get(sku="MS-M365-E3"), seats=2
        )
    with django_capture_on_commit_callbacks(execute=True):
        result = subscriptions.create_subscription(
            actor=bss, account=northwind, product=Product.objects.get(sku="ACR-CYBER-BACKUP"), seats=2
        )
    assert result.executed and result.order.channel == Channel.BSS_SUBSCRIPTION
    result.order.refresh_from_db()
    assert result.order.status == OrderStatus.PROVISIONED
    assert Subscription.objects.get(account=northwind, product__sku="ACR-CYBER-BACKUP").seats == 2


def test_renewal_and_cancellation_never_ask(demo_user, m365_subscription, django_capture_on_commit_callbacks):
    bss = demo_user("bss")
    renewal = subscriptions.renew_subscription(actor=bss, subscription=m365_subscription)
    assert renewal.executed and renewal.order.lines.get().operation == Operation.RENEWAL
    with django_capture_on_commit_callbacks(execute=True):
        cancellation = subscriptions.cancel_subscription(actor=bss, subscription=m365_subscription)
    assert cancellation.executed
    m365_subscription.refresh_from_db()
    assert not m365_subscription.is_active
    assert not AcceptanceRecord.objects.exists()


def test_confirming_a_seat_change_records_the_bss_subscription_channel(legacy, demo_user, m365_subscription):
    bss = demo_user("bss")
    result = subscriptions.change_seats(
        actor=bss,
        subscription=m365_subscription,
        seats=9,
        acceptance=legacy_data(first_name="Nancy", last_name="Davolio"),
    )
    assert result.executed and result.order.status == OrderStatus.EXECUTED
    line = result.order.lines.get()
    assert (line.operation, line.quantity, line.subscription) == (Operation.SEAT_INCREASE, 9, m365_subscription)
    record = AcceptanceRecord.objects.get()
    assert record.channel == Channel.BSS_SUBSCRIPTION and record.subscription_ref == "sub-1"
    # R2: a decrease afterwards does not ask again.
    assert subscriptions.change_seats(actor=bss, subscription=m365_subscription, seats=3).executed


def test_same_seat_count_is_refused(demo_user, m365_subscription):
    with pytest.raises(OrderInvalid):
        subscriptions.change_seats(actor=demo_user("bss"), subscription=m365_subscription, seats=5)


def test_seat_change_page_shows_the_form_then_changes(client, legacy, demo_user, m365_subscription):
    client.force_login(demo_user("bss"))
    url = reverse("bss:subscription-detail", args=[m365_subscription.pk])
    body = client.post(url, {"seats": "7"}).content.decode()
    assert 'name="first_name"' in body and "Confirm and continue" in body
    response = client.post(url, {"seats": "7", "order_key": "o-1", **legacy_data(first_name="Nancy")})
    assert response.status_code == 302
    assert AcceptanceRecord.objects.get().channel == Channel.BSS_SUBSCRIPTION
    assert m365_subscription.order_lines.get().order.status == OrderStatus.EXECUTED


def test_new_subscription_page(client, demo, demo_user):
    client.force_login(demo_user("wl-bss"))
    url = reverse("bss:subscription-new", args=[demo["tailspin"].pk])
    body = client.post(url, {"product": Product.objects.get(sku="MS-M365-E3").pk, "seats": "3"}).content.decode()
    assert 'name="signatory_email"' in body or 'name="first_name"' in body
    assert client.post(url, {"product": "", "seats": "0"}).status_code == 400
