"""PartnerCenterClient on the wire: requests as Microsoft documents them, its sample answers parsed, retries,
error mapping and caching. HTTP is stubbed with `responses`; tenacity's sleep is replaced, nothing really waits."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.core.cache import cache

from partner_center import client as client_module
from partner_center import health
from partner_center.auth import StaticTokenProvider
from partner_center.client import PartnerCenterClient, call_counts, get_client, reset_call_counts, transport
from partner_center.errors import (
    McaAcceptanceRequired,
    PartnerCenterBadResponse,
    PartnerCenterNotFound,
    PartnerCenterRejected,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)
from partner_center.types import MCA, AgreementContact, CustomerProfile, OrderLineItem

BASE = "https://pc.example.test"
TENANT = "4d3cf487-70f6-4f0b-b2f0-6e2c5e9e1b9a"
TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"
SUBSCRIPTION_ID = "a4c1340d-6911-4758-bba3-0c4c6007d161"

# Microsoft's documented sample answers (shapes from partner-center.md).
TEMPLATES_SAMPLE = {
    "totalCount": 1,
    "items": [
        {
            "templateId": TEMPLATE_ID,
            "agreementType": "MicrosoftCustomerAgreement",
            "agreementLink": "https://aka.ms/customeragreement",
            "versionRank": 0,
        }
    ],
    "attributes": {"objectType": "Collection"},
}
CUSTOMER_AGREEMENTS_SAMPLE = {
    "totalCount": 1,
    "items": [
        {
            "primaryContact": {
                "firstName": "Tania",
                "lastName": "Carlson",
                "email": "SomeEmail@Outlook.com",
                "phoneNumber": "1234567890",
            },
            "templateId": TEMPLATE_ID,
            "dateAgreed": "2019-08-26T00:00:00",
            "type": "MicrosoftCustomerAgreement",
            "agreementLink": "https://aka.ms/customeragreement",
        }
    ],
}
NO_AGREEMENTS = {"totalCount": 0, "items": []}
DOCUMENT_SAMPLE = {
    "displayUri": "https://aka.ms/customeragreement-us",
    "downloadUri": "https://download.example.test/mca-us.pdf?sig=short-lived",
    "language": "en-US",
    "country": "US",
}
CONFIRMATION_SAMPLE = {
    "primaryContact": {
        "firstName": "Tania",
        "lastName": "Carlson",
        "email": "SomeEmail@Outlook.com",
        "phoneNumber": "1234567890",
    },
    "templateId": TEMPLATE_ID,
    "dateAgreed": "2018-06-14T00:00:00",
    "type": "MicrosoftCustomerAgreement",
    "agreementLink": "https://aka.ms/customeragreement",
    "userId": "b6d9ab8a-f2a7-4d6e-9d2c-1b6f4e5a9c11",
}
CUSTOMER_PASSWORD = "Initial-P@ssw0rd-never-log"
CUSTOMER_SAMPLE = {
    "id": TENANT,
    "commerceId": "a5e6b3f0-9c5b-4d9f-8b3a-1c2d3e4f5a6b",
    "companyProfile": {
        "tenantId": TENANT,
        "domain": "contoso.onmicrosoft.com",
        "companyName": "Contoso",
        "attributes": {"objectType": "CustomerCompanyProfile"},
    },
    "billingProfile": {"email": "admin@contoso.example", "companyName": "Contoso", "culture": "en-US"},
    "relationshipToPartner": "none",
    "userCredentials": {"userName": "admin", "password": CUSTOMER_PASSWORD},
    "attributes": {"objectType": "Customer"},
}
ORDER_SAMPLE = {
    "id": "CAD2C2B7-4E0E-4FEA-B8B5-E9E6C5E2B6E5",
    "referenceCustomerId": TENANT,
    "billingCycle": "monthly",
    "lineItems": [
        {
            "lineItemNumber": 0,
            "offerId": "CFQ7TTC0LF8Q:0001:CFQ7TTC0LF8S",
            "subscriptionId": SUBSCRIPTION_ID,
            "quantity": 5,
            "friendlyName": "Microsoft 365 Business Basic",
        }
    ],
    "creationDate": "2019-08-26T10:11:12.1234567Z",
    "status": "pending",
    "links": {"provisioningStatus": {"uri": "/customers/x/orders/y/provisioningstatus", "method": "GET"}},
    "attributes": {"objectType": "Order"},
}
SUBSCRIPTION_SAMPLE = {
    "id": SUBSCRIPTION_ID,
    "offerId": "CFQ7TTC0LF8Q:0001:CFQ7TTC0LF8S",
    "offerName": "Microsoft 365 Business Basic",
    "quantity": 5,
    "unitType": "Licenses",
    "status": "active",
    "autoRenewEnabled": True,
    "billingCycle": "monthly",
    "attributes": {"etag": "eyJpZCI6IjEifQ==", "objectType": "Subscription"},
}


@pytest.fixture(autouse=True)
def _partner_center(settings):
    settings.PARTNER_CENTER_MODE = "simulator"
    settings.PARTNER_CENTER_BASE_URL = BASE
    settings.PARTNER_CENTER_RETRY_BUDGET = 20.0
    settings.PARTNER_CENTER_CONNECT_TIMEOUT = 3.05
    settings.PARTNER_CENTER_READ_TIMEOUT = 10.0
    settings.PARTNER_CENTER_CACHE_TTL = 3600
    cache.clear()
    reset_call_counts()
    yield
    cache.clear()


class FakeClock:
    """Replaces tenacity's sleep and the client's monotonic clock: sleeping advances time, instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(transport, "_sleep", fake.sleep)
    monkeypatch.setattr(transport, "_monotonic", fake.monotonic)
    # Partner Center's shared health reads the wall clock: the same fake time, so a Retry-After slept is over.
    monkeypatch.setattr(health, "_now", fake.monotonic)
    return fake


