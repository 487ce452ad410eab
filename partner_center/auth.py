"""Access tokens for Partner Center, behind one small interface.

Partner Center takes two kinds of token (see `types.TokenKind`): app-only (client credentials) and App+User
(the "Secure Application Model": a partner admin consented once with MFA, we keep the refresh token and redeem
it for the delegated `user_impersonation` scope). The client only ever calls `provider.token()`; in simulator
mode both providers are `StaticTokenProvider`, so every other code path is the one used against Microsoft.

Tokens, the client secret and the refresh token are never logged, and never appear in an error message.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol, runtime_checkable

import msal

from .errors import PartnerCenterUnavailable

APP_ONLY_SCOPE = "https://api.partnercenter.microsoft.com/.default"
USER_IMPERSONATION_SCOPE = "https://api.partnercenter.microsoft.com/user_impersonation"

# Refresh this long before Entra ID's expiry, so a token cannot expire between `token()` and Microsoft reading it
# (a call may spend its whole retry budget, 20 s by default, on retries).
EXPIRY_MARGIN_SECONDS = 300


@runtime_checkable
class TokenProvider(Protocol):
    def token(self) -> str:
        """A bearer token valid for at least the next few minutes; raises PartnerCenterUnavailable."""
        ...


class StaticTokenProvider:
    """A fixed token: the simulator's, or a test's."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "StaticTokenProvider(<token>)"


def _redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _msal_failure(kind: str, result: dict[str, Any] | None, *secrets: str) -> PartnerCenterUnavailable:
    # Entra ID's error and AADSTS codes are what an operator needs (invalid_client, AADSTS700082 = refresh token
    # expired...); the description is redacted all the same, in case an identity provider ever echoes input.
    result = result or {}
    error = str(result.get("error") or "no token in the answer")
    codes = ",".join(str(c) for c in result.get("error_codes") or [])
    description = _redact(str(result.get("error_description") or "").split("\n", 1)[0], *secrets)
    detail = f"{error}" + (f" (AADSTS {codes})" if codes else "") + (f": {description}" if description else "")
    return PartnerCenterUnavailable(f"Could not get a Partner Center {kind} token: {detail}")


class _MsalProvider:
    """Shared plumbing: the MSAL application is built on first use, because building it already talks to
    Entra ID (tenant discovery) and a client must be constructible without network."""

    kind = ""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        authority_host: str = "https://login.microsoftonline.com",
        timeout: float | tuple[float, float] | None = None,
    ) -> None:
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._timeout = timeout
        self._app: msal.ClientApplication | None = None
        # One token request at a time per provider: concurrent callers wait for the first one's token instead of
        # each asking Entra ID (which throttles too).
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tenant_id={self._tenant_id!r}, client_id={self._client_id!r})"

    def _secrets(self) -> tuple[str, ...]:
        return (self._client_secret,)

    def _build_app(self) -> msal.ClientApplication:
        return msal.ConfidentialClientApplication(
            self._client_id,
            client_credential=self._client_secret,
            authority=self._authority,
            timeout=self._timeout,
        )

    def _application(self) -> msal.ClientApplication:
        if self._app is None:
            self._app = self._build_app()
        return self._app

    def _check_configured(self) -> None:
        missing = [
            name
            for name, value in (
                ("PARTNER_CENTER_TENANT_ID", self._tenant_id),
                ("PARTNER_CENTER_CLIENT_ID", self._client_id),
            )
            if not value
        ]
        if missing:
            raise PartnerCenterUnavailable(f"Partner Center {self.kind} token: {', '.join(missing)} not set.")

    def token(self) -> str:
        self._check_configured()
        with self._lock:
            try:
                return self._acquire()
            except PartnerCenterUnavailable:
                raise
            except Exception as exc:  # MSAL raises ValueError on discovery, requests errors on the network
                message = _redact(str(exc), *self._secrets())
                raise PartnerCenterUnavailable(
                    f"Could not get a Partner Center {self.kind} token: {type(exc).__name__}: {message}"
                ) from None  # `from None`: the chained traceback could carry request bodies with the secret

    def _acquire(self) -> str:
        raise NotImplementedError


