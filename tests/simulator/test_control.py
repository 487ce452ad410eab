"""The control API used by tests and drills: templates and customers."""

from __future__ import annotations

import uuid

import pytest

from partner_center.simulator.models import SimCustomer

pytestmark = pytest.mark.django_db

MCA = "MicrosoftCustomerAgreement"


def test_publish_template_adds_a_newer_mca_version(pc, seeded):
    response = pc.control("POST", "templates", {"versionRank": 1})
    assert response.status_code == 201
    template = response.json()
    assert template["agreementType"] == MCA and template["versionRank"] == 1
    assert template["agreementLink"] == "https://aka.ms/customeragreement"
    items = pc.get("v1/agreements", agreementType=MCA).json()["items"]
    assert sorted(i["versionRank"] for i in items) == [0, 1]
    assert template["templateId"] in {i["templateId"] for i in items}


def test_confirmation_on_a_published_template_is_accepted(pc, seeded):
    from tests.simulator.conftest import confirmation

    template = pc.control("POST", "templates", {"versionRank": 1}).json()
    response = pc.post(f"v1/customers/{seeded['litware']}/agreements", confirmation(templateId=template["templateId"]))
    assert response.status_code == 201
    assert response.json()["templateId"] == template["templateId"]


@pytest.mark.parametrize(
    "body",
    [{}, {"versionRank": -1}, {"versionRank": "1"}, {"versionRank": 0}, {"versionRank": 2, "agreementType": "X"}],
)
def test_publish_template_validates(pc, seeded, body):
    assert pc.control("POST", "templates", body).status_code == 400


def test_add_customer_then_update_it(pc, db):
    tenant = str(uuid.uuid4())
    created = pc.control("POST", "customers", {"tenantId": tenant, "companyName": "Test Co", "directSigned": True})
    assert created.status_code == 201
    assert created.json()["directSigned"] is True
    assert pc.get(f"v1/customers/{tenant}/directSignedMicrosoftCustomerAgreementStatus").json() == {"isSigned": True}
    again = pc.control("POST", "customers", {"tenantId": tenant, "companyName": "Test Co 2"})
    assert again.status_code == 200
    assert SimCustomer.objects.get(tenant_id=tenant).company_name == "Test Co 2"


def test_two_customers_with_the_same_name_get_distinct_domains(pc, db):
    for _ in range(2):
        assert (
            pc.control("POST", "customers", {"tenantId": str(uuid.uuid4()), "companyName": "Same"}).status_code == 201
        )
    assert SimCustomer.objects.filter(company_name="Same").values("domain").distinct().count() == 2


@pytest.mark.parametrize(
    "body", [{"companyName": "X"}, {"tenantId": "nope", "companyName": "X"}, {"tenantId": str(uuid.uuid4())}]
)
def test_add_customer_validates(pc, db, body):
    assert pc.control("POST", "customers", body).status_code == 400


def test_set_direct_signed_validates_and_404s(pc, seeded):
    tenant = seeded["litware"]
    assert pc.control("POST", f"customers/{tenant}/direct-signed", {"isSigned": "yes"}).status_code == 400
    assert pc.control("POST", f"customers/{uuid.uuid4()}/direct-signed", {"isSigned": True}).status_code == 404


def test_control_rejects_wrong_methods(pc, db):
    assert pc.control("PUT", "faults").status_code == 405
    assert pc.control("GET", "templates").status_code == 405