@pytest.fixture
def pc(clock) -> PartnerCenterClient:
    return get_client()


@pytest.fixture
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def url(path: str) -> str:
    return BASE + path


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def sent_json(call) -> dict:
    return json.loads(call.request.body)


def assert_guid(value: str) -> None:
    assert str(uuid.UUID(value)) == value.lower()


def assert_common_headers(call, token: str = "simulator-token", request_id: str | None = None) -> None:
    headers = call.request.headers
    assert headers["Authorization"] == f"Bearer {token}"
    assert headers["Accept"] == "application/json"
    if request_id is None:
        assert_guid(headers["MS-RequestId"])
    else:
        assert headers["MS-RequestId"] == request_id
    assert_guid(headers["MS-CorrelationId"])


# --- requests and parsing, per method -----------------------------------------------------------------------


def test_templates_request_and_sample_answer(pc, wire):
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)

    templates = pc.get_agreement_templates()

    call = wire.calls[0]
    assert call.request.method == "GET"
    assert urlsplit(call.request.url).path == "/v1/agreements"
    assert query(call) == {"agreementType": ["MicrosoftCustomerAgreement"]}
    assert_common_headers(call)
    assert "Content-Type" not in call.request.headers
    assert len(templates) == 1
    template = templates[0]
    assert template.template_id == TEMPLATE_ID
    assert template.agreement_type == MCA
    assert template.agreement_link == "https://aka.ms/customeragreement"
    assert template.version_rank == 0
    assert template.raw == TEMPLATES_SAMPLE["items"][0]
    assert call_counts() == {"agreements": 1}


def test_templates_accept_the_type_field_and_send_agreement_type_always(pc, wire):
    item = {"templateId": "t-1", "type": "MicrosoftCloudAgreement", "agreementLink": "x", "versionRank": 2}
    wire.get(url("/v1/agreements"), json={"totalCount": 1, "items": [item]})

    templates = pc.get_agreement_templates("MicrosoftCloudAgreement")

    assert query(wire.calls[0]) == {"agreementType": ["MicrosoftCloudAgreement"]}
    assert [(t.template_id, t.agreement_type, t.version_rank) for t in templates] == [
        ("t-1", "MicrosoftCloudAgreement", 2)
    ]


def test_current_template_is_the_highest_version_rank(pc, wire):
    items = [
        {"templateId": "old", "agreementType": MCA, "agreementLink": "l", "versionRank": 0},
        {"templateId": "new", "agreementType": MCA, "agreementLink": "l", "versionRank": 3},
        {"templateId": "mid", "agreementType": MCA, "agreementLink": "l", "versionRank": 1},
    ]
    wire.get(url("/v1/agreements"), json={"totalCount": 3, "items": items})

    assert pc.get_current_template().template_id == "new"


def test_current_template_without_templates_is_a_bad_response(pc, wire):
    wire.get(url("/v1/agreements"), json={"totalCount": 0, "items": []})

    with pytest.raises(PartnerCenterBadResponse):
        pc.get_current_template()


def test_document_request_uses_the_template_path_and_upper_case_country(pc, wire):
    wire.get(url(f"/v1/agreementtemplates/{TEMPLATE_ID}/document"), json=DOCUMENT_SAMPLE)

    document = pc.get_agreement_document(TEMPLATE_ID, "en-US", "us")

    call = wire.calls[0]
    assert urlsplit(call.request.url).path == f"/v1/agreementtemplates/{TEMPLATE_ID}/document"
    assert query(call) == {"language": ["en-US"], "country": ["US"]}
    assert_common_headers(call)
    assert document.template_id == TEMPLATE_ID
    assert document.display_uri == DOCUMENT_SAMPLE["displayUri"]
    assert document.download_uri == DOCUMENT_SAMPLE["downloadUri"]
    assert (document.language, document.country) == ("en-US", "US")
    assert call_counts() == {"agreement_document": 1}


def test_cached_document_has_no_download_uri_and_use_cache_false_fetches_a_fresh_one(pc, wire):
    doc_url = url(f"/v1/agreementtemplates/{TEMPLATE_ID}/document")
    wire.get(doc_url, json=DOCUMENT_SAMPLE)
    wire.get(doc_url, json={**DOCUMENT_SAMPLE, "downloadUri": "https://download.example.test/fresh.pdf"})

    pc.get_agreement_document(TEMPLATE_ID, "en-US", "US")
    cached = pc.get_agreement_document(TEMPLATE_ID, "en-US", "US")
    assert len(wire.calls) == 1
    assert cached.display_uri == DOCUMENT_SAMPLE["displayUri"]
    assert cached.download_uri == ""

    fresh = pc.get_agreement_document(TEMPLATE_ID, "en-US", "US", use_cache=False)
    assert len(wire.calls) == 2
    assert fresh.download_uri == "https://download.example.test/fresh.pdf"


