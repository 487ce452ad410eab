"""What happens before the business rules: bearer tokens, request ids, MS-RequestId replay, faults, counts."""

from __future__ import annotations

import time
import uuid

import pytest

from demo.simulator import MCA_TEMPLATE_ID
from partner_center.simulator.models import SimAgreement, SimCustomer, SimFault, SimOrder
from tests.simulator.conftest import confirmation, order_body

pytestmark = pytest.mark.django_db


def calls(pc) -> dict:
    return pc.control("GET", "faults").json()["calls"]


# --- Authentication and request ids ---


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer   ", "Basic abc"])
def test_missing_bearer_token_is_401_800001(pc, seeded, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = pc.client.get("/simulator/partner-center/v1/agreements", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == 800001


def test_any_bearer_token_is_accepted(pc, seeded):
    assert pc.get("v1/agreements", token="whatever").status_code == 200


def test_request_and_correlation_ids_are_echoed(pc, seeded):
    request_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    response = pc.client.get(
        "/simulator/partner-center/v1/agreements",
        headers={"Authorization": "Bearer t", "MS-RequestId": request_id, "MS-CorrelationId": correlation_id},
    )
    assert response["MS-RequestId"] == request_id
    assert response["MS-CorrelationId"] == correlation_id


def test_ids_are_generated_when_the_caller_sends_none(pc, seeded):
    response = pc.client.get("/simulator/partner-center/v1/agreements", headers={"Authorization": "Bearer t"})
    assert uuid.UUID(response["MS-RequestId"]) and uuid.UUID(response["MS-CorrelationId"])


def test_wrong_method_is_405(pc, seeded):
    assert pc.call("DELETE", "v1/agreements").status_code == 405


def test_writes_need_no_csrf_token(seeded):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        f"/simulator/partner-center/v1/customers/{seeded['litware']}/agreements",
        data=confirmation(),
        content_type="application/json",
        headers={"Authorization": "Bearer t"},
    )
    assert response.status_code == 201
    assert (
        client.post("/simulator/partner-center/_control/faults", {"mode": "down"}, "application/json").status_code
        == 201
    )


# --- MS-RequestId replay ---


def test_repeated_request_id_replays_the_confirmation(pc, seeded):
    tenant, request_id = seeded["litware"], str(uuid.uuid4())
    first = pc.post(f"v1/customers/{tenant}/agreements", confirmation(), request_id=request_id)
    again = pc.post(f"v1/customers/{tenant}/agreements", confirmation(), request_id=request_id)
    assert (first.status_code, again.status_code) == (201, 201)  # not 600061: it is the same call
    assert again.json() == first.json()
    assert SimAgreement.objects.filter(customer__tenant_id=tenant).count() == 1


def test_repeated_request_id_creates_one_order(pc, seeded):
    tenant, request_id = seeded["adventure-works"], str(uuid.uuid4())
    first = pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=request_id)
    again = pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=request_id)
    assert again.status_code == 201 and again.json() == first.json()
    assert SimOrder.objects.filter(customer__tenant_id=tenant).count() == 1
    other = pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=str(uuid.uuid4()))
    assert other.json()["id"] != first.json()["id"]


def test_repeated_request_id_creates_one_customer(pc, seeded):
    from tests.simulator.test_commerce import new_customer_body

    request_id = str(uuid.uuid4())
    before = SimCustomer.objects.count()
    first = pc.post("v1/customers", new_customer_body(), request_id=request_id)
    again = pc.post("v1/customers", new_customer_body(), request_id=request_id)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert SimCustomer.objects.count() == before + 1


def test_repeated_request_id_replays_a_business_refusal(pc, seeded):
    tenant, request_id = seeded["litware"], str(uuid.uuid4())
    assert pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=request_id).status_code == 403
    pc.control("POST", f"customers/{tenant}/direct-signed", {"isSigned": True})
    # Microsoft: reset the id after any answer; the same id gets the same answer.
    assert pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=request_id).status_code == 403
    assert pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=str(uuid.uuid4())).status_code == 201


