"""The simulator's stand-in for Entra ID's token endpoint (what `partner_center.readiness` asks in simulator mode).

It answers the OAuth 2.0 form post as Entra ID does: `client_credentials` gives an app-only token, `refresh_token`
an App+User token whose `amr` claim says how the partner admin signed in. Tests and the demo choose, through
`_control/tokens`, whether App+User tokens carry MFA ("mfa", the default), do not ("no_mfa"), or whether either
kind is refused ("fail", with Entra ID's error body). The tokens are unsigned JWTs (`alg: none`): the simulator's
Partner Center accepts any bearer token, and only their claims are read.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from django.core.cache import cache

from partner_center.simulator.wire import invalid

AUDIENCE = "https://api.partnercenter.microsoft.com"
_MODES_KEY = "pc_simulator:token_modes:v1"
MODES = {"app_only": ("ok", "fail"), "app_user": ("mfa", "no_mfa", "fail")}
DEFAULT_MODES = {"app_only": "ok", "app_user": "mfa"}
# What Entra ID answers for the usual failures (AADSTS codes an operator looks up).
_REFUSALS = {
    "client_credentials": (
        401,
        {
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
            "error_codes": [7000215],
        },
    ),
    "refresh_token": (
        400,
        {
            "error": "invalid_grant",
            "error_description": "AADSTS700082: The refresh token has expired due to inactivity.",
            "error_codes": [700082],
        },
    ),
}


def modes() -> dict[str, str]:
    return {**DEFAULT_MODES, **(cache.get(_MODES_KEY) or {})}


def set_modes(data: Any) -> dict[str, str]:
    if not isinstance(data, dict) or set(data) - set(MODES):
        raise invalid(f"Give any of {', '.join(MODES)}.")
    for kind, mode in data.items():
        if mode not in MODES[kind]:
            raise invalid(f"{kind} must be one of {', '.join(MODES[kind])}; got {mode!r}.")
    chosen = {**modes(), **data}
    cache.set(_MODES_KEY, chosen, None)
    return chosen


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _jwt(claims: dict[str, Any]) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


def issue(tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Entra ID's answer to a token request: (status, body)."""
    grant = form.get("grant_type", "")
    if grant not in _REFUSALS:
        return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: unsupported grant."}
    kind = "app_only" if grant == "client_credentials" else "app_user"
    mode = modes()[kind]
    if mode == "fail":
        return _REFUSALS[grant]
    now = int(time.time())
    claims: dict[str, Any] = {"aud": AUDIENCE, "tid": tenant, "iat": now, "exp": now + 3600, "oid": str(uuid.uuid4())}
    if kind == "app_user":
        claims["amr"] = ["pwd", "mfa"] if mode == "mfa" else ["pwd"]
        claims["scp"] = "user_impersonation"
    body = {"token_type": "Bearer", "expires_in": 3599, "access_token": _jwt(claims)}
    if kind == "app_user":
        body["refresh_token"] = form.get("refresh_token", "")
    return 200, body
