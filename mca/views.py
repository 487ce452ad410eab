import math
import re
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from partner_center.client import get_client
from partner_center.errors import PartnerCenterError

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")


def _trusted_document_link(uri: str) -> bool:
    """Redirect only to an HTTPS link, or to the Partner Center we are configured to talk to (the simulator, which
    serves its documents under its own address, plain HTTP on a laptop)."""
    return uri.startswith("https://") or uri.startswith(settings.PARTNER_CENTER_BASE_URL.rstrip("/") + "/")


@login_required
@require_GET
def agreement_document(request: HttpRequest, template_id: str) -> HttpResponse:
    """The agreement's download link, fetched when a person clicks it: Microsoft's link expires after five
    minutes, so it is never stored or cached — the form links here instead."""
    country, language = request.GET.get("country", "US"), request.GET.get("language", "en-US")
    if not _COUNTRY.match(country) or not _LANGUAGE.match(language):
        return HttpResponseBadRequest("country must be an upper-case ISO code (e.g. US) and language a tag like en-US.")
    try:
        document = get_client().get_agreement_document(template_id, language, country, use_cache=False)
    except PartnerCenterError:
        return render(request, "mca/document_unavailable.html", status=503)
    if not _trusted_document_link(document.download_uri):
        return render(request, "mca/document_unavailable.html", status=503)
    return HttpResponseRedirect(document.download_uri)


# --- the log's public witness endpoints (/.well-known/mca-log/, mca.witness): no login, nothing about customers ---
#
# Each request lists or reads the checkpoint storage, and links/ reads up to 10,000 rows: unthrottled, anyone could
# keep the database and the bucket busy. They are throttled per client address with DRF's SimpleRateThrottle (the
# API's throttling, counted in the default cache, Redis in production), at the rates REST_FRAMEWORK's
# DEFAULT_THROTTLE_RATES names "mca-log" and "mca-log-links"; over the rate: 429 with Retry-After.


class WitnessThrottle(SimpleRateThrottle):
    """Requests per client address in one scope; the rate is read from the settings at each request."""

    def __init__(self, scope: str) -> None:
        self.scope = scope
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_ident(self, request) -> str:
        # X-Forwarded-For only behind the proxies NUM_PROXIES counts: anyone can send that header, and a fresh value
        # per request would be a fresh allowance.
        if api_settings.NUM_PROXIES is None:
            return request.META.get("REMOTE_ADDR", "")
        return super().get_ident(request)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def throttled(scope: str) -> Callable:
    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            throttle = WitnessThrottle(scope)
            if throttle.rate and not throttle.allow_request(request, None):
                retry_after = max(1, math.ceil(throttle.wait() or 1))
                response = JsonResponse(
                    {"detail": f"Too many requests to the log's public endpoints: retry after {retry_after} s."},
                    status=429,
                )
                response["Retry-After"] = str(retry_after)
                return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorate


@require_GET
@throttled("mca-log")
def log_publication(request: HttpRequest) -> JsonResponse:
    from mca.witness import publication

    return JsonResponse(publication())


@require_GET
@throttled("mca-log")
def log_checkpoints(request: HttpRequest) -> JsonResponse:
    from mca.witness import checkpoint_names

    return JsonResponse(checkpoint_names(), safe=False)


@require_GET
@throttled("mca-log")
def log_checkpoint(request: HttpRequest, name: str) -> JsonResponse:
    from mca.witness import checkpoint_file

    data = checkpoint_file(name)
    if data is None:
        raise Http404("no such checkpoint")
    return JsonResponse(data)


@require_GET
@throttled("mca-log-links")
def log_links(request: HttpRequest) -> HttpResponse:
    from mca.witness import links

    try:
        found = links(after=int(request.GET.get("after", "")), to=int(request.GET.get("to", "")))
    except ValueError as error:
        return HttpResponseBadRequest(f"after and to: whole numbers, {error}")
    return JsonResponse(found, safe=False)