def test_repeated_request_id_replays_a_patch(pc, seeded):
    tenant = seeded["adventure-works"]
    sub_id = pc.post(f"v1/customers/{tenant}/orders", order_body()).json()["lineItems"][0]["subscriptionId"]
    path = f"v1/customers/{tenant}/subscriptions/{sub_id}"
    resource = pc.get(path).json()
    request_id = str(uuid.uuid4())
    first = pc.patch(path, {**resource, "quantity": 8}, request_id=request_id)
    again = pc.patch(path, {**resource, "quantity": 8}, request_id=request_id)
    assert (first.status_code, again.status_code) == (200, 200)  # not 2055: the same call
    assert again.json() == first.json()


def test_a_faulted_write_is_not_replayed(pc, seeded):
    tenant, request_id = seeded["adventure-works"], str(uuid.uuid4())
    pc.control("POST", "faults", {"mode": "error", "count": 1})
    assert pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=request_id).status_code == 500
    assert pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=request_id).status_code == 201


# --- Faults ---


def test_down_answers_503_with_a_gateway_page(pc, seeded):
    assert pc.control("POST", "faults", {"mode": "down"}).status_code == 201
    response = pc.get("v1/agreements", agreementType="*")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"Service Unavailable" in response.content
    assert pc.get("v1/agreements").status_code == 503  # no count: until cleared


def test_error_answers_the_given_status_with_800003(pc, seeded):
    pc.control("POST", "faults", {"mode": "error", "status": 502})
    response = pc.get("v1/agreements")
    assert response.status_code == 502
    assert response.json()["code"] == 800003


def test_error_defaults_to_500(pc, seeded):
    pc.control("POST", "faults", {"mode": "error"})
    assert pc.get("v1/agreements").status_code == 500


def test_throttle_answers_429_with_retry_after_and_microsofts_body(pc, seeded):
    pc.control("POST", "faults", {"mode": "throttle", "retry_after": 7})
    response = pc.get("v1/agreements")
    assert response.status_code == 429
    assert response["Retry-After"] == "7"
    assert response.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."}


def test_throttle_retry_after_defaults_to_one_second(pc, seeded):
    pc.control("POST", "faults", {"mode": "throttle"})
    assert pc.get("v1/agreements")["Retry-After"] == "1"


def test_slow_delays_then_answers_normally(pc, seeded):
    pc.control("POST", "faults", {"mode": "slow", "latency_ms": 300, "count": 1})
    started = time.monotonic()
    response = pc.get("v1/agreements")
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    started = time.monotonic()
    pc.get("v1/agreements")
    assert time.monotonic() - started < 0.3


