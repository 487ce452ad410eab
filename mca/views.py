import re

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

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


@require_GET
def log_publication(request: HttpRequest) -> JsonResponse:
    from mca.witness import publication

    return JsonResponse(publication())


@require_GET
def log_checkpoints(request: HttpRequest) -> JsonResponse:
    from mca.witness import checkpoint_names

    return JsonResponse(checkpoint_names(), safe=False)


@require_GET
def log_checkpoint(request: HttpRequest, name: str) -> JsonResponse:
    from mca.witness import checkpoint_file

    data = checkpoint_file(name)
    if data is None:
        raise Http404("no such checkpoint")
    return JsonResponse(data)


@require_GET
def log_links(request: HttpRequest) -> HttpResponse:
    from mca.witness import links

    try:
        found = links(after=int(request.GET.get("after", "")), to=int(request.GET.get("to", "")))
    except ValueError as error:
        return HttpResponseBadRequest(f"after and to: whole numbers, {error}")
    return JsonResponse(found, safe=False)
