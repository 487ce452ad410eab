"""Styled 403 and 404 pages: in a white-label store they keep the reseller's brand; elsewhere they show the
links the user's role can use (config/urls.py points handler403/handler404 here)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from storefront.templatetags.storefront_tags import store_of_request


def _page(request: HttpRequest, template: str, status: int) -> HttpResponse:
    store = store_of_request({"request": request})
    return render(request, template, {"error_store": store}, status=status)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, "403.html", 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, "404.html", 404)
