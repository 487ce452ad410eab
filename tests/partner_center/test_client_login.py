"""`manage.py partner_center_login`: the device-code sign-in that yields the App+User refresh token.
Entra ID is stubbed with `responses`."""

from __future__ import annotations

import logging
from io import StringIO
from urllib.parse import parse_qs

import pytest
import responses
from django.core.management import CommandError, call_command

from partner_center.auth import USER_IMPERSONATION_SCOPE

AUTHORITY = "https://login.microsoftonline.com"
TENANT = "0f4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
CLIENT_ID = "7e8f9a0b-1c2d-4e3f-9a5b-6c7d8e9f0a1b"
REFRESH_TOKEN = "0.AAAA-refresh-token-from-device-flow"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.PARTNER_CENTER_CLIENT_ID = CLIENT_ID
    settings.PARTNER_CENTER_TENANT_ID = TENANT
    settings.PARTNER_CENTER_AUTHORITY_HOST = AUTHORITY


@pytest.fixture
def entra():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        base = f"{AUTHORITY}/{TENANT}"
        mock.get(
            f"{base}/v2.0/.well-known/openid-configuration",
            json={
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            },
        )
        mock.post(
            f"{base}/oauth2/v2.0/devicecode",
            json={
                "device_code": "device-code-1",
                "user_code": "ABCD-EFGH",
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 5,
                "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin "
                "and enter the code ABCD-EFGH to authenticate.",
            },
        )
        yield mock


def form(call) -> dict[str, list[str]]:
    body = call.request.body
    return parse_qs(body if isinstance(body, str) else body.decode())


def test_refuses_to_run_without_a_client_id(settings):
    settings.PARTNER_CENTER_CLIENT_ID = ""

    with pytest.raises(CommandError, match="PARTNER_CENTER_CLIENT_ID"):
        call_command("partner_center_login", stdout=StringIO())


def test_device_flow_prints_instructions_and_the_refresh_token_to_store(entra, caplog):
    caplog.set_level(logging.DEBUG)
    entra.post(
        f"{AUTHORITY}/{TENANT}/oauth2/v2.0/token",
        json={
            "token_type": "Bearer",
            "scope": USER_IMPERSONATION_SCOPE,
            "expires_in": 3599,
            "access_token": "access-token-1",
            "refresh_token": REFRESH_TOKEN,
        },
    )
    out = StringIO()

    call_command("partner_center_login", stdout=out)

    output = out.getvalue()
    assert "https://microsoft.com/devicelogin" in output
    assert "ABCD-EFGH" in output
    assert f"PARTNER_CENTER_REFRESH_TOKEN={REFRESH_TOKEN}" in output
    assert "environment variable" in output
    assert REFRESH_TOKEN not in caplog.text

    device_call = next(c for c in entra.calls if c.request.url.endswith("/devicecode"))
    assert USER_IMPERSONATION_SCOPE in form(device_call)["scope"][0]
    assert "offline_access" in form(device_call)["scope"][0]
    token_call = next(c for c in entra.calls if c.request.url.endswith("/token"))
    assert form(token_call)["grant_type"] == ["urn:ietf:params:oauth:grant-type:device_code"]
    assert form(token_call)["device_code"] == ["device-code-1"]


def test_a_refused_sign_in_is_a_command_error(entra):
    entra.post(
        f"{AUTHORITY}/{TENANT}/oauth2/v2.0/token",
        status=400,
        json={"error": "access_denied", "error_description": "AADSTS70000: The user denied the request."},
    )

    with pytest.raises(CommandError, match="access_denied"):
        call_command("partner_center_login", stdout=StringIO())
