"""Where and why a confirmation happens (R8): built once per request by the channel, carried into the log."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

from django.http import HttpRequest

from bss.choices import Channel, Operation

# Idempotency keys come from clients (a form's hidden field, an API header): bounded, printable.
MAX_IDEMPOTENCY_KEY = 100


@dataclass(frozen=True)
class ConfirmationContext:
    """Where and why a confirmation happens (R8): the channel, the request, and what triggered it."""

    channel: Channel | str
    host: str = ""
    ip_address: str = ""
    user_agent: str = ""
    order_number: str = ""
    subscription_ref: str = ""
    operation: Operation | str = ""
    # A repeated submit with the same key returns the first outcome instead of writing a second record.
    idempotency_key: str | None = None
    # The template and document the person was shown; looked up (cached) when not given.
    template_id: str = ""
    template_version_rank: int | None = None
    document_link: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, channel: Channel | str, **trigger: Any) -> ConfirmationContext:
        """The context of a web or API request: host, client address and user agent from the request, the
        idempotency key from the `Idempotency-Key` header or the form's `idempotency_key` field, and what
        triggered the confirmation (`order_number`, `subscription_ref`, `operation`) from the caller."""
        key = request.headers.get("Idempotency-Key") or (
            request.POST.get("idempotency_key") if request.method == "POST" else None
        )
        return cls(
            channel=channel,
            host=request.get_host() if _host_allowed(request) else "",
            ip_address=normalised_ip(request.META.get("REMOTE_ADDR", "")),
            user_agent=request.headers.get("User-Agent", "")[:500],
            idempotency_key=(key or "").strip()[:MAX_IDEMPOTENCY_KEY] or None,
            **trigger,
        )

    def with_trigger(self, **trigger: Any) -> ConfirmationContext:
        return replace(self, **trigger)


def _host_allowed(request: HttpRequest) -> bool:
    try:
        request.get_host()
    except Exception:  # DisallowedHost: the request would not have reached a view in production
        return False
    return True


def normalised_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip())) if value else ""
    except ValueError:
        return ""
