"""Live-mode tokens through MSAL, with Entra ID's endpoints stubbed by `responses`: tokens are acquired once and
reused, failures become PartnerCenterUnavailable, and no secret or token reaches the logs."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest
import responses
from django.core.cache import cache

from partner_center import client as client_module
from partner_center.auth import (
    APP_ONLY_SCOPE,
    USER_IMPERSONATION_SCOPE,
    AppOnlyTokenProvider,
    AppUserTokenProvider,
    StaticTokenProvider,
    TokenProvider,
)
from partner_center.client import get_client, reset_call_counts, transport
from partner_center.errors import PartnerCenterUnavailable

BASE = "https://api.partnercenter.example.test"
AUTHORITY = "https://login.microsoftonline.com"
PARTNER_TENANT = "0f4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
CUSTOMER = "4d3cf487-70f6-4f0b-b2f0-6e2c5e9e1b9a"
SUBSCRIPTION = "a4c1340d-6911-4758-bba3-0c4c6007d161"
CLIENT_ID = "7e8f9a0b-1c2d-4e3f-9a5b-6c7d8e9f0a1b"
CLIENT_SECRET = "client-secret-value-never-log"
REFRESH_TOKEN = "refresh-token-value-never-log"
APP_ONLY_ACCESS = "app-only-access-token-never-log"
APP_USER_ACCESS = "app-user-access-token-never-log"
TOKEN_URL = f"{AUTHORITY}/{PARTNER_TENANT}/oauth2/v2.0/token"
SUBSCRIPTION_SAMPLE = {
    "id": SUBSCRIPTION,
    "offerId": "CFQ7TTC0LF8Q:0001:CFQ7TTC0LF8S",
    "quantity": 5,
    "status": "active",
    "attributes": {"etag": "etag-1", "objectType": "Subscription"},
}


def stub_discovery(mock, tenant: str = PARTNER_TENANT) -> None:
    """What MSAL reads besides the token endpoint: the tenant's OpenID configuration and, after some errors,
    Entra ID's instance discovery."""
    mock.get(f"{AUTHORITY}/{tenant}/v2.0/.well-known/openid-configuration", json=openid_configuration(tenant))
    mock.get(
        f"{AUTHORITY}/common/discovery/instance",
        json={
            "tenant_discovery_endpoint": f"{AUTHORITY}/{tenant}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [
                {
                    "preferred_network": "login.microsoftonline.com",
                    "preferred_cache": "login.windows.net",
                    "aliases": ["login.microsoftonline.com", "login.windows.net", "login.microsoft.com"],
                }
            ],
        },
    )


def openid_configuration(tenant: str) -> dict:
    return {
        "issuer": f"{AUTHORITY}/{tenant}/v2.0",
        "authorization_endpoint": f"{AUTHORITY}/{tenant}/oauth2/v2.0/authorize",
        "token_endpoint": f"{AUTHORITY}/{tenant}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{AUTHORITY}/{tenant}/oauth2/v2.0/devicecode",
    }


@pytest.fixture(autouse=True)
def _live(settings, monkeypatch):
    settings.PARTNER_CENTER_MODE = "live"
    settings.PARTNER_CENTER_BASE_URL = BASE
    settings.PARTNER_CENTER_TENANT_ID = PARTNER_TENANT
    settings.PARTNER_CENTER_CLIENT_ID = CLIENT_ID
    settings.PARTNER_CENTER_CLIENT_SECRET = CLIENT_SECRET
    settings.PARTNER_CENTER_REFRESH_TOKEN = REFRESH_TOKEN
    settings.PARTNER_CENTER_AUTHORITY_HOST = AUTHORITY
    settings.PARTNER_CENTER_RETRY_BUDGET = 20.0
    monkeypatch.setattr(transport, "_sleep", lambda seconds: None)
    # A fresh process-wide client per test: MSAL's token cache must not carry tokens from one test to the next.
    monkeypatch.setattr(client_module, "_client", None)
    cache.clear()
    reset_call_counts()
    yield
    cache.clear()