def test_customer_agreements_request_and_sample_answer(pc, wire):
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), json=CUSTOMER_AGREEMENTS_SAMPLE)

    agreements = pc.get_customer_agreements(TENANT)

    call = wire.calls[0]
    assert query(call) == {"agreementType": ["MicrosoftCustomerAgreement"]}
    assert_common_headers(call)
    assert len(agreements) == 1
    agreement = agreements[0]
    assert agreement.template_id == TEMPLATE_ID
    assert agreement.agreement_type == MCA
    # No offset in Microsoft's answer: read as UTC, never naive.
    assert agreement.date_agreed == datetime(2019, 8, 26, tzinfo=UTC)
    assert agreement.primary_contact == AgreementContact("Tania", "Carlson", "SomeEmail@Outlook.com", "1234567890")
    assert agreement.agreement_link == "https://aka.ms/customeragreement"
    assert call_counts() == {"customer_agreements": 1}


def test_direct_signed_status_request_and_answer(pc, wire):
    wire.get(url(f"/v1/customers/{TENANT}/directSignedMicrosoftCustomerAgreementStatus"), json={"isSigned": True})

    status = pc.get_direct_signed_status(TENANT)

    assert status.is_signed is True
    assert status.raw == {"isSigned": True}
    assert_common_headers(wire.calls[0])
    assert call_counts() == {"direct_signed_status": 1}


def test_confirm_acceptance_posts_microsofts_body_with_the_callers_request_id(pc, wire):
    wire.post(url(f"/v1/customers/{TENANT}/agreements"), json=CONFIRMATION_SAMPLE, status=201)
    request_id = str(uuid.uuid4())
    contact = AgreementContact("Tania", "Carlson", "SomeEmail@Outlook.com", "1234567890")
    agreed = datetime(2018, 6, 14, 2, 0, tzinfo=timezone(timedelta(hours=2)))  # = 2018-06-14T00:00Z

    result = pc.confirm_customer_acceptance(TENANT, contact, TEMPLATE_ID, agreed, request_id)

    call = wire.calls[0]
    assert call.request.method == "POST"
    assert_common_headers(call)
    assert call.request.headers["MS-RequestId"] == request_id
    assert call.request.headers["Content-Type"] == "application/json"
    assert sent_json(call) == {
        "primaryContact": {
            "firstName": "Tania",
            "lastName": "Carlson",
            "email": "SomeEmail@Outlook.com",
            "phoneNumber": "1234567890",
        },
        "templateId": TEMPLATE_ID,
        "dateAgreed": "2018-06-14T00:00:00.000Z",
        "type": "MicrosoftCustomerAgreement",
    }
    assert result.already_confirmed is False
    assert result.status_code == 201
    assert result.request_id == request_id
    assert result.correlation_id == call.request.headers["MS-CorrelationId"]
    assert result.agreement is not None
    assert result.agreement.user_id == CONFIRMATION_SAMPLE["userId"]
    assert result.agreement.date_agreed == datetime(2018, 6, 14, tzinfo=UTC)
    assert result.raw == CONFIRMATION_SAMPLE
    assert call_counts() == {"confirm_acceptance": 1}


def test_confirm_acceptance_omits_a_missing_phone_number(pc, wire):
    wire.post(url(f"/v1/customers/{TENANT}/agreements"), json=CONFIRMATION_SAMPLE, status=201)
    contact = AgreementContact("Tania", "Carlson", "t@example.test")

    pc.confirm_customer_acceptance(TENANT, contact, TEMPLATE_ID, datetime(2024, 5, 1, tzinfo=UTC), "rid-1")

    assert sent_json(wire.calls[0])["primaryContact"] == {
        "firstName": "Tania",
        "lastName": "Carlson",
        "email": "t@example.test",
    }


@pytest.mark.parametrize(("status", "code"), [(409, "600061"), (400, 600061), (403, "600061")])
def test_existing_identical_confirmation_is_a_success(pc, wire, status, code):
    error = {"code": code, "description": "PartnerConfirmedAgreementAlreadyExists", "isRetryable": False}
    wire.post(url(f"/v1/customers/{TENANT}/agreements"), json=error, status=status)
    contact = AgreementContact("Tania", "Carlson", "t@example.test")

    result = pc.confirm_customer_acceptance(TENANT, contact, TEMPLATE_ID, datetime(2024, 5, 1, tzinfo=UTC), "rid-2")

    assert result.already_confirmed is True
    assert result.agreement is None
    assert result.status_code == status
    assert result.request_id == "rid-2"
    assert result.raw["code"] == code
    assert len(wire.calls) == 1


