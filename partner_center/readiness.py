"""Token readiness (issue 19, item 7): can the app-only and the App+User tokens be obtained, and does the App+User
token carry MFA, before a checkout depends on them?

From 2026-04-01 Microsoft requires every App+User call to carry MFA: Entra ID says so in the access token's `amr`
claim (authentication methods: ["pwd", "mfa"]). A refresh token obtained by a partner admin who signed in without
MFA still redeems, but its tokens lack "mfa" and Partner Center refuses them; the check says so before a sale.

`check_tokens()` asks each provider for a token as a call would (live: the client's MSAL providers; simulator mode:
the simulator's token endpoint, which can issue tokens with or without MFA, or refuse) and reads the App+User
token's claims (no signature check: it is our own token, straight from the token endpoint, read for one claim).
The result is kept in the cache for every process (`partner_center_check`, and beat every
PARTNER_CENTER_TOKEN_CHECK_SECONDS); the BSS banner only reads it (`cached_readiness`): no token call per page view.
No token and no secret ever appears in the result.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache

from partner_center.auth import APP_ONLY_SCOPE, USER_IMPERSONATION_SCOPE, SimulatorTokenProvider, TokenProvider
from partner_center.errors import PartnerCenterError
from partner_center.types import TokenKind

logger = logging.getLogger("partner_center")

CACHE_KEY = "partner_center:token_readiness:v1"
LABELS = {TokenKind.APP_ONLY: "App-only token", TokenKind.APP_USER: "App+User token"}
SIMULATOR_REFRESH_TOKEN = "simulator-refresh-token"  # the simulator accepts any; never a real secret


@dataclass(frozen=True)
class TokenCheck:
    kind: str  # a TokenKind
    obtained: bool
    mfa: bool | None = None  # App+User only: whether its `amr` claim says "mfa"
    problem: str = ""  # why not obtained (Entra ID's error code and sentence, redacted), or the MFA problem

    @property
    def ok(self) -> bool:
        return self.obtained and self.mfa is not False

    @property
    def line(self) -> str:
        label = LABELS[TokenKind(self.kind)]
        if not self.obtained:
            return f"{label}: NOT obtained - {self.problem}"
        if self.mfa is None:
            return f"{label}: obtained"
        if self.mfa:
            return f"{label}: obtained, carries MFA"
        return f"{label}: obtained, WITHOUT MFA - {self.problem}"


@dataclass(frozen=True)
class TokenReadiness:
    checked_at: datetime
    mode: str
    checks: tuple[TokenCheck, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def lines(self) -> list[str]:
        return [check.line for check in self.checks]

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "mode": self.mode,
            "checks": [asdict(check) for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenReadiness:
        return cls(
            checked_at=datetime.fromisoformat(data["checked_at"]),
            mode=data["mode"],
            checks=tuple(TokenCheck(**check) for check in data["checks"]),
        )


NO_MFA = (
    "the refresh token was obtained without MFA; Partner Center refuses App+User calls without it since "
    "2026-04-01: sign in again with MFA (manage.py partner_center_login) and store the new refresh token"
)


def simulator_token_url() -> str:
    tenant = settings.PARTNER_CENTER_TENANT_ID or "simulator"
    return f"{settings.PARTNER_CENTER_BASE_URL.rstrip('/')}/login/{tenant}/oauth2/v2.0/token"


def _providers() -> dict[TokenKind, TokenProvider]:
    if settings.PARTNER_CENTER_MODE == "simulator":
        url = simulator_token_url()
        return {
            TokenKind.APP_ONLY: SimulatorTokenProvider(
                url, kind="app-only", grant_type="client_credentials", scope=APP_ONLY_SCOPE
            ),
            TokenKind.APP_USER: SimulatorTokenProvider(
                url,
                kind="App+User",
                grant_type="refresh_token",
                scope=USER_IMPERSONATION_SCOPE,
                refresh_token=SIMULATOR_REFRESH_TOKEN,
            ),
        }
    from partner_center.client import get_client

    client = get_client()
    return {kind: client.token_provider(kind) for kind in TokenKind}


def token_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT access token, unverified ({} when it is not a JWT)."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def carries_mfa(token: str) -> bool:
    amr = token_claims(token).get("amr") or []
    return isinstance(amr, list) and "mfa" in amr


def check_tokens() -> TokenReadiness:
    """Ask for each token now, and remember the result for every process."""
    checks = []
    for kind, provider in _providers().items():
        try:
            token = provider.token()
        except PartnerCenterError as error:
            checks.append(TokenCheck(kind=str(kind), obtained=False, problem=str(error)))
            continue
        if kind == TokenKind.APP_USER:
            mfa = carries_mfa(token)
            checks.append(TokenCheck(kind=str(kind), obtained=True, mfa=mfa, problem="" if mfa else NO_MFA))
        else:
            checks.append(TokenCheck(kind=str(kind), obtained=True))
    readiness = TokenReadiness(checked_at=datetime.now(UTC), mode=settings.PARTNER_CENTER_MODE, checks=tuple(checks))
    try:
        cache.set(CACHE_KEY, readiness.as_dict(), int(max(settings.PARTNER_CENTER_TOKEN_CHECK_SECONDS, 60) * 2))
    except Exception:
        logger.warning("Could not keep the token readiness in the cache", exc_info=True)
    if not readiness.ok:
        logger.warning("Partner Center tokens not ready: %s", "; ".join(readiness.lines()))
    return readiness


def cached_readiness() -> TokenReadiness | None:
    """The last check, from the cache (no token call); None when none was made recently."""
    try:
        data = cache.get(CACHE_KEY)
        return TokenReadiness.from_dict(data) if data else None
    except Exception:
        logger.warning("Could not read the token readiness", exc_info=True)
        return None
