"""Multi-factor sign-in (django-otp, TOTP) for the people who act on a customer's behalf.

MCA_REQUIRE_MFA (on in production, off in the local demo) makes a second factor mandatory for admins and staff, and
for every user who may confirm acceptance for someone else: BSS users with the confirm permission and reseller
users (a customer's own user confirms only for its own company and is not asked). Until such a user has proved a
code in this session, every page sends them to /accounts/mfa/ (enrol an authenticator app, or enter its code) and
the API answers 403 `mfa_required`; the API's token endpoint wants the code in `X-OTP-Token`."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from bss.choices import Role
from bss.models import Membership

MFA_REQUIRED_CODE = "mfa_required"
OTP_HEADER = "X-OTP-Token"  # the API token endpoint's second factor (api.views.TokenView)
# What an unverified user may still reach: the second-factor page itself, signing out, static files, and the
# Partner Center simulator (it stands for Microsoft's own pages).
_OPEN_PREFIXES = ("/accounts/mfa/", "/accounts/logout/", "/static/", "/simulator/")


def mfa_required_for(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this user must prove a second factor (when MCA_REQUIRE_MFA is on)."""
    if not settings.MCA_REQUIRE_MFA or not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser:
        return True
    membership = Membership.of(user)
    if membership is None or membership.role == Role.CUSTOMER:
        return False
    return user.has_perm("bss.confirm_mca_acceptance")


def is_verified(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Set by django-otp's middleware: a device verified this session."""
    return bool(getattr(user, "is_verified", lambda: False)())


def _open(path: str) -> bool:
    return path.startswith(_OPEN_PREFIXES) or path.endswith("/sign-out/")


class MfaRequiredMiddleware:
    """After django-otp's OTPMiddleware: an unverified user who needs a second factor gets no further."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if not settings.MCA_REQUIRE_MFA or _open(request.path) or is_verified(user) or not mfa_required_for(user):
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse(
                {
                    "type": f"urn:mca:problem:{MFA_REQUIRED_CODE}",
                    "title": "Second factor required",
                    "status": 403,
                    "detail": "Prove your second factor at /accounts/mfa/ first, or use an API token.",
                    "code": MFA_REQUIRED_CODE,
                },
                status=403,
                content_type="application/problem+json",
            )
        return redirect(f"{reverse('mfa')}?{urlencode({'next': request.get_full_path()})}")