def test_create_customer_body_and_answer_without_the_initial_password(pc, wire, caplog):
    caplog.set_level(logging.DEBUG)
    wire.post(url("/v1/customers"), json=CUSTOMER_SAMPLE, status=201)
    profile = CustomerProfile(
        domain="contoso",
        company_name="Contoso",
        email="admin@contoso.example",
        first_name="Ada",
        last_name="Lovelace",
        country="us",
        address_line1="1 Main St",
        city="Redmond",
        state="WA",
        postal_code="98052",
        phone_number="4255550100",
    )

    customer = pc.create_customer(profile, "rid-customer")

    call = wire.calls[0]
    assert_common_headers(call, request_id="rid-customer")
    assert sent_json(call) == {
        "companyProfile": {"domain": "contoso.onmicrosoft.com"},
        "billingProfile": {
            "email": "admin@contoso.example",
            "culture": "en-US",
            "language": "en",
            "companyName": "Contoso",
            "defaultAddress": {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "addressLine1": "1 Main St",
                "city": "Redmond",
                "state": "WA",
                "postalCode": "98052",
                "country": "US",
                "phoneNumber": "4255550100",
            },
        },
    }
    assert customer.tenant_id == TENANT
    assert customer.commerce_id == CUSTOMER_SAMPLE["commerceId"]
    assert customer.company_name == "Contoso"
    assert customer.domain == "contoso.onmicrosoft.com"
    assert "userCredentials" not in customer.raw
    assert CUSTOMER_PASSWORD not in repr(customer.raw)
    assert CUSTOMER_PASSWORD not in caplog.text
    assert call_counts() == {"customers": 1}


def test_create_order_body_and_sample_answer(pc, wire):
    wire.post(url(f"/v1/customers/{TENANT}/orders"), json=ORDER_SAMPLE, status=201)
    lines = [
        OrderLineItem("CFQ7TTC0LF8Q:0001:CFQ7TTC0LF8S", 5, "Microsoft 365 Business Basic"),
        OrderLineItem("CFQ7TTC0LDH8:0001:CFQ7TTC0MM8R", 2),
    ]

    order = pc.create_order(TENANT, lines, "rid-order", billing_cycle="annual")

    call = wire.calls[0]
    assert call.request.headers["MS-RequestId"] == "rid-order"
    assert sent_json(call) == {
        "referenceCustomerId": TENANT,
        "billingCycle": "annual",
        "lineItems": [
            {
                "lineItemNumber": 0,
                "offerId": "CFQ7TTC0LF8Q:0001:CFQ7TTC0LF8S",
                "quantity": 5,
                "friendlyName": "Microsoft 365 Business Basic",
            },
            {"lineItemNumber": 1, "offerId": "CFQ7TTC0LDH8:0001:CFQ7TTC0MM8R", "quantity": 2},
        ],
    }
    assert order.order_id == ORDER_SAMPLE["id"]
    assert order.status == "pending"
    assert order.line_items[0].subscription_id == SUBSCRIPTION_ID
    assert order.line_items[0].quantity == 5
    assert order.creation_date == datetime(2019, 8, 26, 10, 11, 12, 123456, tzinfo=UTC)
    assert call_counts() == {"orders": 1}


def test_update_quantity_patches_the_full_resource_with_its_etag(pc, wire):
    sub_url = url(f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION_ID}")
    wire.get(sub_url, json=SUBSCRIPTION_SAMPLE)
    wire.patch(sub_url, json={**SUBSCRIPTION_SAMPLE, "quantity": 8, "attributes": {"etag": "new-etag"}})

    updated = pc.update_subscription_quantity(TENANT, SUBSCRIPTION_ID, 8, request_id="rid-patch")

    get_call, patch_call = wire.calls
    assert get_call.request.method == "GET"
    assert patch_call.request.method == "PATCH"
    assert patch_call.request.headers["MS-RequestId"] == "rid-patch"
    assert patch_call.request.headers["Content-Type"] == "application/json"
    assert sent_json(patch_call) == {**SUBSCRIPTION_SAMPLE, "quantity": 8}
    assert sent_json(patch_call)["attributes"]["etag"] == "eyJpZCI6IjEifQ=="
    assert (updated.quantity, updated.etag, updated.subscription_id) == (8, "new-etag", SUBSCRIPTION_ID)
    assert call_counts() == {"subscriptions": 2}


def test_stale_etag_after_our_own_change_returns_the_subscription(pc, wire):
    sub_url = url(f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION_ID}")
    wire.get(sub_url, json=SUBSCRIPTION_SAMPLE)
    wire.patch(sub_url, json={"code": 2055, "description": "ETag no longer valid"}, status=400)
    wire.get(sub_url, json={**SUBSCRIPTION_SAMPLE, "quantity": 8})

    assert pc.update_subscription_quantity(TENANT, SUBSCRIPTION_ID, 8).quantity == 8


def test_stale_etag_with_another_quantity_is_rejected(pc, wire):
    sub_url = url(f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION_ID}")
    wire.get(sub_url, json=SUBSCRIPTION_SAMPLE)
    wire.patch(sub_url, json={"code": 2055, "description": "ETag no longer valid"}, status=400)
    wire.get(sub_url, json={**SUBSCRIPTION_SAMPLE, "quantity": 6})

    with pytest.raises(PartnerCenterRejected) as caught:
        pc.update_subscription_quantity(TENANT, SUBSCRIPTION_ID, 8)
    assert caught.value.code == "2055"


