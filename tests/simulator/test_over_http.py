"""The simulator over real HTTP (live server), through the `pc_simulator` fixture other tests use."""

from __future__ import annotations

import requests
from django.conf import settings

from demo.simulator import seed_simulator


def _get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, headers={"Authorization": "Bearer over-http"}, timeout=10, **kwargs)


def test_throttle_once_then_ok_and_counts_over_http(pc_simulator):
    seed_simulator()
    assert pc_simulator.base_url == settings.PARTNER_CENTER_BASE_URL
    url = f"{pc_simulator.base_url}/v1/agreements"
    pc_simulator.set_fault(mode="throttle", count=1, retry_after=2)

    throttled = _get(url, params={"agreementType": "MicrosoftCustomerAgreement"})
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json()["statusCode"] == 429

    ok = _get(url, params={"agreementType": "MicrosoftCustomerAgreement"})
    assert ok.status_code == 200
    assert ok.json()["totalCount"] == 1
    assert pc_simulator.calls()["agreements"] == 2

    pc_simulator.reset_calls()
    assert pc_simulator.calls()["agreements"] == 0


def test_control_helpers_over_http(pc_simulator):
    seed_simulator()
    tenant = "5d1e7f6a-0c4b-4b8e-9a3d-2f1e0d9c8b7a"
    assert pc_simulator.add_customer(tenant, company_name="Over HTTP")["tenantId"] == tenant
    status_url = f"{pc_simulator.base_url}/v1/customers/{tenant}/directSignedMicrosoftCustomerAgreementStatus"
    assert _get(status_url).json() == {"isSigned": False}
    pc_simulator.set_direct_signed(tenant, True)
    assert _get(status_url).json() == {"isSigned": True}
    template = pc_simulator.publish_template(1)
    assert template["versionRank"] == 1
    pc_simulator.set_fault(mode="down", paths="v1/customers")
    down = _get(status_url)
    assert down.status_code == 503 and "Service Unavailable" in down.text
    pc_simulator.clear_faults()
    assert _get(status_url).status_code == 200
