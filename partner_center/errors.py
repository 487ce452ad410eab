"""What can go wrong when talking to Partner Center, as a small hierarchy callers can catch by meaning.

- `PartnerCenterUnavailable`: no usable answer (connection error, timeout, 5xx after retries, or not called at all
  while the shared circuit is open). Try later.
  - `PartnerCenterThrottled`: 429; `retry_after` says how many seconds Microsoft asked us to wait.
- `PartnerCenterRejected`: Microsoft answered and said no (4xx with its error body): `code`, `description`.
  - `PartnerCenterNotFound`: 404 (e.g. unknown customer tenant, code 60003).
  - `McaAcceptanceRequired`: 403 with code 13605, a purchase refused for lack of MCA acceptance.
- `PartnerCenterBadResponse`: an answer we cannot read (malformed or unexpected JSON).
"""

from __future__ import annotations

from typing import Any

MCA_ACCEPTANCE_REQUIRED_CODE = "13605"
AGREEMENT_ALREADY_EXISTS_CODE = "600061"


class PartnerCenterError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str = "",
        correlation_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.request_id = request_id
        self.correlation_id = correlation_id


class PartnerCenterUnavailable(PartnerCenterError):
    """Partner Center could not be reached or kept failing within the retry budget.

    `timed_out` tells "no answer in time" (slow) from "answered that it is down" or "refused the connection".
    `held_back`: no call was made, Partner Center's shared health said no (`partner_center.health`: the circuit is
    open, or Microsoft's Retry-After pauses these calls); `retry_after` then says in how many seconds calls go again.
    """

    def __init__(
        self,
        message: str,
        *,
        timed_out: bool = False,
        held_back: bool = False,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.timed_out = timed_out
        self.held_back = held_back
        self.retry_after = retry_after


class PartnerCenterThrottled(PartnerCenterUnavailable):
    def __init__(self, message: str, *, retry_after: float | None, **kwargs: Any) -> None:
        super().__init__(message, retry_after=retry_after, **kwargs)


class PartnerCenterRejected(PartnerCenterError):
    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        description: str = "",
        raw: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.code = code
        self.description = description
        self.raw = raw or {}


class PartnerCenterNotFound(PartnerCenterRejected):
    pass


class McaAcceptanceRequired(PartnerCenterRejected):
    """403/13605: Partner Center refuses the purchase until the customer's MCA acceptance is known."""


class PartnerCenterBadResponse(PartnerCenterError):
    """The answer could not be read: not JSON, or JSON without what the call needs."""
