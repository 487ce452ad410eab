"""Helpers for the simulator's in-process wire tests (Django's test client, real database)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from demo.accounts import demo_tenant_id
from demo.simulator import MCA_TEMPLATE_ID, seed_simulator

ROOT = "/simulator/partner-center"


class PartnerCenterCaller:
    """Calls the simulator like a Partner Center client would (bearer token, JSON, request ids)."""

    def __init__(self, client) -> None:
        self.client = client

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "test-token",
        request_id: str | None = None,
        **query: str,
    ):
        headers = {"MS-CorrelationId": str(uuid.uuid4())}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if request_id is not None:
            headers["MS-RequestId"] = request_id
        url = f"{ROOT}/{path}"
        if method == "GET":
            return self.client.get(url, query, headers=headers)
        return self.client.generic(
            method, url, data=b"" if body is None else _dumps(body), content_type="application/json", headers=headers
        )

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs):
        return self.call("POST", path, body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs):
        return self.call("PATCH", path, body, **kwargs)

    def control(self, method: str, path: str, body: Any = None):
        url = f"{ROOT}/_control/{path}"
        data = b"" if body is None else _dumps(body)
        return self.client.generic(method, url, data=data, content_type="application/json")


def _dumps(body: Any) -> bytes:
    import json

    return json.dumps(body).encode()


@pytest.fixture
def pc(client) -> PartnerCenterCaller:
    return PartnerCenterCaller(client)


@pytest.fixture
def seeded(db) -> dict[str, str]:
    """The simulator's demo state; returns tenant ids by demo key."""
    seed_simulator()
    keys = ["adventure-works", "litware", "alpine-ski-house", "coho-winery", "fourth-coffee"]
    return {key: str(demo_tenant_id(key)) for key in keys}


def confirmation(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "primaryContact": {
            "firstName": "Lisa",
            "lastName": "Andrews",
            "email": "lisa@litware.example",
            "phoneNumber": "+442079460103",
        },
        "templateId": str(MCA_TEMPLATE_ID),
        "dateAgreed": "2025-11-01T00:00:00.000Z",
        "type": "MicrosoftCustomerAgreement",
    }
    body.update(overrides)
    return body


def order_body(quantity: Any = 5, offer_id: str = "CFQ7TTC0LDPB:0001") -> dict[str, Any]:
    return {
        "billingCycle": "annual",
        "lineItems": [{"lineItemNumber": 0, "offerId": offer_id, "quantity": quantity, "friendlyName": "M365 BS"}],
    }