def test_agreement_endpoints_use_the_app_user_token_and_the_others_app_only(clock, wire):
    pc = PartnerCenterClient(
        base_url=BASE,
        app_tokens=StaticTokenProvider("app-only-token"),
        user_tokens=StaticTokenProvider("app-user-token"),
        connect_timeout=1,
        read_timeout=2,
        retry_budget=5,
        cache_ttl=60,
    )
    wire.get(url(f"/v1/customers/{TENANT}/directSignedMicrosoftCustomerAgreementStatus"), json={"isSigned": False})
    wire.get(url(f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION_ID}"), json=SUBSCRIPTION_SAMPLE)

    pc.get_direct_signed_status(TENANT)
    pc.get_subscription(TENANT, SUBSCRIPTION_ID)

    assert wire.calls[0].request.headers["Authorization"] == "Bearer app-user-token"
    assert wire.calls[1].request.headers["Authorization"] == "Bearer app-only-token"


# --- error mapping --------------------------------------------------------------------------------------------


MCA_REQUIRED = {
    "code": 13605,
    "description": "Either a partner confirmation of the customer acceptance of the Microsoft Customer Agreement "
    "must be provided or the customer must accept the Microsoft Customer Agreement in the Microsoft Admin "
    "Center before you can complete this purchase",
}


def test_order_without_mca_acceptance_raises_mca_acceptance_required(pc, wire):
    wire.post(url(f"/v1/customers/{TENANT}/orders"), json=MCA_REQUIRED, status=403)

    with pytest.raises(McaAcceptanceRequired) as caught:
        pc.create_order(TENANT, [OrderLineItem("offer", 1)], "rid-3")

    assert caught.value.code == "13605"
    assert caught.value.status_code == 403
    assert caught.value.request_id == "rid-3"
    assert len(wire.calls) == 1  # a 4xx is never retried


def test_quantity_change_without_mca_acceptance_raises_mca_acceptance_required(pc, wire):
    sub_url = url(f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION_ID}")
    wire.get(sub_url, json=SUBSCRIPTION_SAMPLE)
    wire.patch(sub_url, json={**MCA_REQUIRED, "code": "13605"}, status=403)

    with pytest.raises(McaAcceptanceRequired):
        pc.update_subscription_quantity(TENANT, SUBSCRIPTION_ID, 9)


def test_unknown_customer_raises_not_found(pc, wire):
    wire.get(
        url(f"/v1/customers/{TENANT}/agreements"), json={"code": 60003, "description": "Tenant not found"}, status=404
    )

    with pytest.raises(PartnerCenterNotFound) as caught:
        pc.get_customer_agreements(TENANT)

    assert caught.value.code == "60003"
    assert caught.value.description == "Tenant not found"


def test_other_4xx_raises_rejected_with_code_description_and_raw_once(pc, wire):
    error = {"code": "800002", "description": "Invalid input", "data": ["templateId"], "source": "PartnerFD"}
    wire.post(url(f"/v1/customers/{TENANT}/agreements"), json=error, status=400)
    contact = AgreementContact("A", "B", "a@b.test")

    with pytest.raises(PartnerCenterRejected) as caught:
        pc.confirm_customer_acceptance(TENANT, contact, "bad", datetime(2024, 1, 1, tzinfo=UTC), "rid-4")

    assert type(caught.value) is PartnerCenterRejected
    assert (caught.value.code, caught.value.description, caught.value.raw) == ("800002", "Invalid input", error)
    assert call_counts() == {"confirm_acceptance": 1}


def test_403_other_than_13605_is_a_plain_rejection(pc, wire):
    wire.post(url(f"/v1/customers/{TENANT}/orders"), json={"code": 20002, "description": "No relationship"}, status=403)

    with pytest.raises(PartnerCenterRejected) as caught:
        pc.create_order(TENANT, [OrderLineItem("offer", 1)], "rid-5")

    assert not isinstance(caught.value, McaAcceptanceRequired)
    assert caught.value.code == "20002"


def test_error_body_that_is_not_json_still_raises_rejected(pc, wire):
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), body="<html>Bad Request</html>", status=400)

    with pytest.raises(PartnerCenterRejected) as caught:
        pc.get_customer_agreements(TENANT)
    assert caught.value.code == ""
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"<html>not json</html>", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[1, 2]", id="list-not-object"),
        pytest.param(b'{"totalCount": 1}', id="items-missing"),
        pytest.param(b'{"items": {"templateId": "x"}}', id="items-not-list"),
        pytest.param(b'{"items": ["x"]}', id="item-not-object"),
        pytest.param(b'{"items": [{"agreementType": "MicrosoftCustomerAgreement"}]}', id="templateId-missing"),
        pytest.param(b'{"items": [{"templateId": 7, "type": "MicrosoftCustomerAgreement"}]}', id="id-not-str"),
        pytest.param(b'{"items": [{"templateId": "t"}]}', id="type-missing"),
        pytest.param(
            b'{"items": [{"templateId": "t", "type": "MicrosoftCustomerAgreement", "versionRank": "high"}]}',
            id="rank-not-int",
        ),
    ],
)
def test_malformed_templates_answer_raises_bad_response(pc, wire, answer):
    wire.get(url("/v1/agreements"), body=answer, status=200)

    with pytest.raises(PartnerCenterBadResponse):
        pc.get_agreement_templates()
    assert len(wire.calls) == 1  # a bad answer is not retried


