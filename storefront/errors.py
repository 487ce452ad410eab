"""Styled 403 and 404 pages: in a white-label store they keep the reseller's brand; elsewhere they show the
links the user's role can use (config/urls.py points handler403/handler404 here)."""

from __future__ import annotations

import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from storefront.templatetags.storefront_tags import store_of_request

logger = logging.getLogger(__name__)


# What an error page says when it cannot be styled (its brand and links come from the database).
PLAIN = {
    403: "<!doctype html><title>403 Forbidden</title><h1>Forbidden</h1><p>You may not open this page.</p>",
    404: "<!doctype html><title>404 Not Found</title><h1>Not Found</h1><p>There is no such page.</p>",
}


def _page(request: HttpRequest, template: str, status: int) -> HttpResponse:
    try:
        store = store_of_request({"request": request})
        return render(request, template, {"error_store": store}, status=status)
    except DatabaseError:
        # An error page must never fail in turn: without the database (down, not migrated) it is a plain page.
        logger.warning("The styled %s page needs the database, which failed: answering with a plain one", status)
        return HttpResponse(PLAIN[status], status=status)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, "403.html", 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, "404.html", 404)