def token_answer(access_token: str, expires_in: int = 3599, refresh_token: str | None = None) -> dict:
    answer = {"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in}
    answer["access_token"] = access_token
    if refresh_token:
        answer["refresh_token"] = refresh_token
    return answer


@pytest.fixture
def entra():
    """Entra ID: tenant discovery plus a token endpoint answering by grant type."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stub_discovery(mock)
        mock.state = {"user_expires_in": 3599}

        def token(request):
            form = parse_qs(request.body if isinstance(request.body, str) else request.body.decode())
            grant = form["grant_type"][0]
            if grant == "client_credentials":
                assert form["client_secret"] == [CLIENT_SECRET]
                assert APP_ONLY_SCOPE in form["scope"][0]
                return 200, {}, _json(token_answer(APP_ONLY_ACCESS))
            if grant == "refresh_token":
                assert form["refresh_token"] == [REFRESH_TOKEN]
                assert USER_IMPERSONATION_SCOPE in form["scope"][0]
                return 200, {}, _json(token_answer(APP_USER_ACCESS, mock.state["user_expires_in"]))
            return 400, {}, _json({"error": "unsupported_grant_type"})

        mock.add_callback(responses.POST, TOKEN_URL, callback=token, content_type="application/json")
        yield mock


def _json(value: dict) -> str:
    import json

    return json.dumps(value)


def token_posts(mock) -> list[dict]:
    return [
        parse_qs(c.request.body if isinstance(c.request.body, str) else c.request.body.decode())
        for c in mock.calls
        if c.request.method == "POST" and c.request.url == TOKEN_URL
    ]


def test_from_settings_uses_msal_providers_in_live_mode_and_static_in_simulator(settings):
    live = get_client()
    assert isinstance(live._tokens["app_only"], AppOnlyTokenProvider)
    assert isinstance(live._tokens["app_user"], AppUserTokenProvider)

    settings.PARTNER_CENTER_MODE = "simulator"
    simulated = get_client()
    assert isinstance(simulated._tokens["app_only"], StaticTokenProvider)
    assert simulated._tokens["app_user"].token() == "simulator-token"
    assert isinstance(simulated._tokens["app_user"], TokenProvider)


def test_app_only_token_is_acquired_once_and_reused(entra):
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/subscriptions/{SUBSCRIPTION}", json=SUBSCRIPTION_SAMPLE)
    pc = get_client()

    for _ in range(3):
        pc.get_subscription(CUSTOMER, SUBSCRIPTION)

    posts = token_posts(entra)
    assert [p["grant_type"][0] for p in posts] == ["client_credentials"]
    api_calls = [c for c in entra.calls if c.request.url.startswith(BASE)]
    assert len(api_calls) == 3
    assert {c.request.headers["Authorization"] for c in api_calls} == {f"Bearer {APP_ONLY_ACCESS}"}


def test_app_user_token_is_redeemed_once_from_the_refresh_token_and_reused(entra):
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus", json={"isSigned": False})
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/agreements", json={"totalCount": 0, "items": []})
    pc = get_client()

    pc.get_direct_signed_status(CUSTOMER)
    pc.get_customer_agreements(CUSTOMER)
    pc.get_direct_signed_status(CUSTOMER)

    posts = token_posts(entra)
    assert [p["grant_type"][0] for p in posts] == ["refresh_token"]
    api_calls = [c for c in entra.calls if c.request.url.startswith(BASE)]
    assert {c.request.headers["Authorization"] for c in api_calls} == {f"Bearer {APP_USER_ACCESS}"}


def test_app_user_token_near_expiry_is_redeemed_again(entra):
    entra.state["user_expires_in"] = 60  # inside the refresh margin: never reused
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus", json={"isSigned": False})
    pc = get_client()

    pc.get_direct_signed_status(CUSTOMER)
    pc.get_direct_signed_status(CUSTOMER)

    assert [p["grant_type"][0] for p in token_posts(entra)] == ["refresh_token", "refresh_token"]


def test_both_token_kinds_in_one_process_cost_one_token_request_each(entra):
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/subscriptions/{SUBSCRIPTION}", json=SUBSCRIPTION_SAMPLE)
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus", json={"isSigned": False})
    pc = get_client()

    for _ in range(2):
        pc.get_subscription(CUSTOMER, SUBSCRIPTION)
        pc.get_direct_signed_status(CUSTOMER)

    assert sorted(p["grant_type"][0] for p in token_posts(entra)) == ["client_credentials", "refresh_token"]


def test_refused_token_is_unavailable_without_the_secret_and_no_api_call(settings, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        stub_discovery(mock)
        mock.post(
            TOKEN_URL,
            status=401,
            json={
                "error": "invalid_client",
                "error_description": f"AADSTS7000215: Invalid client secret provided. {CLIENT_SECRET}\r\nTrace",
                "error_codes": [7000215],
            },
        )
        pc = get_client()
        with pytest.raises(PartnerCenterUnavailable) as caught:
            pc.get_subscription(CUSTOMER, SUBSCRIPTION)

        assert not [c for c in mock.calls if c.request.url.startswith(BASE)]
    message = str(caught.value)
    assert "invalid_client" in message
    assert "7000215" in message
    assert CLIENT_SECRET not in message
    assert CLIENT_SECRET not in caplog.text


def test_unreachable_authority_is_unavailable(settings):
    # Nothing registered: every request to Entra ID fails with a connection error.
    with responses.RequestsMock(assert_all_requests_are_fired=False), pytest.raises(PartnerCenterUnavailable) as caught:
        get_client().get_subscription(CUSTOMER, SUBSCRIPTION)
    assert CLIENT_SECRET not in str(caught.value)


def test_missing_refresh_token_points_to_the_login_command(settings):
    settings.PARTNER_CENTER_REFRESH_TOKEN = ""

    with pytest.raises(PartnerCenterUnavailable) as caught:
        get_client().get_direct_signed_status(CUSTOMER)

    assert "partner_center_login" in str(caught.value)


def test_missing_client_secret_is_unavailable_for_app_only_calls(settings):
    settings.PARTNER_CENTER_CLIENT_SECRET = ""

    with pytest.raises(PartnerCenterUnavailable) as caught:
        get_client().get_subscription(CUSTOMER, SUBSCRIPTION)

    assert "PARTNER_CENTER_CLIENT_SECRET" in str(caught.value)


def test_secrets_and_tokens_never_reach_the_logs(entra, caplog):
    caplog.set_level(logging.DEBUG)
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/subscriptions/{SUBSCRIPTION}", json=SUBSCRIPTION_SAMPLE)
    entra.get(f"{BASE}/v1/customers/{CUSTOMER}/directSignedMicrosoftCustomerAgreementStatus", json={"isSigned": True})
    pc = get_client()

    pc.get_subscription(CUSTOMER, SUBSCRIPTION)
    pc.get_direct_signed_status(CUSTOMER)

    assert any(r.name == "partner_center" for r in caplog.records)  # the logs were really captured
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, APP_ONLY_ACCESS, APP_USER_ACCESS):
        assert secret not in caplog.text
    for secret in (CLIENT_SECRET, REFRESH_TOKEN):
        assert secret not in repr(pc._tokens)