@pytest.mark.parametrize(
    ("method", "path", "answer"),
    [
        ("direct_signed", "/directSignedMicrosoftCustomerAgreementStatus", {"isSigned": "yes"}),
        ("direct_signed", "/directSignedMicrosoftCustomerAgreementStatus", {}),
        ("agreements", "/agreements", {"totalCount": 1, "items": [{"templateId": "t", "type": MCA}]}),
        (
            "agreements",
            "/agreements",
            {"items": [{"templateId": "t", "type": MCA, "dateAgreed": "26/08/2019"}]},
        ),
        (
            "agreements",
            "/agreements",
            {"items": [{"templateId": "t", "type": MCA, "dateAgreed": "2019-08-26", "primaryContact": "x"}]},
        ),
    ],
)
def test_malformed_customer_answers_raise_bad_response(pc, wire, method, path, answer):
    wire.get(url(f"/v1/customers/{TENANT}{path}"), json=answer)

    with pytest.raises(PartnerCenterBadResponse) as caught:
        if method == "direct_signed":
            pc.get_direct_signed_status(TENANT)
        else:
            pc.get_customer_agreements(TENANT)
    assert caught.value.request_id == wire.calls[0].request.headers["MS-RequestId"]


@pytest.mark.parametrize(
    "answer",
    [
        {**SUBSCRIPTION_SAMPLE, "quantity": "many"},
        {**SUBSCRIPTION_SAMPLE, "quantity": True},
        {k: v for k, v in SUBSCRIPTION_SAMPLE.items() if k != "id"},
        {**SUBSCRIPTION_SAMPLE, "attributes": "etag"},
    ],
)
def test_malformed_subscription_raises_bad_response(pc, wire, answer):
    wire.get(url(f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION_ID}"), json=answer)

    with pytest.raises(PartnerCenterBadResponse):
        pc.get_subscription(TENANT, SUBSCRIPTION_ID)


def test_subscription_without_etag_is_not_patched(pc, wire):
    sub_url = url(f"/v1/customers/{TENANT}/subscriptions/{SUBSCRIPTION_ID}")
    wire.get(sub_url, json={**SUBSCRIPTION_SAMPLE, "attributes": {"objectType": "Subscription"}})

    with pytest.raises(PartnerCenterBadResponse):
        pc.update_subscription_quantity(TENANT, SUBSCRIPTION_ID, 3)
    assert [c.request.method for c in wire.calls] == ["GET"]


def test_malformed_customer_answer_never_shows_the_password(pc, wire):
    wire.post(
        url("/v1/customers"),
        json={k: v for k, v in CUSTOMER_SAMPLE.items() if k not in ("id", "companyProfile")},
        status=201,
    )
    profile = CustomerProfile("contoso", "Contoso", "a@b.test", "A", "B", "US")

    with pytest.raises(PartnerCenterBadResponse) as caught:
        pc.create_customer(profile, "rid-6")
    assert CUSTOMER_PASSWORD not in str(caught.value)


# --- retries --------------------------------------------------------------------------------------------------


def test_429_waits_at_least_retry_after_then_succeeds(pc, wire, clock):
    throttled = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}
    wire.get(url("/v1/agreements"), json=throttled, status=429, headers={"Retry-After": "7"})
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)

    templates = pc.get_agreement_templates()

    assert [t.template_id for t in templates] == [TEMPLATE_ID]
    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] >= 7
    assert call_counts() == {"agreements": 2}


def test_retry_after_beyond_the_budget_raises_throttled_at_once(pc, wire, clock):
    wire.get(url("/v1/agreements"), json={"statusCode": 429}, status=429, headers={"Retry-After": "57"})

    with pytest.raises(PartnerCenterThrottled) as caught:
        pc.get_agreement_templates(budget=3.0)

    assert caught.value.retry_after == 57
    assert caught.value.status_code == 429
    assert clock.sleeps == []
    assert len(wire.calls) == 1


def test_persistent_429_ends_as_throttled(pc, wire, clock):
    wire.get(url("/v1/agreements"), json={"statusCode": 429}, status=429, headers={"Retry-After": "1"})

    with pytest.raises(PartnerCenterThrottled) as caught:
        pc.get_agreement_templates()

    assert caught.value.retry_after == 1
    assert len(wire.calls) == client_module.MAX_ATTEMPTS
    assert all(s >= 1 for s in clock.sleeps)


def test_5xx_is_retried_with_backoff_then_unavailable(pc, wire, clock):
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), json={"code": 800003}, status=503)

    with pytest.raises(PartnerCenterUnavailable) as caught:
        pc.get_customer_agreements(TENANT)

    assert type(caught.value) is PartnerCenterUnavailable
    assert caught.value.status_code == 503
    assert call_counts() == {"customer_agreements": client_module.MAX_ATTEMPTS}
    assert len(clock.sleeps) == client_module.MAX_ATTEMPTS - 1
    assert all(0 <= s <= 8 for s in clock.sleeps)


def test_5xx_then_success_returns_the_answer(pc, wire, clock):
    agreements_url = url(f"/v1/customers/{TENANT}/agreements")
    wire.get(agreements_url, status=500)
    wire.get(agreements_url, status=502)
    wire.get(agreements_url, json=CUSTOMER_AGREEMENTS_SAMPLE)

    assert len(pc.get_customer_agreements(TENANT)) == 1
    assert len(wire.calls) == 3


def test_backoff_never_sleeps_past_the_budget(pc, wire, clock):
    wire.get(url("/v1/agreements"), status=503)

    with pytest.raises(PartnerCenterUnavailable):
        pc.get_agreement_templates(budget=1.0)

    assert sum(clock.sleeps) < 1.0


