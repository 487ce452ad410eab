"""Project-wide middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from bss.choices import Role
from bss.models import Membership

# The REST API answers machines: its messages stay in one language, whoever calls it.
API_PREFIX = "/api/"


class AccountLanguageMiddleware:
    """A customer's user sees the site in its account's language (Account.language), whatever its browser says;
    everyone else keeps LocaleMiddleware's choice (the browser's Accept-Language among settings.LANGUAGES)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return self.get_response(request)
        membership = Membership.of_with_account(request.user)
        if membership is not None and membership.role == Role.CUSTOMER and membership.account_id:
            language = membership.account.interface_language
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
