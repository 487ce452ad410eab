"""Basic auth for the token endpoint, watched by django-axes like every other sign-in.

DRF's BasicAuthentication hands its own Request to `authenticate`; on a failure django-axes then reads the body
through it, so a body the API cannot parse (multipart) answered 415 before the failure was counted, while the
right password still answered 201: a guessing oracle outside the lockout. Django's own request goes to
`authenticate` instead, and a locked user name gets a message that says so, not "Invalid username/password"."""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from rest_framework import exceptions
from rest_framework.authentication import BasicAuthentication

from api.errors import AccountLocked
from config.lockout import lockout_message


class LockoutAwareBasicAuthentication(BasicAuthentication):
    def authenticate_credentials(self, userid, password, request=None):
        django_request = getattr(request, "_request", request)
        credentials = {get_user_model().USERNAME_FIELD: userid, "password": password}
        user = authenticate(request=django_request, **credentials)
        if user is None:
            if getattr(django_request, "axes_locked_out", False):
                raise AccountLocked(lockout_message(userid))
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        return (user, None)
