"""The enhanced flow in the checkout against the simulator over HTTP: Microsoft's page in the checkout, the
signatory's e-mail, "Continue" once Microsoft reports acceptance, and a new link after expiry."""

from __future__ import annotations

import pytest
from django.core import mail

from bss.choices import OrderStatus
from bss.models import Order
from mca import gate
from mca.choices import RecordEvent
from mca.models import AcceptanceRecord, Attestation
from tests.storefront.helpers import hidden_key, signatory_form

DETAILS = "/store/checkout/service-details/"


def new_orders():
    """Orders the test placed (the demo data seeds placed orders of its own for the BSS)."""
    return Order.objects.exclude(number__startswith="SO-DEMO-")


@pytest.fixture
def live(pc_simulator, demo, enhanced, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 2
    return demo


def test_customer_accepts_on_microsofts_page_in_the_checkout_and_continues(
    client, live, demo_user, add_to_cart, pc_simulator
):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    client.post(DETAILS, signatory_form())
    page = client.get(DETAILS).content.decode()
    attestation = Attestation.objects.get()
    assert attestation.acceptance_url.startswith(pc_simulator.base_url)
    assert f'<iframe src="{attestation.acceptance_url}"' in page and f'href="{attestation.acceptance_url}"' in page
    assert mail.outbox == []
    # Not accepted yet: Continue stays on the step.
    assert client.post(DETAILS, {"action": "check_now"}).url == DETAILS
    pc_simulator.accept_attestation(attestation.attestation_id)
    assert client.post(DETAILS, {"action": "check_now"}).url == "/store/checkout/review/"
    review = client.get("/store/checkout/review/").content.decode()
    client.post("/store/checkout/place-order/", {"idempotency_key": hidden_key(review)})
    assert new_orders().get().status == OrderStatus.PLACED


def test_reseller_names_the_signatory_who_gets_the_link_by_email(client, live, demo_user, add_to_cart, pc_simulator):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    client.post("/store/checkout/", {"action": "choose", "account": live["wide-world"].pk})
    client.post(
        DETAILS,
        signatory_form(
            signatory_first_name="Wolfgang",
            signatory_last_name="Weber",
            signatory_email="wolfgang@wideworld.example",
            company_name="Wide World Importers",
        ),
    )
    attestation = Attestation.objects.get()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["wolfgang@wideworld.example"]
    assert attestation.acceptance_url in mail.outbox[0].body
    page = client.get(DETAILS).content.decode()
    # The link reaches the signatory only: the reseller sees "sent" and a masked address (issue 17, item 6).
    assert "<iframe" not in page and "wolfgang@wideworld.example" not in page
    assert "w****@wideworld.example" in page and "Sent:" in page
    assert attestation.acceptance_url not in page
    sent = AcceptanceRecord.objects.get(event=RecordEvent.LINK_SENT)
    assert "e-mailed" in sent.form_data and "to the signatory only" in sent.form_data
    review = client.get("/store/checkout/review/").content.decode()
    client.post("/store/checkout/place-order/", {"idempotency_key": hidden_key(review)})
    assert new_orders().get().status == OrderStatus.AWAITING_ACCEPTANCE

    # The link expires; My agreements sends a new one.
    pc_simulator.expire_attestation(attestation.attestation_id)
    gate.check_now(live["wide-world"])  # Microsoft is asked (the beat task does this on its schedule)
    page = client.get("/store/agreements/").content.decode()
    assert "Expired" in page or "expired" in page
    response = client.post("/store/agreements/", {"account": live["wide-world"].pk})
    assert response.url == "/store/agreements/"
    assert len(mail.outbox) == 2
    fresh = Attestation.objects.exclude(pk=attestation.pk).get()
    assert fresh.acceptance_url and fresh.acceptance_url in mail.outbox[1].body


def test_customer_who_accepted_at_microsoft_meanwhile_checks_again_from_the_form(
    client, live, demo_user, add_to_cart, pc_simulator, settings
):
    """Partner Center's "not accepted" is reused for MCA_NOT_ACCEPTED_TTL (no call per page), but never stands in
    the way: the step offers to ask Microsoft again, which settles it at once once the customer accepted there."""
    settings.MCA_ATTESTATION_MIN_CHECK_SECONDS = 0
    litware = live["litware"]
    client.force_login(demo_user("reseller"))
    add_to_cart()
    client.post("/store/checkout/", {"action": "choose", "account": litware.pk})
    page = client.get(DETAILS).content.decode()
    assert "Partner Center has no MCA acceptance for this customer" in page
    assert 'value="check_now"' in page and "Check with Microsoft again" in page
    assert client.get(DETAILS).status_code == 200
    assert pc_simulator.calls()["direct_signed_status"] == 1  # the second page reused the answer
    pc_simulator.set_direct_signed(litware.partner_center_tenant_id, True)
    assert client.post(DETAILS, {"action": "check_now"}).url == "/store/checkout/review/"
    assert pc_simulator.calls()["direct_signed_status"] == 2
    assert gate.check(litware, [gate.GatedOperation("new_purchase")]).reason_code == "direct_at_microsoft"