def test_connection_errors_and_timeouts_are_retried(pc, wire, clock):
    wire.get(url("/v1/agreements"), body=requests.ConnectionError("refused"))
    wire.get(url("/v1/agreements"), body=requests.ReadTimeout("slow"))
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)

    assert len(pc.get_agreement_templates()) == 1
    assert call_counts() == {"agreements": 3}


def test_connection_errors_until_the_end_raise_unavailable(pc, wire, clock):
    wire.get(url("/v1/agreements"), body=requests.ConnectionError("refused"))

    with pytest.raises(PartnerCenterUnavailable) as caught:
        pc.get_agreement_templates()
    assert "ConnectionError" in str(caught.value)


def test_post_retries_keep_the_request_id_and_change_the_correlation_id(pc, wire, clock):
    agreements_url = url(f"/v1/customers/{TENANT}/agreements")
    wire.post(agreements_url, body=requests.ReadTimeout("lost answer"))
    wire.post(agreements_url, status=503)
    wire.post(agreements_url, json=CONFIRMATION_SAMPLE, status=201)
    contact = AgreementContact("Tania", "Carlson", "SomeEmail@Outlook.com", "1234567890")

    result = pc.confirm_customer_acceptance(TENANT, contact, TEMPLATE_ID, datetime(2018, 6, 14, tzinfo=UTC), "rid-7")

    request_ids = {c.request.headers["MS-RequestId"] for c in wire.calls}
    correlation_ids = [c.request.headers["MS-CorrelationId"] for c in wire.calls]
    assert request_ids == {"rid-7"}
    assert len(set(correlation_ids)) == 3
    assert result.correlation_id == correlation_ids[-1]
    assert {json.dumps(sent_json(c), sort_keys=True) for c in wire.calls} == {
        json.dumps(sent_json(wire.calls[0]), sort_keys=True)
    }
    assert call_counts() == {"confirm_acceptance": 3}


def test_a_given_correlation_id_is_reused_on_every_attempt(pc, wire, clock):
    wire.get(url("/v1/agreements"), status=500)
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)

    pc.get_agreement_templates(correlation_id="corr-1")

    assert [c.request.headers["MS-CorrelationId"] for c in wire.calls] == ["corr-1", "corr-1"]


def test_reads_use_one_request_id_per_logical_call(pc, wire, clock):
    status_url = url(f"/v1/customers/{TENANT}/directSignedMicrosoftCustomerAgreementStatus")
    wire.get(status_url, status=503)
    wire.get(status_url, json={"isSigned": False})
    wire.get(status_url, json={"isSigned": False})

    pc.get_direct_signed_status(TENANT)
    pc.get_direct_signed_status(TENANT)

    first, retry, second_call = (c.request.headers["MS-RequestId"] for c in wire.calls)
    assert first == retry
    assert second_call != first


def test_timeouts_come_from_settings_and_are_capped_by_the_budget(pc, wire, clock):
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)

    pc.get_agreement_templates()
    cache.clear()
    pc.get_agreement_templates(budget=2.0)

    assert wire.calls[0].request.req_kwargs["timeout"] == (3.05, 10.0)
    assert wire.calls[1].request.req_kwargs["timeout"] == (2.0, 2.0)


def test_no_budget_left_makes_no_call(pc, wire, clock):
    with pytest.raises(PartnerCenterUnavailable):
        pc.get_agreement_templates(budget=0)
    assert call_counts() == {}


# --- caching --------------------------------------------------------------------------------------------------


def test_second_templates_call_is_served_from_the_cache(pc, wire):
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)

    first = pc.get_agreement_templates()
    second = pc.get_agreement_templates()

    assert first == second
    assert len(wire.calls) == 1
    assert call_counts() == {"agreements": 1}


def test_templates_cache_is_per_agreement_type(pc, wire):
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)
    wire.get(url("/v1/agreements"), json={"totalCount": 0, "items": []})

    pc.get_agreement_templates()
    assert pc.get_agreement_templates("MicrosoftCloudAgreement") == []
    assert len(wire.calls) == 2


def test_negative_customer_agreements_answer_is_not_cached(pc, wire):
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), json=NO_AGREEMENTS)
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), json=NO_AGREEMENTS)

    assert pc.get_customer_agreements(TENANT) == []
    assert pc.get_customer_agreements(TENANT) == []
    assert call_counts() == {"customer_agreements": 2}


def test_positive_customer_agreements_answer_is_cached(pc, wire):
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), json=CUSTOMER_AGREEMENTS_SAMPLE)

    first = pc.get_customer_agreements(TENANT)
    second = pc.get_customer_agreements(TENANT)

    assert first == second
    assert len(first) == 1
    assert call_counts() == {"customer_agreements": 1}


def test_use_cache_false_asks_again_even_when_positive(pc, wire):
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), json=CUSTOMER_AGREEMENTS_SAMPLE)
    wire.get(url(f"/v1/customers/{TENANT}/agreements"), json=CUSTOMER_AGREEMENTS_SAMPLE)

    pc.get_customer_agreements(TENANT)
    pc.get_customer_agreements(TENANT, use_cache=False)

    assert call_counts() == {"customer_agreements": 2}


