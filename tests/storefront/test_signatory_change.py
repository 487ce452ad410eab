"""A mistyped signatory can be corrected or the link cancelled while it is out (issue 18); each is a chained
record, and Microsoft's page answers the old link as superseded."""

from __future__ import annotations

import pytest
import requests
from django.core import mail

from mca import gate
from mca.choices import AttestationState, RecordEvent
from mca.models import AcceptanceRecord, Attestation
from mca.verify import verify_chain
from tests.storefront.helpers import signatory_form

DETAILS = "/store/checkout/service-details/"


@pytest.fixture
def live(pc_simulator, demo, enhanced, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 2
    return demo


def _events(account) -> list[str]:
    return list(AcceptanceRecord.objects.filter(account=account).order_by("sequence").values_list("event", flat=True))


def _name_signatory(client, email: str, first: str = "Wolfgang", url: str = DETAILS):
    return client.post(
        url,
        signatory_form(
            signatory_first_name=first,
            signatory_last_name="Weber",
            signatory_email=email,
            company_name="Wide World Importers",
        ),
    )


def test_reseller_corrects_a_mistyped_signatory_at_checkout(client, live, demo_user, add_to_cart, pc_simulator):
    wide_world = live["wide-world"]
    client.force_login(demo_user("reseller"))
    add_to_cart()
    client.post("/store/checkout/", {"account": wide_world.pk})
    _name_signatory(client, "wolfgang@wideworld.exmaple")  # the typo
    wrong = Attestation.objects.get()
    page = client.get(DETAILS).content.decode()
    assert "Change the signatory" in page
    form_page = client.get(DETAILS + "?change=1").content.decode()
    assert 'id="change-signatory"' in form_page

    _name_signatory(client, "wolfgang@wideworld.example")
    right = Attestation.objects.exclude(pk=wrong.pk).get()
    assert Attestation.objects.get(pk=wrong.pk).state == AttestationState.SUPERSEDED
    assert right.state == AttestationState.PENDING and right.signatory_email == "wolfgang@wideworld.example"
    assert [message.to for message in mail.outbox] == [["wolfgang@wideworld.exmaple"], ["wolfgang@wideworld.example"]]
    superseded = AcceptanceRecord.objects.get(event=RecordEvent.LINK_SUPERSEDED)
    assert superseded.attestation_id == wrong.attestation_id and superseded.actor_username == "reseller"
    assert superseded.email == "wolfgang@wideworld.exmaple"  # the story of the old link, closed
    assert verify_chain().ok

    # Microsoft's page answers the old link as superseded; the new one works.
    old_page = requests.get(wrong.acceptance_url, timeout=10)
    assert old_page.status_code == 410 and "superseded" in old_page.text
    assert requests.post(wrong.acceptance_url, timeout=10).status_code == 410
    pc_simulator.accept_attestation(right.attestation_id)
    assert not gate.check_now(wide_world).needed


def test_reseller_cancels_the_link_and_the_customer_is_asked_again(client, live, demo_user, add_to_cart):
    wide_world = live["wide-world"]
    client.force_login(demo_user("reseller"))
    add_to_cart()
    client.post("/store/checkout/", {"account": wide_world.pk})
    _name_signatory(client, "wolfgang@wideworld.example")
    link = Attestation.objects.get()
    response = client.post(DETAILS, {"action": "cancel_link"})
    assert response.status_code == 302
    assert Attestation.objects.get(pk=link.pk).state == AttestationState.SUPERSEDED
    assert _events(wide_world)[-1] == RecordEvent.LINK_CANCELLED
    page = client.get(DETAILS).content.decode()
    assert 'data-mca-state="required"' in page and 'name="signatory_email"' in page
    assert requests.get(link.acceptance_url, timeout=10).status_code == 410
    # Nothing left to cancel: a clear message, nothing written.
    before = AcceptanceRecord.objects.count()
    client.post(DETAILS, {"action": "cancel_link"})
    assert AcceptanceRecord.objects.count() == before


def test_signatory_changed_from_my_agreements(client, live, demo_user):
    wide_world = live["wide-world"]
    client.force_login(demo_user("reseller"))
    url = f"/store/agreements/{wide_world.pk}/signatory/"
    assert client.get(url).status_code == 200
    _name_signatory(client, "w.weber@wideworld.example", url=url)
    first = Attestation.objects.get()
    page = client.get("/store/agreements/").content.decode()
    assert "w****@wideworld.example" in page and first.acceptance_url not in page
    assert "Change the signatory" in page and "Cancel the link" in page
    _name_signatory(client, "wolfgang@wideworld.example", first="Wolf", url=url)
    assert Attestation.objects.get(pk=first.pk).state == AttestationState.SUPERSEDED
    assert _events(wide_world).count(RecordEvent.LINK_SUPERSEDED) == 1
    assert _events(wide_world).count(RecordEvent.LINK_SENT) == 2


def test_a_reseller_cannot_change_another_resellers_signatory(client, live, demo_user):
    client.force_login(demo_user("reseller"))
    tailspin = live["tailspin"]  # Fabrikam's customer
    assert client.get(f"/store/agreements/{tailspin.pk}/signatory/").status_code == 404
    response = client.post("/store/agreements/", {"account": tailspin.pk, "action": "cancel_link"})
    assert response.status_code == 404
