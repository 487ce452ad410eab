"""What a locked-out sign-in answers (django-axes' AXES_LOCKOUT_CALLABLE): a page that says why and what to do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKED_STATUS = 429


def cooloff_text() -> str:
    """The lock's length as people say it: "1 hour", "30 minutes"."""
    minutes = round(timedelta(hours=settings.AXES_COOLOFF_TIME).total_seconds() / 60)
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def lockout_message(username: str) -> str:
    return (
        f"Too many failed sign-ins for “{username}”: signing in with this user name is locked for {cooloff_text()}. "
        "If this was not you, tell your administrator; staff can unlock it at once."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    if original_response is not None and original_response.get("Content-Type", "").startswith(
        "application/problem+json"
    ):
        return original_response  # the API said it already, as problem details (api.authentication)
    username = str((credentials or {}).get("username") or request.POST.get("username", ""))
    return render(
        request,
        "registration/locked_out.html",
        {"message": lockout_message(username), "username": username},
        status=LOCKED_STATUS,
    )