def test_fault_count_is_exhausted_then_requests_succeed(pc, seeded):
    pc.control("POST", "faults", {"mode": "error", "count": 2})
    statuses = [pc.get("v1/agreements").status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert pc.control("GET", "faults").json()["fault"] is None


def test_fault_shows_its_remaining_count(pc, seeded):
    pc.control("POST", "faults", {"mode": "throttle", "count": 3, "paths": "v1/customers"})
    pc.get(f"v1/customers/{seeded['litware']}/agreements")
    fault = pc.control("GET", "faults").json()["fault"]
    assert fault == {
        "mode": "throttle",
        "count": 2,
        "latency_ms": 0,
        "retry_after": 1,
        "status": 500,
        "paths": "v1/customers",
    }


def test_fault_with_paths_affects_only_that_prefix(pc, seeded):
    pc.control("POST", "faults", {"mode": "error", "paths": "v1/customers", "count": 1})
    assert pc.get("v1/agreements").status_code == 200
    assert pc.get(f"v1/agreementtemplates/{MCA_TEMPLATE_ID}/document").status_code == 200
    assert pc.get(f"v1/customers/{seeded['litware']}/agreements").status_code == 500
    assert pc.get(f"v1/customers/{seeded['litware']}/agreements").status_code == 200


def test_a_star_in_fault_paths_stands_for_one_segment(pc, seeded):
    """Any customer's orders, not the customer's creation nor its agreements (the provisioning drill's fault)."""
    pc.control("POST", "faults", {"mode": "error", "paths": "v1/customers/*/orders"})
    tenant = seeded["adventure-works"]
    assert pc.post(f"v1/customers/{tenant}/orders", order_body(), request_id=str(uuid.uuid4())).status_code == 500
    assert pc.get(f"v1/customers/{tenant}/agreements").status_code == 200
    assert pc.get("v1/agreements").status_code == 200
    assert SimOrder.objects.count() == 0


def test_fault_paths_accepts_a_leading_slash(pc, seeded):
    pc.control("POST", "faults", {"mode": "error", "paths": "/v1/agreements"})
    assert pc.get("v1/agreements").status_code == 500
    assert pc.get(f"v1/customers/{seeded['litware']}/agreements").status_code == 200


def test_fault_comes_before_authentication(pc, seeded):
    pc.control("POST", "faults", {"mode": "down", "count": 1})
    assert pc.get("v1/agreements", token=None).status_code == 503


def test_delete_clears_faults_but_not_counts(pc, seeded):
    pc.control("POST", "faults", {"mode": "down"})
    pc.get("v1/agreements")
    assert pc.control("DELETE", "faults").status_code == 200
    assert pc.get("v1/agreements").status_code == 200
    assert calls(pc)["agreements"] == 2


def test_a_new_fault_replaces_the_previous_one(pc, seeded):
    pc.control("POST", "faults", {"mode": "down"})
    pc.control("POST", "faults", {"mode": "throttle", "count": 1})
    assert SimFault.objects.count() == 1
    assert pc.get("v1/agreements").status_code == 429
    assert pc.get("v1/agreements").status_code == 200


def test_control_endpoints_are_never_faulted(pc, seeded):
    pc.control("POST", "faults", {"mode": "down"})
    assert pc.control("GET", "faults").status_code == 200
    assert pc.control("POST", "templates", {"versionRank": 1}).status_code == 201


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"mode": "broken"}, "mode"),
        ({}, "mode"),
        ({"mode": "error", "status": 404}, "status"),
        ({"mode": "error", "status": "500"}, "status"),
        ({"mode": "error", "count": 0}, "count"),
        ({"mode": "slow", "latency_ms": -5}, "latency_ms"),
        ({"mode": "slow", "latency": 5}, "latency"),
        ({"mode": "throttle", "retry_after": 1.5}, "retry_after"),
        ({"mode": "down", "paths": 3}, "paths"),
    ],
)
def test_invalid_fault_is_400_with_a_clear_message(pc, seeded, body, needle):
    response = pc.control("POST", "faults", body)
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert pc.control("GET", "faults").json()["fault"] is None


def test_concurrent_requests_spend_a_counted_fault_exactly(seeded):
    from partner_center.simulator import faults

    fault = faults.set_fault(data={"mode": "error", "count": 2})
    taken = [faults.take_fault("v1/agreements") for _ in range(5)]
    assert sum(t is not None for t in taken) == 2
    fault.refresh_from_db()
    assert fault.remaining == 0


# --- Call counts ---


def test_calls_are_counted_per_endpoint_name(pc, seeded):
    tenant = seeded["adventure-works"]
    pc.get("v1/agreements")
    pc.get(f"v1/agreementtemplates/{MCA_TEMPLATE_ID}/document")
    pc.get(f"v1/customers/{tenant}/agreements")
    pc.get(f"v1/customers/{tenant}/agreements")
    pc.post(f"v1/customers/{seeded['litware']}/agreements", confirmation())
    pc.get(f"v1/customers/{tenant}/directSignedMicrosoftCustomerAgreementStatus")
    pc.post("v1/customers", {})
    sub_id = pc.post(f"v1/customers/{tenant}/orders", order_body()).json()["lineItems"][0]["subscriptionId"]
    pc.get(f"v1/customers/{tenant}/subscriptions/{sub_id}")
    assert calls(pc) == {
        "agreements": 1,
        "agreement_document": 1,
        "customer_agreements": 2,
        "confirm_acceptance": 1,
        "direct_signed_status": 1,
        "customers": 1,
        "orders": 1,
        "subscriptions": 1,
    }


def test_faulted_and_unauthenticated_requests_still_count(pc, seeded):
    pc.control("POST", "faults", {"mode": "throttle", "count": 1})
    pc.get("v1/agreements")
    pc.get("v1/agreements", token=None)
    assert calls(pc)["agreements"] == 2


def test_delete_calls_resets_counts(pc, seeded):
    pc.get("v1/agreements")
    response = pc.control("DELETE", "calls")
    assert response.status_code == 200
    assert set(response.json()["calls"].values()) == {0}
    assert calls(pc)["agreements"] == 0