def test_direct_signed_is_cached_only_when_signed(pc, wire):
    status_url = url(f"/v1/customers/{TENANT}/directSignedMicrosoftCustomerAgreementStatus")
    wire.get(status_url, json={"isSigned": False})
    wire.get(status_url, json={"isSigned": True})

    assert pc.get_direct_signed_status(TENANT).is_signed is False
    assert pc.get_direct_signed_status(TENANT).is_signed is True
    assert pc.get_direct_signed_status(TENANT).is_signed is True
    assert call_counts() == {"direct_signed_status": 2}


def test_confirmation_drops_the_cached_list_of_that_customer(pc, wire):
    agreements_url = url(f"/v1/customers/{TENANT}/agreements")
    wire.get(agreements_url, json=CUSTOMER_AGREEMENTS_SAMPLE)
    wire.post(agreements_url, json=CONFIRMATION_SAMPLE, status=201)
    wire.get(agreements_url, json=CUSTOMER_AGREEMENTS_SAMPLE)
    contact = AgreementContact("New", "Person", "n@example.test")

    pc.get_customer_agreements(TENANT)
    pc.confirm_customer_acceptance(TENANT, contact, TEMPLATE_ID, datetime(2024, 5, 1, tzinfo=UTC), "rid-8")
    pc.get_customer_agreements(TENANT)

    assert call_counts() == {"customer_agreements": 2, "confirm_acceptance": 1}


def test_cache_is_separate_per_base_url(pc, wire, settings):
    wire.get(url("/v1/agreements"), json=TEMPLATES_SAMPLE)
    wire.get("https://other.example.test/v1/agreements", json=TEMPLATES_SAMPLE)

    pc.get_agreement_templates()
    settings.PARTNER_CENTER_BASE_URL = "https://other.example.test"
    get_client().get_agreement_templates()

    assert len(wire.calls) == 2


# --- process-wide client, logs --------------------------------------------------------------------------------


def test_get_client_is_reused_until_settings_change(settings):
    first = get_client()
    assert get_client() is first

    settings.PARTNER_CENTER_BASE_URL = "https://elsewhere.example.test/"
    rebuilt = get_client()

    assert rebuilt is not first
    assert rebuilt.base_url == "https://elsewhere.example.test"


def test_each_attempt_is_logged_without_token_or_bodies(pc, wire, clock, caplog):
    caplog.set_level(logging.DEBUG, logger="partner_center")
    wire.post(url("/v1/customers"), status=503)
    wire.post(url("/v1/customers"), json=CUSTOMER_SAMPLE, status=201)

    pc.create_customer(CustomerProfile("contoso", "Contoso", "a@b.test", "A", "B", "US"), "rid-log")

    attempts = [r for r in caplog.records if r.name == "partner_center" and "MS-RequestId" in r.getMessage()]
    assert len(attempts) == 2
    first, second = (r.getMessage() for r in attempts)
    assert "POST /v1/customers -> 503" in first
    assert "POST /v1/customers -> 201" in second
    assert "MS-RequestId=rid-log" in first
    assert " ms " in first
    for call, message in zip(wire.calls, (first, second), strict=True):
        assert f"MS-CorrelationId={call.request.headers['MS-CorrelationId']}" in message
    assert "simulator-token" not in caplog.text
    assert CUSTOMER_PASSWORD not in caplog.text
    assert all(r.levelno == logging.DEBUG for r in attempts)


def test_no_answer_in_time_is_unavailable_and_timed_out(pc, wire):
    import requests

    wire.get(url("/v1/agreements"), body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(PartnerCenterUnavailable) as error:
        pc.get_agreement_templates()
    assert error.value.timed_out is True


def test_an_answer_saying_it_is_down_is_not_a_time_out(pc, wire):
    wire.get(url("/v1/agreements"), status=503, body="Service Unavailable")
    with pytest.raises(PartnerCenterUnavailable) as error:
        pc.get_agreement_templates()
    assert error.value.timed_out is False and error.value.status_code == 503


def test_a_budget_cut_short_after_partner_center_answered_5xx_is_it_failing_not_slow(pc, wire):
    """Seen under load: Partner Center answered 500, the retry's read timeout was what the budget had left and
    ran out; the status then said "slow" instead of "unavailable". The 5xx said more than the cut-short wait."""
    wire.get(url("/v1/agreements"), status=500, body="Internal Server Error")
    wire.get(url("/v1/agreements"), body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(PartnerCenterUnavailable) as error:
        pc.get_agreement_templates(budget=5.0)
    assert error.value.timed_out is False and error.value.status_code == 500
    assert wire.calls[0].response.status_code == 500 and len(wire.calls) > 1  # the later attempts timed out


def test_no_time_left_after_a_5xx_is_it_failing_not_slow(pc, wire, clock, monkeypatch):
    def oversleep(seconds: float) -> None:
        clock.now += seconds + 60  # a busy machine wakes the retry late: the budget is gone before it starts

    monkeypatch.setattr(transport, "_sleep", oversleep)
    wire.get(url("/v1/agreements"), status=500, body="Internal Server Error")
    with pytest.raises(PartnerCenterUnavailable) as error:
        pc.get_agreement_templates(budget=5.0)
    assert error.value.timed_out is False and error.value.status_code == 500
    assert len(wire.calls) == 1
