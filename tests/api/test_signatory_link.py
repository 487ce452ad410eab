"""The signatory's link reaches the signatory only (issue 17, item 6) and can be cancelled or replaced through the
API and the BSS (issue 18), against the Partner Center simulator."""

from __future__ import annotations

import pytest
import requests
from django.core import mail
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mca.choices import AttestationState, RecordEvent
from mca.models import AcceptanceRecord, Attestation

SIGNATORY = {
    "signatory_first_name": "Wolfgang",
    "signatory_last_name": "Weber",
    "signatory_email": "wolfgang@wideworld.example",
    "company_name": "Wide World Importers",
    "authority_confirmed": True,
}


@pytest.fixture
def live(pc_simulator, demo, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 2
    return demo


def _api(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def test_a_resellers_api_answer_never_contains_the_link(live, demo_user):
    wide_world = live["wide-world"]
    api = _api(demo_user("reseller"))
    response = api.post(f"/api/v1/accounts/{wide_world.pk}/mca/acceptances/", SIGNATORY, format="json")
    assert response.status_code == 202, response.content
    attestation = Attestation.objects.get()
    assert attestation.acceptance_url  # Microsoft issued it ...
    assert attestation.acceptance_url not in response.content.decode()  # ... and the reseller does not get it
    body = response.json()["attestation"]
    assert body["link"] is None and body["signatory_email"] == "w****@wideworld.example"
    status = api.get(f"/api/v1/accounts/{wide_world.pk}/mca/")
    assert attestation.acceptance_url not in status.content.decode()
    assert status.json()["mca_state"]["code"] == "pending"
    # It went to the signatory, by e-mail, and the log says so.
    assert [message.to for message in mail.outbox] == [["wolfgang@wideworld.example"]]
    assert attestation.acceptance_url in mail.outbox[0].body
    sent = AcceptanceRecord.objects.get(event=RecordEvent.LINK_SENT)
    assert "to the signatory only" in sent.form_data and sent.channel == "api"


def test_a_reseller_cancels_the_link_through_the_api(live, demo_user):
    wide_world = live["wide-world"]
    api = _api(demo_user("reseller"))
    api.post(f"/api/v1/accounts/{wide_world.pk}/mca/acceptances/", SIGNATORY, format="json")
    link = Attestation.objects.get()
    response = api.post(f"/api/v1/accounts/{wide_world.pk}/mca/cancel-link/", format="json")
    assert response.status_code == 200, response.content
    assert response.json()["mca_state"]["code"] == "required"
    assert Attestation.objects.get(pk=link.pk).state == AttestationState.SUPERSEDED
    assert requests.get(link.acceptance_url, timeout=10).status_code == 410
    again = api.post(f"/api/v1/accounts/{wide_world.pk}/mca/cancel-link/", format="json")
    assert again.status_code == 400


def test_bss_user_cancels_and_names_another_signatory(client, live, demo_user):
    wide_world = live["wide-world"]
    client.force_login(demo_user("bss"))
    _api(demo_user("bss")).post(f"/api/v1/accounts/{wide_world.pk}/mca/acceptances/", SIGNATORY, format="json")
    first = Attestation.objects.get()
    page = client.get(f"/bss/accounts/{wide_world.pk}/").content.decode()
    assert "w****@wideworld.example" in page and first.acceptance_url not in page
    assert 'id="change-signatory"' in page

    data = {**SIGNATORY, "signatory_email": "w.weber@wideworld.example", "authority_confirmed": "on"}
    response = client.post(f"/bss/accounts/{wide_world.pk}/signatory/", data)
    assert response.status_code == 302
    second = Attestation.objects.exclude(pk=first.pk).get()
    assert Attestation.objects.get(pk=first.pk).state == AttestationState.SUPERSEDED
    assert mail.outbox[-1].to == ["w.weber@wideworld.example"]
    assert requests.get(first.acceptance_url, timeout=10).status_code == 410

    client.post(f"/bss/accounts/{wide_world.pk}/cancel-link/")
    assert Attestation.objects.get(pk=second.pk).state == AttestationState.SUPERSEDED
    events = list(AcceptanceRecord.objects.order_by("sequence").values_list("event", flat=True))
    assert events.count(RecordEvent.LINK_SUPERSEDED) == 1 and events[-1] == RecordEvent.LINK_CANCELLED
