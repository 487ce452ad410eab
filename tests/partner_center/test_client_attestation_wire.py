"""The enhanced attestation calls on the wire: bodies and headers as assumed in `partner_center.wire_assumed`,
answers parsed defensively, 600061, retries. HTTP is stubbed with `responses`; nothing really sleeps."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests
import responses
from django.core.cache import cache

from partner_center import health
from partner_center.auth import StaticTokenProvider
from partner_center.client import PartnerCenterClient, call_counts, reset_call_counts, transport
from partner_center.errors import PartnerCenterBadResponse, PartnerCenterNotFound, PartnerCenterRejected
from partner_center.types import MCA, AttestationStatus, CustomerAgreement, Signatory

BASE = "https://pc.example.test"
TENANT = "4d3cf487-70f6-4f0b-b2f0-6e2c5e9e1b9a"
TEMPLATE_ID = "117a77b0-9360-443b-8795-c6dedc750cf9"
ATTESTATION_ID = "0f8e2c64-2d5c-4a3e-9f41-6b1f7d2a9c11"
CREATE_URL = f"{BASE}/v1/attestations/enhanced"
READ_URL = f"{CREATE_URL}/{ATTESTATION_ID}"
AGREEMENTS_URL = f"{BASE}/v1/customers/{TENANT}/agreements"

SIGNATORY = Signatory("Lisa", "Andrews", "lisa@litware.example", "Litware Inc.", "+442079460103")
FUTURE = datetime.now(UTC) + timedelta(days=7)


def attestation_answer(**overrides) -> dict:
    body = {
        "id": ATTESTATION_ID,
        "status": "pending",
        "acceptanceUrl": f"https://attest.microsoft.example/accept/{ATTESTATION_ID}?sig=abc",
        "expiresAt": FUTURE.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
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


AGREEMENT_ANSWER = {
    "primaryContact": {"firstName": "Lisa", "lastName": "Andrews", "email": "lisa@litware.example"},
    "templateId": TEMPLATE_ID,
    "dateAgreed": "2026-02-03T10:00:00",
    "type": MCA,
    "attestationId": ATTESTATION_ID,
    "agreementLink": "https://aka.ms/customeragreement",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(transport, "_sleep", fake.sleep)
    monkeypatch.setattr(transport, "_monotonic", fake.monotonic)
    # Partner Center's shared health reads the wall clock: the same fake time, so a Retry-After slept is over.
    monkeypatch.setattr(health, "_now", fake.monotonic)
    return fake


@pytest.fixture
def pc(clock) -> PartnerCenterClient:
    """Two distinct tokens, so a test can tell which kind each call used."""
    cache.clear()
    reset_call_counts()
    yield PartnerCenterClient(
        base_url=BASE,
        app_tokens=StaticTokenProvider("app-only-token"),
        user_tokens=StaticTokenProvider("app-user-token"),
        connect_timeout=3.05,
        read_timeout=10.0,
        retry_budget=20.0,
        cache_ttl=3600,
    )
    cache.clear()


@pytest.fixture
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def sent(call) -> dict:
    return json.loads(call.request.body)


def new_id() -> str:
    return str(uuid.uuid4())


# --- create -------------------------------------------------------------------------------------------------


def test_create_sends_the_documented_and_assumed_fields_with_the_app_only_token(pc, wire):
    wire.post(CREATE_URL, json=attestation_answer(), status=201)
    request_id = new_id()
    pc.create_enhanced_attestation(SIGNATORY, country="gb", language="en-US", request_id=request_id)
    [call] = wire.calls
    assert sent(call) == {
        "country": "GB",
        "language": "en-US",
        "companyName": "Litware Inc.",
        "signatoryFirstName": "Lisa",
        "signatoryLastName": "Andrews",
        "signatoryEmail": "lisa@litware.example",
        "signatoryPhoneNumber": "+442079460103",
    }
    headers = call.request.headers
    assert headers["Authorization"] == "Bearer app-only-token"
    assert headers["MS-RequestId"] == request_id
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert call_counts() == {"create_enhanced_attestation": 1}


def test_create_leaves_out_a_missing_phone_number(pc, wire):
    wire.post(CREATE_URL, json=attestation_answer(signatoryPhoneNumber=None), status=201)
    signatory = Signatory("Lisa", "Andrews", "lisa@litware.example", "Litware Inc.")
    attestation = pc.create_enhanced_attestation(signatory, country="GB", language="en-US", request_id=new_id())
    assert "signatoryPhoneNumber" not in sent(wire.calls[0])
    assert attestation.signatory.phone_number is None


def test_create_answer_is_parsed(pc, wire):
    wire.post(CREATE_URL, json=attestation_answer(), status=201)
    attestation = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=new_id())
    assert attestation.attestation_id == ATTESTATION_ID
    assert attestation.status is AttestationStatus.PENDING
    assert attestation.acceptance_url.startswith("https://attest.microsoft.example/accept/")
    assert attestation.expires_at == FUTURE.replace(microsecond=0)
    assert attestation.expires_at.tzinfo is not None
    assert attestation.accepted_at is None
    assert (attestation.country, attestation.language) == ("GB", "en-US")
    assert attestation.signatory == SIGNATORY
    assert attestation.raw["id"] == ATTESTATION_ID


def test_create_answer_without_the_echo_falls_back_to_what_was_sent(pc, wire):
    minimal = {
        "id": ATTESTATION_ID,
        "status": "Pending",
        "acceptanceUrl": "https://attest.microsoft.example/a",
        "expiresAt": FUTURE.isoformat(),
    }
    wire.post(CREATE_URL, json=minimal, status=201)
    attestation = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-GB", request_id=new_id())
    assert attestation.signatory == SIGNATORY
    assert (attestation.country, attestation.language) == ("GB", "en-GB")
    assert attestation.status is AttestationStatus.PENDING


def test_create_retried_after_a_429_waits_retry_after_and_keeps_the_request_id(pc, wire, clock):
    throttled = {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 4 seconds."}
    wire.post(CREATE_URL, json=throttled, status=429, headers={"Retry-After": "4"})
    wire.post(CREATE_URL, json=attestation_answer(), status=201)
    request_id = new_id()
    attestation = pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=request_id)
    assert attestation.attestation_id == ATTESTATION_ID
    assert clock.sleeps == [4]
    assert [call.request.headers["MS-RequestId"] for call in wire.calls] == [request_id, request_id]
    # A new correlation id per attempt: it traces attempts, the request id identifies the write.
    correlation_ids = {call.request.headers["MS-CorrelationId"] for call in wire.calls}
    assert len(correlation_ids) == 2


def test_create_retried_after_a_timeout_keeps_the_request_id(pc, wire):
    wire.post(CREATE_URL, body=requests.ConnectTimeout())
    wire.post(CREATE_URL, json=attestation_answer(), status=201)
    request_id = new_id()
    pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=request_id)
    assert [call.request.headers["MS-RequestId"] for call in wire.calls] == [request_id, request_id]


def test_create_invalid_input_is_rejected_without_retry(pc, wire):
    wire.post(CREATE_URL, json={"code": 800002, "description": "signatoryEmail is required."}, status=400)
    with pytest.raises(PartnerCenterRejected) as caught:
        pc.create_enhanced_attestation(SIGNATORY, country="GB", language="en-US", request_id=new_id())
    assert (caught.value.code, caught.value.status_code) == ("800002", 400)
    assert len(wire.calls) == 1


# --- read ---------------------------------------------------------------------------------------------------


def test_read_uses_the_app_only_token_and_is_never_cached(pc, wire):
    wire.get(READ_URL, json=attestation_answer())
    accepted = attestation_answer(status="accepted", acceptedAt="2026-02-03T10:00:00Z")
    wire.get(READ_URL, json=accepted)
    assert pc.get_enhanced_attestation(ATTESTATION_ID).status is AttestationStatus.PENDING
    again = pc.get_enhanced_attestation(ATTESTATION_ID)
    assert again.status is AttestationStatus.ACCEPTED
    assert again.accepted_at == datetime(2026, 2, 3, 10, tzinfo=UTC)
    assert [call.request.headers["Authorization"] for call in wire.calls] == ["Bearer app-only-token"] * 2
    assert call_counts() == {"enhanced_attestation": 2}


def test_read_quotes_the_id_into_one_path_segment(pc, wire):
    wire.get(f"{CREATE_URL}/..%2Fx%3Fa%3D1", json=attestation_answer())
    pc.get_enhanced_attestation("../x?a=1")
    assert wire.calls[0].request.path_url == "/v1/attestations/enhanced/..%2Fx%3Fa%3D1"


def test_a_pending_attestation_past_its_expiry_is_reported_expired(pc, wire):
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    wire.get(READ_URL, json=attestation_answer(expiresAt=past))
    assert pc.get_enhanced_attestation(ATTESTATION_ID).status is AttestationStatus.EXPIRED


def test_an_accepted_attestation_past_its_expiry_stays_accepted(pc, wire):
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    wire.get(READ_URL, json=attestation_answer(status="accepted", expiresAt=past, acceptedAt=past))
    assert pc.get_enhanced_attestation(ATTESTATION_ID).status is AttestationStatus.ACCEPTED


def test_an_expiry_without_offset_is_utc(pc, wire):
    wire.get(READ_URL, json=attestation_answer(expiresAt="2999-01-01T00:00:00"))
    assert pc.get_enhanced_attestation(ATTESTATION_ID).expires_at == datetime(2999, 1, 1, tzinfo=UTC)


def test_unknown_attestation_is_not_found(pc, wire):
    wire.get(READ_URL, json={"code": 800002, "description": "not found"}, status=404)
    with pytest.raises(PartnerCenterNotFound):
        pc.get_enhanced_attestation(ATTESTATION_ID)


@pytest.mark.parametrize(
    "answer",
    [
        attestation_answer(status="signed"),
        attestation_answer(status=None),
        attestation_answer(status=3),
        attestation_answer(id=None),
        attestation_answer(id="  "),
        attestation_answer(acceptanceUrl=None),
        attestation_answer(acceptanceUrl="javascript:alert(1)"),
        attestation_answer(acceptanceUrl="/relative/accept"),
        attestation_answer(expiresAt=None),
        attestation_answer(expiresAt="next week"),
        attestation_answer(status="accepted", acceptedAt="yesterday"),
        attestation_answer(signatoryFirstName=None),
        attestation_answer(companyName=None),
        attestation_answer(country=None),
        attestation_answer(signatoryEmail=["lisa@litware.example"]),
        ["not", "an", "object"],
    ],
    ids=lambda value: json.dumps(value)[:60],
)
def test_malformed_read_answers_are_bad_responses(pc, wire, answer):
    wire.get(READ_URL, json=answer)
    with pytest.raises(PartnerCenterBadResponse) as caught:
        pc.get_enhanced_attestation(ATTESTATION_ID)
    assert caught.value.status_code == 200 and caught.value.request_id


def test_a_read_answer_that_is_not_json_is_a_bad_response(pc, wire):
    wire.get(READ_URL, body="<html>ok</html>", status=200)
    with pytest.raises(PartnerCenterBadResponse):
        pc.get_enhanced_attestation(ATTESTATION_ID)


# --- agreement from an attestation --------------------------------------------------------------------------


def test_agreement_from_attestation_sends_the_attestation_id_with_the_app_only_token(pc, wire):
    wire.post(AGREEMENTS_URL, json=AGREEMENT_ANSWER, status=201)
    request_id = new_id()
    result = pc.create_agreement_from_attestation(TENANT, ATTESTATION_ID, TEMPLATE_ID, request_id)
    [call] = wire.calls
    assert sent(call) == {"attestationId": ATTESTATION_ID, "templateId": TEMPLATE_ID, "type": MCA}
    assert call.request.headers["Authorization"] == "Bearer app-only-token"
    assert call.request.headers["MS-RequestId"] == request_id
    assert result.already_confirmed is False and result.status_code == 201
    assert isinstance(result.agreement, CustomerAgreement)
    assert result.agreement.date_agreed == datetime(2026, 2, 3, 10, tzinfo=UTC)
    assert result.agreement.primary_contact.email == "lisa@litware.example"
    assert result.raw["attestationId"] == ATTESTATION_ID
    assert call_counts() == {"agreement_from_attestation": 1}


def test_agreement_from_attestation_600061_is_already_confirmed(pc, wire):
    exists = {
        "code": 600061,
        "description": "A partner confirmed agreement with the same primary contact already exists.",
        "errorName": "PartnerConfirmedAgreementAlreadyExists",
        "isRetryable": False,
    }
    wire.post(AGREEMENTS_URL, json=exists, status=409)
    result = pc.create_agreement_from_attestation(TENANT, ATTESTATION_ID, TEMPLATE_ID, new_id())
    assert result.already_confirmed is True and result.agreement is None
    assert result.status_code == 409 and result.raw["errorName"] == "PartnerConfirmedAgreementAlreadyExists"


def test_agreement_from_an_attestation_not_accepted_is_rejected(pc, wire):
    wire.post(AGREEMENTS_URL, json={"code": 800002, "description": "not accepted yet"}, status=400)
    with pytest.raises(PartnerCenterRejected) as caught:
        pc.create_agreement_from_attestation(TENANT, ATTESTATION_ID, TEMPLATE_ID, new_id())
    assert caught.value.code == "800002"


def test_agreement_from_attestation_retried_after_503_keeps_the_request_id(pc, wire, clock):
    wire.post(AGREEMENTS_URL, json={"code": 800003}, status=503, headers={"Retry-After": "2"})
    wire.post(AGREEMENTS_URL, json=AGREEMENT_ANSWER, status=201)
    request_id = new_id()
    pc.create_agreement_from_attestation(TENANT, ATTESTATION_ID, TEMPLATE_ID, request_id)
    assert [call.request.headers["MS-RequestId"] for call in wire.calls] == [request_id, request_id]
    assert clock.sleeps == [2]


def test_agreement_from_attestation_drops_the_cached_agreement_list(pc, wire):
    listed = {"totalCount": 1, "items": [AGREEMENT_ANSWER]}
    wire.get(AGREEMENTS_URL, json=listed)
    wire.post(AGREEMENTS_URL, json=AGREEMENT_ANSWER, status=201)
    wire.get(AGREEMENTS_URL, json=listed)
    pc.get_customer_agreements(TENANT)
    pc.get_customer_agreements(TENANT)  # cached: no call
    pc.create_agreement_from_attestation(TENANT, ATTESTATION_ID, TEMPLATE_ID, new_id())
    pc.get_customer_agreements(TENANT)
    assert [call.request.method for call in wire.calls] == ["GET", "POST", "GET"]


def test_a_malformed_agreement_answer_is_a_bad_response(pc, wire):
    wire.post(AGREEMENTS_URL, json={"templateId": TEMPLATE_ID, "type": MCA}, status=201)
    with pytest.raises(PartnerCenterBadResponse):
        pc.create_agreement_from_attestation(TENANT, ATTESTATION_ID, TEMPLATE_ID, new_id())
