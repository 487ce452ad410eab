"""Agreement endpoints: templates, documents, customer confirmations and direct acceptance."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from demo.simulator import CLOUD_AGREEMENT_TEMPLATE_ID, MCA_TEMPLATE_ID
from partner_center.simulator.models import SimAgreement
from tests.simulator.conftest import confirmation

pytestmark = pytest.mark.django_db

MCA = "MicrosoftCustomerAgreement"


def test_mca_template_metadata_has_microsofts_shape(pc, seeded):
    response = pc.get("v1/agreements", agreementType=MCA)
    assert response.status_code == 200
    assert response.json() == {
        "totalCount": 1,
        "items": [
            {
                "templateId": str(MCA_TEMPLATE_ID),
                "agreementType": MCA,
                "agreementLink": "https://aka.ms/customeragreement",
                "versionRank": 0,
                "attributes": {"objectType": "AgreementMetaData"},
            }
        ],
        "attributes": {"objectType": "Collection"},
    }


def test_agreement_type_omitted_means_cloud_agreement(pc, seeded):
    items = pc.get("v1/agreements").json()["items"]
    assert [(i["templateId"], i["agreementType"]) for i in items] == [
        (str(CLOUD_AGREEMENT_TEMPLATE_ID), "MicrosoftCloudAgreement")
    ]


def test_agreement_type_star_lists_every_type(pc, seeded):
    body = pc.get("v1/agreements", agreementType="*").json()
    assert body["totalCount"] == 2
    assert {i["agreementType"] for i in body["items"]} == {MCA, "MicrosoftCloudAgreement"}


def test_unknown_agreement_type_is_invalid_input(pc, seeded):
    response = pc.get("v1/agreements", agreementType="MicrosoftCustomerAgreements")
    assert response.status_code == 400
    assert response.json()["code"] == 800002


def test_document_display_uri_is_stable_and_download_uri_changes_and_expires(pc, seeded):
    path = f"v1/agreementtemplates/{MCA_TEMPLATE_ID}/document"
    first = pc.get(path, language="de-DE", country="DE").json()
    second = pc.get(path, language="de-DE", country="DE").json()
    assert set(first) == {"displayUri", "downloadUri", "language", "country"}
    assert (first["language"], first["country"]) == ("de-DE", "DE")
    assert first["displayUri"] == second["displayUri"]
    assert first["downloadUri"] != second["downloadUri"]
    expiry = parse_qs(urlparse(first["downloadUri"]).query)["se"][0]
    lifetime = datetime.fromisoformat(expiry.replace("Z", "+00:00")) - datetime.now(UTC)
    assert timedelta(minutes=4) < lifetime <= timedelta(minutes=5)


def test_the_simulator_serves_the_document_at_its_display_and_download_links(pc, seeded, client):
    """Offline too: the links point at the simulator itself, never at a host that does not answer."""
    path = f"v1/agreementtemplates/{MCA_TEMPLATE_ID}/document"
    document = pc.get(path, language="de-DE", country="DE").json()
    for link in (document["displayUri"], document["downloadUri"]):
        assert link.startswith("http://testserver/simulator/partner-center/agreements/")
        response = client.get(link)
        assert response.status_code == 200
        page = response.content.decode()
        assert "Microsoft-Kundenvertrag" in page and str(MCA_TEMPLATE_ID) in page


def test_an_expired_download_link_or_an_unknown_template_serves_no_document(pc, seeded, client):
    document = pc.get(f"v1/agreementtemplates/{MCA_TEMPLATE_ID}/document").json()
    expired = document["downloadUri"].replace("se=", "se=2020-01-01T00:00:00Z&old=")
    assert client.get(expired).status_code == 410
    assert "expired" in client.get(expired).content.decode()
    unknown = document["displayUri"].replace(str(MCA_TEMPLATE_ID), str(uuid.uuid4()))
    assert client.get(unknown).status_code == 404


def test_document_language_falls_back_to_en_us_when_unsupported_for_the_country(pc, seeded):
    path = f"v1/agreementtemplates/{MCA_TEMPLATE_ID}/document"
    assert pc.get(path, language="de-DE", country="FR").json()["language"] == "en-US"
    assert pc.get(path, language="fr-FR", country="FR").json()["language"] == "fr-FR"
    defaults = pc.get(path).json()
    assert (defaults["language"], defaults["country"]) == ("en-US", "US")


def test_document_country_is_case_sensitive(pc, seeded):
    response = pc.get(f"v1/agreementtemplates/{MCA_TEMPLATE_ID}/document", country="us")
    assert response.status_code == 400
    assert response.json()["code"] == 800002


def test_document_for_unknown_template_is_invalid_input(pc, seeded):
    response = pc.get(f"v1/agreementtemplates/{uuid.uuid4()}/document")
    assert response.status_code == 400
    assert response.json()["code"] == 800002


def test_customer_agreements_list_is_filtered_by_type(pc, seeded):
    tenant = seeded["coho-winery"]
    mca = pc.get(f"v1/customers/{tenant}/agreements", agreementType=MCA).json()
    assert mca == {"totalCount": 0, "items": [], "attributes": {"objectType": "Collection"}}
    cloud = pc.get(f"v1/customers/{tenant}/agreements", agreementType="MicrosoftCloudAgreement").json()
    assert cloud["totalCount"] == 1
    assert cloud["items"][0]["dateAgreed"] == "2019-11-15T00:00:00"
    assert pc.get(f"v1/customers/{tenant}/agreements").json()["totalCount"] == 1  # omitted = Cloud Agreement
    assert pc.get(f"v1/customers/{tenant}/agreements", agreementType="*").json()["totalCount"] == 1


def test_seeded_adventure_works_confirmation_has_microsofts_item_shape(pc, seeded):
    body = pc.get(f"v1/customers/{seeded['adventure-works']}/agreements", agreementType=MCA).json()
    item = body["items"][0]
    assert item["primaryContact"] == {
        "firstName": "Alan",
        "lastName": "Brewer",
        "email": "alan@adventure-works.example",
        "phoneNumber": "+12065550102",
    }
    assert item["templateId"] == str(MCA_TEMPLATE_ID)
    assert item["dateAgreed"] == "2024-05-10T00:00:00"
    assert item["type"] == MCA
    assert item["agreementLink"] == "https://aka.ms/customeragreement"


def test_confirm_acceptance_returns_201_with_the_agreement_and_user_id(pc, seeded):
    tenant = seeded["litware"]
    response = pc.post(f"v1/customers/{tenant}/agreements", confirmation())
    assert response.status_code == 201
    body = response.json()
    assert body["primaryContact"]["email"] == "lisa@litware.example"
    assert body["templateId"] == str(MCA_TEMPLATE_ID)
    assert body["type"] == MCA
    assert body["dateAgreed"] == "2025-11-01T00:00:00"
    assert uuid.UUID(body["userId"])
    listed = pc.get(f"v1/customers/{tenant}/agreements", agreementType=MCA).json()
    assert listed["totalCount"] == 1


def test_identical_confirmation_is_refused_with_600061(pc, seeded):
    tenant = seeded["litware"]
    assert pc.post(f"v1/customers/{tenant}/agreements", confirmation()).status_code == 201
    again = pc.post(f"v1/customers/{tenant}/agreements", confirmation(dateAgreed="2025-11-02T00:00:00Z"))
    assert again.status_code == 409
    body = again.json()
    assert body["code"] == 600061
    assert body["errorName"] == "PartnerConfirmedAgreementAlreadyExists"
    assert body["isRetryable"] is False
    assert SimAgreement.objects.filter(customer__tenant_id=tenant).count() == 1


def test_confirmation_with_another_contact_is_accepted(pc, seeded):
    tenant = seeded["litware"]
    assert pc.post(f"v1/customers/{tenant}/agreements", confirmation()).status_code == 201
    other = confirmation()
    other["primaryContact"] = {**other["primaryContact"], "phoneNumber": "+442079460199"}
    assert pc.post(f"v1/customers/{tenant}/agreements", other).status_code == 201


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"primaryContact": {"lastName": "Andrews", "email": "lisa@litware.example"}}, "firstName"),
        ({"primaryContact": {"firstName": "Lisa", "email": "lisa@litware.example"}}, "lastName"),
        ({"primaryContact": {"firstName": "Lisa", "lastName": "Andrews"}}, "email"),
        ({"primaryContact": {"firstName": "Lisa", "lastName": "Andrews", "email": "not-an-email"}}, "email"),
        ({"primaryContact": None}, "primaryContact"),
        ({"templateId": str(uuid.uuid4())}, "templateId"),
        ({"templateId": "not-a-guid"}, "templateId"),
        ({"dateAgreed": "2999-01-01T00:00:00Z"}, "future"),
        ({"dateAgreed": "yesterday"}, "dateAgreed"),
        ({"dateAgreed": None}, "dateAgreed"),
        ({"type": "MicrosoftCloudAgreement"}, "type"),
    ],
)
def test_invalid_confirmation_is_refused_with_800002(pc, seeded, change, needle):
    response = pc.post(f"v1/customers/{seeded['litware']}/agreements", confirmation(**change))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 800002
    assert needle in body["description"]
    assert body["source"] == "PartnerFD" and body["data"] == []
    assert not SimAgreement.objects.filter(customer__tenant_id=seeded["litware"]).exists()


def test_confirmation_without_phone_number_is_accepted(pc, seeded):
    body = confirmation()
    del body["primaryContact"]["phoneNumber"]
    response = pc.post(f"v1/customers/{seeded['litware']}/agreements", body)
    assert response.status_code == 201
    assert "phoneNumber" not in response.json()["primaryContact"]


def test_invalid_json_is_refused_with_800002(pc, seeded):
    response = pc.client.post(
        f"/simulator/partner-center/v1/customers/{seeded['litware']}/agreements",
        data=b"{not json",
        content_type="application/json",
        headers={"Authorization": "Bearer t"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == 800002


@pytest.mark.parametrize(
    "path",
    [
        "v1/customers/{t}/agreements",
        "v1/customers/{t}/directSignedMicrosoftCustomerAgreementStatus",
        "v1/customers/{t}/subscriptions/" + str(uuid.uuid4()),
    ],
)
def test_unknown_customer_is_404_with_60003(pc, seeded, path):
    response = pc.get(path.format(t=uuid.uuid4()))
    assert response.status_code == 404
    assert response.json()["code"] == 60003


@pytest.mark.parametrize("path", ["v1/customers/{t}/agreements", "v1/customers/{t}/orders"])
def test_unknown_customer_is_404_with_60003_on_writes(pc, seeded, path):
    body = confirmation() if path.endswith("agreements") else {"lineItems": []}
    response = pc.post(path.format(t=uuid.uuid4()), body)
    assert response.status_code == 404
    assert response.json()["code"] == 60003


def test_direct_signed_status(pc, seeded):
    tenant = seeded["litware"]
    path = f"v1/customers/{tenant}/directSignedMicrosoftCustomerAgreementStatus"
    assert pc.get(path).json() == {"isSigned": False}
    assert pc.control("POST", f"customers/{tenant}/direct-signed", {"isSigned": True}).status_code == 200
    response = pc.get(path)
    assert response.status_code == 200
    assert response.json() == {"isSigned": True}