class AppOnlyTokenProvider(_MsalProvider):
    """Client credentials for the partner tenant. MSAL (>= 1.23) answers from its own token cache until the
    token is near expiry, so repeated calls cost one token request per token lifetime."""

    kind = "app-only"

    def _check_configured(self) -> None:
        super()._check_configured()
        if not self._client_secret:
            raise PartnerCenterUnavailable("Partner Center app-only token: PARTNER_CENTER_CLIENT_SECRET not set.")

    def _acquire(self) -> str:
        result = self._application().acquire_token_for_client(scopes=[APP_ONLY_SCOPE])
        if not result or "access_token" not in result:
            raise _msal_failure(self.kind, result, *self._secrets())
        return str(result["access_token"])


class AppUserTokenProvider(_MsalProvider):
    """App+User token from the stored Secure Application Model refresh token.

    `acquire_token_by_refresh_token` always asks Entra ID, so the access token is kept here until
    EXPIRY_MARGIN_SECONDS before it expires. Entra ID may rotate the refresh token: the newest one is used for the
    rest of the process's life (the stored one stays valid for its own lifetime; `partner_center_login` renews it).
    Without a client secret the app is treated as a public client, which is how `partner_center_login` got the
    refresh token.
    """

    kind = "App+User"

    def __init__(self, *, refresh_token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._refresh_token = refresh_token
        self._access_token = ""
        self._expires_at = 0.0

    def _secrets(self) -> tuple[str, ...]:
        return (self._client_secret, self._refresh_token)

    def _build_app(self) -> msal.ClientApplication:
        if self._client_secret:
            return super()._build_app()
        return msal.PublicClientApplication(self._client_id, authority=self._authority, timeout=self._timeout)

    def _check_configured(self) -> None:
        super()._check_configured()
        if not self._refresh_token:
            raise PartnerCenterUnavailable(
                "Partner Center App+User token: PARTNER_CENTER_REFRESH_TOKEN not set "
                "(obtain one with `manage.py partner_center_login`)."
            )

    def _acquire(self) -> str:
        if self._access_token and time.monotonic() < self._expires_at:
            return self._access_token
        result = self._application().acquire_token_by_refresh_token(
            self._refresh_token, scopes=[USER_IMPERSONATION_SCOPE]
        )
        if not result or "access_token" not in result:
            raise _msal_failure(self.kind, result, *self._secrets())
        try:
            expires_in = float(result.get("expires_in", 0))
        except (TypeError, ValueError):
            expires_in = 0.0
        self._access_token = str(result["access_token"])
        self._expires_at = time.monotonic() + max(expires_in - EXPIRY_MARGIN_SECONDS, 0.0)
        if result.get("refresh_token"):
            self._refresh_token = str(result["refresh_token"])
        return self._access_token


class SimulatorTokenProvider:
    """Tokens from the simulator's stand-in for Entra ID's token endpoint (`{simulator}/login/{tenant}/oauth2/v2.0/
    token`), the OAuth 2.0 form post MSAL sends: client credentials for app-only, a refresh token for App+User. The
    simulator can be told to issue tokens with or without MFA, or to refuse (`_control/tokens`), so the token
    readiness check (partner_center.readiness) runs its real code path in tests and the demo. MSAL itself cannot
    be pointed at it (it insists on an https authority)."""

    def __init__(self, token_url: str, *, kind: str, grant_type: str, scope: str, refresh_token: str = "") -> None:
        self._url = token_url
        self.kind = kind
        self._form = {"grant_type": grant_type, "scope": scope, "client_id": "simulator-client"}
        if refresh_token:
            self._form["refresh_token"] = refresh_token

    def __repr__(self) -> str:
        return f"SimulatorTokenProvider({self.kind})"

    def token(self) -> str:
        import requests

        try:
            response = requests.post(self._url, data=self._form, timeout=5, allow_redirects=False)
            result = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise PartnerCenterUnavailable(
                f"Could not get a Partner Center {self.kind} token: {type(exc).__name__}"
            ) from None
        if not isinstance(result, dict) or "access_token" not in result:
            raise _msal_failure(self.kind, result if isinstance(result, dict) else None)
        return str(result["access_token"])
