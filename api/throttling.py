"""Throttles per user and per token, counted in the default cache (Redis in production).

Rates are read from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] at each request (DRF binds them at import), so a
deployment or a test changes them through settings alone.
"""

from __future__ import annotations

import hashlib

from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class _RatesFromSettings:
    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class PerUserThrottle(_RatesFromSettings, UserRateThrottle):
    """Every call of one user, whatever session or token it comes with."""

    scope = "user"

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)


class PerTokenThrottle(_RatesFromSettings, SimpleRateThrottle):
    """Every call made with one API token (a leaked or runaway integration is held back on its own)."""

    scope = "token"

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.auth, Token):
            return None
        # The cache never holds the token itself.
        ident = hashlib.sha256(request.auth.key.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}
