"""The Partner Center facade: every call to Microsoft (or to the simulator, which speaks the same wire format)
goes through `PartnerCenterClient`. Plain dataclasses from `partner_center.types` come out; errors from
`partner_center.errors` are raised.

Split by concern: `transport` sends a call (tokens, retries, budget, error mapping, call counts, cache helpers);
`agreements` and `commerce` hold the endpoint methods, as mixins the client is composed of. Wire facts (paths,
bodies, headers, error codes) follow /work/shared/partner-center.md; Microsoft's loose JSON is read in
`partner_center.parsing`.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from django.conf import settings

from partner_center.auth import AppOnlyTokenProvider, AppUserTokenProvider, StaticTokenProvider, TokenProvider
from partner_center.client.agreements import AgreementsMixin
from partner_center.client.commerce import ETAG_STALE_CODE, CommerceMixin
from partner_center.client.transport import MAX_ATTEMPTS, call_counts, logger, reset_call_counts
from partner_center.ratelimit import from_settings as rate_limit_from_settings

__all__ = [
    "ETAG_STALE_CODE",
    "MAX_ATTEMPTS",
    "SIMULATOR_TOKEN",
    "PartnerCenterClient",
    "call_counts",
    "get_client",
    "logger",
    "reset_call_counts",
]

SIMULATOR_TOKEN = "simulator-token"


class PartnerCenterClient(AgreementsMixin, CommerceMixin):
    @classmethod
    def from_settings(cls) -> PartnerCenterClient:
        """The client settings describe. Simulator mode uses a static token for both kinds; everything else is
        the code path used against Microsoft."""
        timeout = (settings.PARTNER_CENTER_CONNECT_TIMEOUT, settings.PARTNER_CENTER_READ_TIMEOUT)
        app_tokens: TokenProvider
        user_tokens: TokenProvider
        if settings.PARTNER_CENTER_MODE == "simulator":
            app_tokens = user_tokens = StaticTokenProvider(SIMULATOR_TOKEN)
        else:
            common: dict[str, Any] = {
                "tenant_id": settings.PARTNER_CENTER_TENANT_ID,
                "client_id": settings.PARTNER_CENTER_CLIENT_ID,
                "client_secret": settings.PARTNER_CENTER_CLIENT_SECRET,
                "authority_host": settings.PARTNER_CENTER_AUTHORITY_HOST,
                "timeout": timeout,
            }
            app_tokens = AppOnlyTokenProvider(**common)
            user_tokens = AppUserTokenProvider(refresh_token=settings.PARTNER_CENTER_REFRESH_TOKEN, **common)
        base_url = settings.PARTNER_CENTER_BASE_URL
        return cls(
            base_url=base_url,
            app_tokens=app_tokens,
            user_tokens=user_tokens,
            connect_timeout=settings.PARTNER_CENTER_CONNECT_TIMEOUT,
            read_timeout=settings.PARTNER_CENTER_READ_TIMEOUT,
            retry_budget=settings.PARTNER_CENTER_RETRY_BUDGET,
            cache_ttl=settings.PARTNER_CENTER_CACHE_TTL,
            breaker_failures=settings.PARTNER_CENTER_BREAKER_FAILURES,
            breaker_open_seconds=settings.PARTNER_CENTER_BREAKER_OPEN_SECONDS,
            breaker_first_open_seconds=settings.PARTNER_CENTER_BREAKER_FIRST_OPEN_SECONDS,
            rate_limit=rate_limit_from_settings(hashlib.sha256(base_url.rstrip("/").encode()).hexdigest()[:16]),
        )


# --- the process-wide client ------------------------------------------------------------------------------------

_client: PartnerCenterClient | None = None
_client_key = ""
_client_lock = threading.Lock()


def _settings_fingerprint() -> str:
    # A digest, so the module does not keep its own copy of the secret and refresh token.
    values = [
        getattr(settings, name, "")
        for name in (
            "PARTNER_CENTER_MODE",
            "PARTNER_CENTER_BASE_URL",
            "PARTNER_CENTER_TENANT_ID",
            "PARTNER_CENTER_CLIENT_ID",
            "PARTNER_CENTER_CLIENT_SECRET",
            "PARTNER_CENTER_REFRESH_TOKEN",
            "PARTNER_CENTER_AUTHORITY_HOST",
            "PARTNER_CENTER_CONNECT_TIMEOUT",
            "PARTNER_CENTER_READ_TIMEOUT",
            "PARTNER_CENTER_RETRY_BUDGET",
            "PARTNER_CENTER_CACHE_TTL",
            "PARTNER_CENTER_BREAKER_FAILURES",
            "PARTNER_CENTER_BREAKER_OPEN_SECONDS",
            "PARTNER_CENTER_BREAKER_FIRST_OPEN_SECONDS",
            "PARTNER_CENTER_RATE_LIMIT",
            "PARTNER_CENTER_RATE_LIMIT_MARGIN",
            "PARTNER_CENTER_RATE_LIMIT_STORAGE",
        )
    ]
    return hashlib.sha256(repr(values).encode()).hexdigest()


def get_client() -> PartnerCenterClient:
    """The process-wide client (one HTTP session, one token cache), rebuilt when the Partner Center settings
    change - tests point PARTNER_CENTER_BASE_URL at a different server per test."""
    global _client, _client_key
    key = _settings_fingerprint()
    with _client_lock:
        if _client is None or key != _client_key:
            _client = PartnerCenterClient.from_settings()
            _client_key = key
        return _client
