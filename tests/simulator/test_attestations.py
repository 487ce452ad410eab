"""Enhanced attestation in the simulator: create and read, expiry, the hosted acceptance page, agreements made
from an accepted attestation, the control endpoints."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from demo.simulator import CLOUD_AGREEMENT_TEMPLATE_ID, MCA_TEMPLATE_ID
from partner_center.simulator.models import SimAgreement, SimAttestation
from tests.simulator.conftest import ROOT, confirmation, order_body

pytestmark = pytest.mark.django_db

MCA = "MicrosoftCustomerAgreement"


def attestation_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "country": "GB",
        "language": "en-US",
        "companyName": "Litware Inc.",
        "signatoryFirstName": "Lisa",
        "signatoryLastName": "Andrews",
        "signatoryEmail": "lisa@litware.example",
        "signatoryPhoneNumber": "+442079460103",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def create(pc, **overrides: Any) -> dict[str, Any]:
    response = pc.post("v1/attestations/enhanced", attestation_body(**overrides))
    assert response.status_code == 201, response.content
    return response.json()


def accepted(pc, **overrides: Any) -> dict[str, Any]:
    attestation = create(pc, **overrides)
    assert pc.control("POST", f"attestations/{attestation['id']}/accept").status_code == 200
    return attestation


def agreement_body(attestation_id: str, **overrides: Any) -> dict[str, Any]:
    body = {"attestationId": attestation_id, "templateId": str(MCA_TEMPLATE_ID), "type": MCA}
    body.update(overrides)
    return body


def page_path(attestation_id: str) -> str:
    return f"{ROOT}/attestations/{attestation_id}/accept"


# --- create and read ----------------------------------------------------------------------------------------


def test_create_answers_201_with_the_assumed_shape(pc, seeded):
    before = timezone.now()
    body = create(pc)
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["status"] == "pending"
    assert body["acceptanceUrl"] == f"http://testserver{ROOT}/attestations/{body['id']}/accept"
    expires = parse_datetime(body["expiresAt"])
    assert timedelta(days=7) - timedelta(seconds=5) < expires - before <= timedelta(days=7, seconds=5)
    assert "acceptedAt" not in body
    sent = attestation_body()
    assert {key: body[key] for key in sent} == sent
    row = SimAttestation.objects.get(attestation_id=body["id"])
    assert (row.first_name, row.email, row.phone_number, row.status) == (
        "Lisa",
        "lisa@litware.example",
        "+442079460103",
        "pending",
    )


def test_expiry_follows_the_ttl_setting(pc, seeded, settings):
    settings.PARTNER_CENTER_SIMULATOR_ATTESTATION_TTL = 300
    body = create(pc)
    row = SimAttestation.objects.get(attestation_id=body["id"])
    assert row.expires_at - row.created_at == timedelta(seconds=300)


def test_phone_number_is_optional(pc, seeded):
    body = create(pc, signatoryPhoneNumber=None)
    assert "signatoryPhoneNumber" not in body
    assert SimAttestation.objects.get(attestation_id=body["id"]).phone_number == ""


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"country": None}, "country"),
        ({"country": "gb"}, "country"),
        ({"country": "GBR"}, "country"),
        ({"language": None}, "language"),
        ({"language": "en US<script>"}, "language"),
        ({"companyName": " "}, "companyName"),
        ({"signatoryFirstName": None}, "signatoryFirstName"),
        ({"signatoryLastName": 7}, "signatoryLastName"),
        ({"signatoryEmail": None}, "signatoryEmail"),
        ({"signatoryEmail": "not-an-email"}, "signatoryEmail"),
        ({"signatoryFirstName": "x" * 101}, "signatoryFirstName"),
        ({"signatoryPhoneNumber": "1" * 41}, "signatoryPhoneNumber"),
    ],
)
def test_invalid_create_is_800002_and_writes_nothing(pc, seeded, overrides, field):
    response = pc.post("v1/attestations/enhanced", attestation_body(**overrides))
    assert response.status_code == 400
    assert response.json()["code"] == 800002
    assert field in response.json()["description"]
    assert not SimAttestation.objects.exists()


def test_create_body_must_be_an_object(pc, seeded):
    response = pc.post("v1/attestations/enhanced", ["country", "GB"])
    assert (response.status_code, response.json()["code"]) == (400, 800002)


def test_create_needs_a_bearer_token(pc, seeded):
    response = pc.call("POST", "v1/attestations/enhanced", attestation_body(), token=None)
    assert (response.status_code, response.json()["code"]) == (401, 800001)
    assert not SimAttestation.objects.exists()


def test_create_repeated_with_the_same_request_id_makes_one_attestation(pc, seeded):
    request_id = str(uuid.uuid4())
    first = pc.post("v1/attestations/enhanced", attestation_body(), request_id=request_id)
    again = pc.post("v1/attestations/enhanced", attestation_body(), request_id=request_id)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert SimAttestation.objects.count() == 1


def test_read_answers_the_attestation(pc, seeded):
    created = create(pc)
    response = pc.get(f"v1/attestations/enhanced/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created


def test_read_unknown_or_malformed_id_is_404(pc, seeded):
    assert pc.get(f"v1/attestations/enhanced/{uuid.uuid4()}").status_code == 404
    assert pc.get("v1/attestations/enhanced/not-a-guid").status_code == 404


def test_read_shows_accepted_with_its_time(pc, seeded):
    attestation = accepted(pc)
    body = pc.get(f"v1/attestations/enhanced/{attestation['id']}").json()
    assert body["status"] == "accepted"
    assert parse_datetime(body["acceptedAt"]) <= timezone.now()


def test_a_pending_attestation_past_its_expiry_reads_expired(pc, seeded):
    created = create(pc)
    SimAttestation.objects.filter(attestation_id=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert pc.get(f"v1/attestations/enhanced/{created['id']}").json()["status"] == "expired"


# --- the hosted acceptance page -----------------------------------------------------------------------------


def test_page_shows_the_signatory_and_an_accept_button(client, pc, seeded):
    created = create(pc, signatoryFirstName="Zoë", companyName="Litware <Inc.>")
    response = client.get(page_path(created["id"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Partner Center simulator" in html and "It is not Microsoft" in html
    assert "Zoë Andrews" in html
    assert "Litware &lt;Inc.&gt;" in html  # escaped, never markup
    # The agreement document in the signatory's country and language, served by the simulator itself (offline).
    document_link = re.search(r'<a href="([^"]+)"[^>]*>Read the full Microsoft Customer Agreement', html).group(1)
    assert document_link.startswith("http://testserver/simulator/partner-center/agreements/")
    assert client.get(document_link).status_code == 200
    assert '<form method="post"' in html and '<button type="submit"' in html and ">Accept</button>" in html


def test_page_post_accepts_and_records_where_from(client, pc, seeded):
    created = create(pc)
    response = client.post(page_path(created["id"]), HTTP_USER_AGENT="Signatory Browser/1.0")
    assert response.status_code == 200
    assert "You have accepted" in response.content.decode()
    row = SimAttestation.objects.get(attestation_id=created["id"])
    assert row.status == "accepted" and row.accepted_at is not None
    assert (row.accepted_ip, row.accepted_user_agent) == ("127.0.0.1", "Signatory Browser/1.0")


def test_page_get_does_not_accept(client, pc, seeded):
    created = create(pc)
    client.get(page_path(created["id"]))
    assert SimAttestation.objects.get(attestation_id=created["id"]).status == "pending"


def test_page_post_works_with_csrf_checks_on(pc, seeded):
    from django.test import Client

    created = create(pc)
    response = Client(enforce_csrf_checks=True).post(page_path(created["id"]))
    assert response.status_code == 200
    assert SimAttestation.objects.get(attestation_id=created["id"]).status == "accepted"


def test_page_for_an_accepted_attestation_says_so_and_keeps_the_first_time(client, pc, seeded):
    created = accepted(pc)
    first = SimAttestation.objects.get(attestation_id=created["id"]).accepted_at
    for response in (client.get(page_path(created["id"])), client.post(page_path(created["id"]))):
        assert response.status_code == 200
        assert "already been accepted" in response.content.decode()
    assert SimAttestation.objects.get(attestation_id=created["id"]).accepted_at == first


def test_page_for_an_expired_attestation_is_410_and_cannot_accept(client, pc, seeded):
    created = create(pc)
    pc.control("POST", f"attestations/{created['id']}/expire")
    for response in (client.get(page_path(created["id"])), client.post(page_path(created["id"]))):
        assert response.status_code == 410
        assert "expired" in response.content.decode()
    assert SimAttestation.objects.get(attestation_id=created["id"]).status == "expired"


def test_page_past_expiry_is_410(client, pc, seeded):
    created = create(pc)
    SimAttestation.objects.filter(attestation_id=created["id"]).update(expires_at=timezone.now())
    assert client.post(page_path(created["id"])).status_code == 410
    assert SimAttestation.objects.get(attestation_id=created["id"]).accepted_at is None


def test_page_for_an_unknown_attestation_is_404(client, seeded):
    assert client.get(page_path(str(uuid.uuid4()))).status_code == 404


def test_page_refuses_other_methods(client, pc, seeded):
    created = create(pc)
    assert client.put(page_path(created["id"])).status_code == 405


# --- the agreement from an attestation ----------------------------------------------------------------------


def test_agreement_from_an_accepted_attestation_unblocks_orders(pc, seeded):
    litware = seeded["litware"]
    refused = pc.post(f"v1/customers/{litware}/orders", order_body())
    assert (refused.status_code, refused.json()["code"]) == (403, 13605)

    attestation = accepted(pc, signatoryPhoneNumber=None)
    response = pc.post(f"v1/customers/{litware}/agreements", agreement_body(attestation["id"]))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["primaryContact"] == {"firstName": "Lisa", "lastName": "Andrews", "email": "lisa@litware.example"}
    assert (body["templateId"], body["type"], body["attestationId"]) == (str(MCA_TEMPLATE_ID), MCA, attestation["id"])
    row = SimAttestation.objects.get(attestation_id=attestation["id"])
    assert row.agreement.customer.tenant_id == uuid.UUID(litware)
    assert row.agreement.date_agreed == row.accepted_at

    assert pc.post(f"v1/customers/{litware}/orders", order_body()).status_code == 201
    listed = pc.get(f"v1/customers/{litware}/agreements", agreementType=MCA).json()["items"]
    assert [item.get("attestationId") for item in listed] == [attestation["id"]]


def test_agreement_from_a_pending_attestation_is_refused(pc, seeded):
    attestation = create(pc)
    response = pc.post(f"v1/customers/{seeded['litware']}/agreements", agreement_body(attestation["id"]))
    assert (response.status_code, response.json()["code"]) == (400, 800002)
    assert "not been accepted" in response.json()["description"]
    assert not SimAgreement.objects.filter(customer__tenant_id=seeded["litware"]).exists()


def test_agreement_from_an_expired_attestation_is_refused(pc, seeded):
    attestation = create(pc)
    pc.control("POST", f"attestations/{attestation['id']}/expire")
    response = pc.post(f"v1/customers/{seeded['litware']}/agreements", agreement_body(attestation["id"]))
    assert response.status_code == 400
    assert "expired" in response.json()["description"]


@pytest.mark.parametrize("attestation_id", [str(uuid.uuid4()), "not-a-guid"])
def test_agreement_from_an_unknown_attestation_is_refused(pc, seeded, attestation_id):
    response = pc.post(f"v1/customers/{seeded['litware']}/agreements", agreement_body(attestation_id))
    assert response.status_code == 400
    assert "not a known attestation" in response.json()["description"]


def test_agreement_needs_a_known_mca_template(pc, seeded):
    attestation = accepted(pc)
    tenant = seeded["litware"]
    unknown = pc.post(f"v1/customers/{tenant}/agreements", agreement_body(attestation["id"], templateId="x"))
    assert unknown.status_code == 400
    cloud = agreement_body(attestation["id"], templateId=str(CLOUD_AGREEMENT_TEMPLATE_ID), type=None)
    cloud.pop("type")
    assert pc.post(f"v1/customers/{tenant}/agreements", cloud).status_code == 400
    assert not SimAgreement.objects.filter(customer__tenant_id=tenant).exists()


def test_agreement_for_an_unknown_customer_is_404(pc, seeded):
    attestation = accepted(pc)
    response = pc.post(f"v1/customers/{uuid.uuid4()}/agreements", agreement_body(attestation["id"]))
    assert (response.status_code, response.json()["code"]) == (404, 60003)


def test_same_signatory_again_for_the_customer_is_600061(pc, seeded):
    tenant = seeded["litware"]
    first = accepted(pc)
    assert pc.post(f"v1/customers/{tenant}/agreements", agreement_body(first["id"])).status_code == 201
    # The same attestation again, and a new attestation for the same signatory: both duplicates.
    for attestation_id in (first["id"], accepted(pc)["id"]):
        response = pc.post(f"v1/customers/{tenant}/agreements", agreement_body(attestation_id))
        assert response.status_code == 409
        assert (response.json()["code"], response.json()["errorName"]) == (
            600061,
            "PartnerConfirmedAgreementAlreadyExists",
        )
    assert SimAgreement.objects.filter(customer__tenant_id=tenant).count() == 1


def test_a_legacy_confirmation_with_the_same_contact_makes_the_attestation_a_duplicate(pc, seeded):
    tenant = seeded["litware"]
    assert pc.post(f"v1/customers/{tenant}/agreements", confirmation()).status_code == 201
    attestation = accepted(pc)  # same first, last, email and phone as the legacy confirmation
    response = pc.post(f"v1/customers/{tenant}/agreements", agreement_body(attestation["id"]))
    assert response.json()["code"] == 600061


def test_another_signatory_for_the_same_customer_is_a_second_agreement(pc, seeded):
    tenant = seeded["litware"]
    for email in ("lisa@litware.example", "omar@litware.example"):
        attestation = accepted(pc, signatoryEmail=email)
        assert pc.post(f"v1/customers/{tenant}/agreements", agreement_body(attestation["id"])).status_code == 201
    assert SimAgreement.objects.filter(customer__tenant_id=tenant).count() == 2


def test_an_attestation_backs_one_customer_only(pc, seeded):
    attestation = accepted(pc)
    assert pc.post(f"v1/customers/{seeded['litware']}/agreements", agreement_body(attestation["id"])).status_code == 201
    other = pc.post(f"v1/customers/{seeded['coho-winery']}/agreements", agreement_body(attestation["id"]))
    assert other.status_code == 400
    assert "another customer" in other.json()["description"]


def test_the_legacy_body_still_works_on_the_same_path(pc, seeded):
    response = pc.post(f"v1/customers/{seeded['litware']}/agreements", confirmation())
    assert response.status_code == 201
    assert "attestationId" not in response.json()


# --- control ------------------------------------------------------------------------------------------------


def test_control_lists_newest_first_and_filters_by_email(pc, seeded):
    first = create(pc)
    second = create(pc, signatoryEmail="omar@litware.example")
    third = create(pc)
    items = pc.control("GET", "attestations").json()["items"]
    assert [item["id"] for item in items] == [third["id"], second["id"], first["id"]]
    assert items[0]["acceptanceUrl"] == third["acceptanceUrl"]
    response = pc.client.get(f"{ROOT}/_control/attestations", {"email": "OMAR@litware.example"})
    assert [item["id"] for item in response.json()["items"]] == [second["id"]]


def test_control_accept_and_expire(pc, seeded):
    one, two = create(pc), create(pc)
    body = pc.control("POST", f"attestations/{one['id']}/accept").json()
    assert body["status"] == "accepted" and body["acceptedAt"]
    assert pc.control("POST", f"attestations/{two['id']}/expire").json()["status"] == "expired"
    # An accepted attestation cannot be expired; an expired one cannot be accepted.
    assert pc.control("POST", f"attestations/{one['id']}/expire").status_code == 409
    assert pc.control("POST", f"attestations/{two['id']}/accept").status_code == 410
    assert pc.control("POST", f"attestations/{uuid.uuid4()}/accept").status_code == 404
    assert pc.control("GET", f"attestations/{one['id']}/accept").status_code == 405


def test_control_shows_the_customer_the_attestation_was_used_for(pc, seeded):
    attestation = accepted(pc)
    pc.post(f"v1/customers/{seeded['litware']}/agreements", agreement_body(attestation["id"]))
    [item] = pc.control("GET", "attestations").json()["items"]
    assert item["agreementTenantId"] == seeded["litware"]
