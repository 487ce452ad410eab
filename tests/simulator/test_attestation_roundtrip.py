"""The real client against the simulator over HTTP, through the enhanced attestation: create, accept (by the
control API, or by POSTing the hosted page as a signatory's browser would), read, create the agreement, order."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
import requests

from demo.accounts import demo_tenant_id
from demo.simulator import MCA_TEMPLATE_ID, seed_simulator
from partner_center import client as client_module
from partner_center import health
from partner_center.client import transport
from partner_center.errors import McaAcceptanceRequired, PartnerCenterRejected
from partner_center.simulator.models import SimAttestation
from partner_center.types import AttestationStatus, OrderLineItem, Signatory

OFFER = "CFQ7TTC0LDPB:0001"
SIGNATORY = Signatory("Lisa", "Andrews", "lisa@litware.example", "Litware Inc.", "+442079460103")


@pytest.fixture
def pc(pc_simulator, monkeypatch):
    seed_simulator()
    slept: list[float] = []
    monkeypatch.setattr(transport, "_sleep", slept.append)
    # Partner Center's shared health sees the waits as slept: a Retry-After waited out is over.
    monkeypatch.setattr(health, "_now", lambda: time.time() + sum(slept))
    client = client_module.get_client()
    assert client.base_url == pc_simulator.base_url
    return client


def control(pc_simulator, method: str, path: str, **params: str) -> dict:
    response = requests.request(method, f"{pc_simulator.base_url}/_control/{path}", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def new_id() -> str:
    return str(uuid.uuid4())


def test_attestation_accepted_by_control_unblocks_orders(pc, pc_simulator):
    litware = str(demo_tenant_id("litware"))
    with pytest.raises(McaAcceptanceRequired):
        pc.create_order(litware, [OrderLineItem(OFFER, 2)], new_id())

    created = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=new_id())
    assert created.status is AttestationStatus.PENDING
    assert created.acceptance_url.startswith(f"{pc_simulator.base_url}/attestations/{created.attestation_id}/")
    assert created.signatory == SIGNATORY
    # Not accepted yet: the agreement is refused and orders stay blocked.
    with pytest.raises(PartnerCenterRejected) as caught:
        pc.create_agreement_from_attestation(litware, created.attestation_id, str(MCA_TEMPLATE_ID), new_id())
    assert caught.value.code == "800002"

    [listed] = control(pc_simulator, "GET", "attestations", email=SIGNATORY.email)["items"]
    assert listed["acceptanceUrl"] == created.acceptance_url
    control(pc_simulator, "POST", f"attestations/{created.attestation_id}/accept")

    read = pc.get_enhanced_attestation(created.attestation_id)
    assert read.status is AttestationStatus.ACCEPTED and read.accepted_at is not None

    result = pc.create_agreement_from_attestation(litware, created.attestation_id, str(MCA_TEMPLATE_ID), new_id())
    assert result.already_confirmed is False and result.status_code == 201
    assert result.agreement.primary_contact.email == SIGNATORY.email
    # The agreement is dated when the signatory accepted (Microsoft's dateAgreed has whole seconds).
    assert abs(result.agreement.date_agreed - read.accepted_at) < timedelta(seconds=1)

    order = pc.create_order(litware, [OrderLineItem(OFFER, 2)], new_id())
    assert [line.quantity for line in order.line_items] == [2]
    assert [a.primary_contact.email for a in pc.get_customer_agreements(litware)] == [SIGNATORY.email]

    again = pc.create_agreement_from_attestation(litware, created.attestation_id, str(MCA_TEMPLATE_ID), new_id())
    assert again.already_confirmed is True


def test_attestation_accepted_on_the_hosted_page(pc, pc_simulator):
    coho = str(demo_tenant_id("coho-winery"))
    signatory = Signatory("Pat", "Coleman", "pat@cohowinery.example", "Coho Winery")
    created = pc.create_enhanced_attestation(signatory, country="US", language="en-US", request_id=new_id())

    page = requests.get(created.acceptance_url, timeout=10)
    assert page.status_code == 200 and "Pat Coleman" in page.text and "Coho Winery" in page.text
    accepted = requests.post(created.acceptance_url, headers={"User-Agent": "RoundTrip/1.0"}, timeout=10)
    assert accepted.status_code == 200 and "You have accepted" in accepted.text

    assert pc.get_enhanced_attestation(created.attestation_id).status is AttestationStatus.ACCEPTED
    row = SimAttestation.objects.get(attestation_id=created.attestation_id)
    assert (row.accepted_ip, row.accepted_user_agent) == ("127.0.0.1", "RoundTrip/1.0")

    pc.create_agreement_from_attestation(coho, created.attestation_id, str(MCA_TEMPLATE_ID), new_id())
    assert pc.create_order(coho, [OrderLineItem(OFFER, 1)], new_id()).line_items


def test_expired_attestation_reads_expired_and_its_page_is_gone(pc, pc_simulator):
    created = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=new_id())
    control(pc_simulator, "POST", f"attestations/{created.attestation_id}/expire")
    assert pc.get_enhanced_attestation(created.attestation_id).status is AttestationStatus.EXPIRED
    assert requests.get(created.acceptance_url, timeout=10).status_code == 410


def test_create_retried_with_the_same_request_id_makes_one_attestation(pc, pc_simulator):
    request_id = new_id()
    first = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=request_id)
    again = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=request_id)
    assert first.attestation_id == again.attestation_id
    assert SimAttestation.objects.count() == 1


def test_create_throttled_once_is_retried(pc, pc_simulator):
    pc_simulator.set_fault(mode="throttle", count=1, retry_after=1, paths="v1/attestations")
    created = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=new_id())
    assert created.status is AttestationStatus.PENDING
    assert pc_simulator.calls()["create_enhanced_attestation"] == 2
