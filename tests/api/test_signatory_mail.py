"""The signatory gets Microsoft's acceptance link by e-mail when the form comes through the API, as through the
storefront and the BSS (issue 20: the API called the gate itself and e-mailed nobody)."""

import pytest

from bss.choices import OrderStatus
from bss.models import Subscription
from mca.models import Attestation
from tests.api.conftest import ENHANCED
from tests.factories import OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(pc_simulator, demo, settings):
    """Partner Center (the simulator) issues the links; the enhanced flow."""
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.0
    settings.MCA_STATUS_TIME_BUDGET = 1.0
    return demo


def assert_link_mailed_once(mailoutbox, account):
    attestation = Attestation.objects.get(account=account)
    assert attestation.acceptance_url
    assert [message.to for message in mailoutbox] == [[ENHANCED["signatory_email"]]]
    assert attestation.acceptance_url in mailoutbox[0].body and account.name in mailoutbox[0].subject


def test_order_with_the_acceptance_inline_mails_the_signatory(api, live, microsoft_product, mailoutbox):
    account = live["northwind"]
    body = {"account": account.pk, "lines": [{"product": microsoft_product.pk, "quantity": 5}]}
    response = api("bss").post("/api/v1/orders/", {**body, "mca_acceptance": ENHANCED}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == OrderStatus.AWAITING_ACCEPTANCE
    assert_link_mailed_once(mailoutbox, account)


def test_execute_with_the_acceptance_inline_mails_the_signatory(api, live, microsoft_product, mailoutbox):
    account = live["northwind"]
    order = OrderFactory(account=account, status=OrderStatus.PLACED)
    OrderLineFactory(order=order, product=microsoft_product, quantity=3)
    response = api("bss").post(f"/api/v1/orders/{order.pk}/execute/", {"mca_acceptance": ENHANCED}, format="json")
    assert response.status_code == 202, response.content
    assert_link_mailed_once(mailoutbox, account)


def test_seat_change_with_the_acceptance_inline_mails_the_signatory(api, live, microsoft_product, mailoutbox):
    account = live["northwind"]
    subscription = Subscription.objects.create(account=account, product=microsoft_product, seats=5)
    response = api("bss").patch(
        f"/api/v1/subscriptions/{subscription.pk}/", {"seats": 9, "mca_acceptance": ENHANCED}, format="json"
    )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == OrderStatus.AWAITING_ACCEPTANCE
    assert_link_mailed_once(mailoutbox, account)


def test_the_acceptance_endpoint_mails_the_signatory(api, live, mailoutbox):
    account = live["northwind"]
    response = api("bss").post(f"/api/v1/accounts/{account.pk}/mca/acceptances/", ENHANCED, format="json")
    assert response.status_code == 202, response.content
    assert_link_mailed_once(mailoutbox, account)
