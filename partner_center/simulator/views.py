"""HTTP face of the simulator: Partner Center's paths and shapes, and the `_control/` API for tests and drills.

Every Partner Center view goes through `endpoint`, which does what Partner Center's front door does before the
business logic: count the call, apply an injected fault, demand a bearer token, echo the request ids, and replay
the first answer to a repeated MS-RequestId. The views themselves only parse and call `services`.
"""

from __future__ import annotations

import json
import math
import threading
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from partner_center.simulator import faults, services, tokens, wire
from partner_center.simulator.faults import ActiveFault
from partner_center.simulator.models import (
    AttestationStatus,
    FaultMode,
    SimAttestation,
    SimIdempotencyRecord,
)
from partner_center.simulator.wire import SimulatorError

Answer = tuple[int, Any]
Handler = Callable[..., Answer]

# Which answers a repeated MS-RequestId replays: successes and business refusals, as Microsoft describes
# ("success or business failure"); a 429 or 5xx is transient, so a retry with the same id is processed anew.
_REPLAYABLE = range(200, 500)

_GATEWAY_PAGE = (
    "<html><head><title>503 Service Unavailable</title></head>"
    "<body><h1>Service Unavailable</h1><p>The service is temporarily unavailable. Please try again later.</p>"
    "</body></html>"
)


class _LostRace(Exception):
    """Another request with the same MS-RequestId committed first."""


def _json_body(request: HttpRequest) -> Any:
    if not request.body:
        raise wire.invalid("A JSON request body is required.")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise wire.invalid("The request body is not valid JSON.") from None


def _json(status: int, body: Any, ids: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(body, status=status, safe=False)
    for header, value in (ids or {}).items():
        response[header] = value
    return response


def _relative_path(request: HttpRequest) -> str:
    root = reverse("pc_simulator:root")
    return request.path_info.removeprefix(root)


def _bearer_token(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _fault_response(fault: ActiveFault, ids: dict[str, str]) -> HttpResponse | None:
    if fault.mode == FaultMode.SLOW:
        time.sleep(fault.latency_ms / 1000)
        return None
    if fault.mode == FaultMode.DOWN:
        # What a gateway in front of Partner Center sends: an HTML page, no JSON and no request ids.
        return HttpResponse(_GATEWAY_PAGE, status=503, content_type="text/html; charset=utf-8")
    if fault.mode == FaultMode.THROTTLE:
        body = {
            "statusCode": 429,
            "message": f"Rate limit is exceeded. Try again in {fault.retry_after} seconds.",
        }
        response = _json(429, body, ids)
        response["Retry-After"] = str(fault.retry_after)
        return response
    return _json(fault.status, wire.error_body(wire.UNEXPECTED_ERROR, "An unexpected error occurred."), ids)


def _answer(handler: Handler, request: HttpRequest, kwargs: dict[str, Any]) -> Answer:
    try:
        return handler(request, **kwargs)
    except SimulatorError as error:
        return error.status, error.body()


def _idempotent_answer(handler: Handler, request: HttpRequest, kwargs: dict[str, Any], key: dict) -> Answer:
    stored = SimIdempotencyRecord.objects.filter(**key).first()
    if stored is not None:
        return stored.status, stored.body
    try:
        with transaction.atomic():
            status, body = _answer(handler, request, kwargs)
            if status in _REPLAYABLE:
                try:
                    with transaction.atomic():
                        SimIdempotencyRecord.objects.create(**key, status=status, body=body)
                except IntegrityError:
                    # Roll back what this request created: the first request's answer is the answer.
                    raise _LostRace from None
    except _LostRace:
        stored = SimIdempotencyRecord.objects.get(**key)
        return stored.status, stored.body
    return status, body


class _InFlight:
    """How many simulator requests are being answered right now in this process.

    A client that gave up on a "slow" answer leaves the simulator still working on it; tests wait for that work
    to end (`wait_until_idle`) before the next test reuses the database.
    """

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *exc: object) -> None:
        with self._idle:
            self._count -= 1
            if self._count == 0:
                self._idle.notify_all()

    def wait_until_idle(self, timeout: float) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._count == 0, timeout=timeout)


in_flight = _InFlight()


def endpoint(names: dict[str, str]) -> Callable[[Handler], Callable[..., HttpResponse]]:
    """Wrap a Partner Center handler; `names` maps each allowed method to its call-count name."""

    def decorate(handler: Handler) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            with in_flight:
                return answer(request, **kwargs)

        def answer(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            ids = {
                "MS-RequestId": request.headers.get("MS-RequestId") or str(uuid.uuid4()),
                "MS-CorrelationId": request.headers.get("MS-CorrelationId") or str(uuid.uuid4()),
            }
            name = names.get(request.method or "")
            if name is None:
                response = _json(405, wire.error_body(wire.INVALID_INPUT, "Method not allowed."), ids)
                response["Allow"] = ", ".join(names)
                return response
            # The limit first, then the count: the count is a database write whose time varies with the load, and
            # the window must see the moment the call arrived, as Microsoft's does.
            wait = faults.over_rate_limit()
            faults.count_call(name)
            if wait is not None:
                return _fault_response(ActiveFault(FaultMode.THROTTLE, 0, max(1, math.ceil(wait)), 429), ids)
            fault = faults.take_fault(_relative_path(request))
            if fault is not None and (response := _fault_response(fault, ids)) is not None:
                return response
            token = _bearer_token(request)
            if not token:
                response = _json(
                    401,
                    wire.error_body(wire.TOKEN_MISSING, "Authorization token is missing or invalid."),
                    ids,
                )
                response["WWW-Authenticate"] = "Bearer"
                return response
            request.pc_token = token  # type: ignore[attr-defined]
            if request.method in {"POST", "PATCH"} and request.headers.get("MS-RequestId"):
                key = {"request_id": ids["MS-RequestId"], "method": request.method, "path": request.path_info}
                status, body = _idempotent_answer(handler, request, kwargs, key)
            else:
                status, body = _answer(handler, request, kwargs)
            return _json(status, body, ids)

        return view

    return decorate


# --- Partner Center endpoints ----------------------------------------------------------------------------


@endpoint({"GET": "agreements"})
def agreements(request: HttpRequest) -> Answer:
    templates = services.list_templates(request.GET.get("agreementType"))
    return 200, wire.collection([wire.template_json(t) for t in templates])


@endpoint({"GET": "agreement_document"})
def agreement_document(request: HttpRequest, template_id: str) -> Answer:
    document = services.agreement_document(
        template_id=template_id,
        language=request.GET.get("language"),
        country=request.GET.get("country"),
        documents_base=documents_base(request),
    )
    return 200, document


def documents_base(request: HttpRequest) -> str:
    """Where this simulator serves agreement documents, as the caller reached it."""
    return request.build_absolute_uri(reverse("pc_simulator:root")) + "agreements"


@require_http_methods(["GET"])
def agreement_document_page(
    request: HttpRequest, template_id: str, country: str, language: str, download: bool = False
) -> HttpResponse:
    """The stand-in agreement document (Microsoft's page in real life): the display link, or the download link
    while its `se` time has not passed (Microsoft's download links expire after 5 minutes)."""
    try:
        template = services.document_template(template_id)
    except SimulatorError:
        return render(request, "pc_simulator/document_missing.html", status=404)
    if download and services.document_link_expired(request.GET.get("se", "")):
        return render(request, "pc_simulator/document_missing.html", {"expired": True}, status=410)
    context = {"template": template, "country": country, "language": language}
    response = render(request, "pc_simulator/agreement_document.html", context)
    if download:
        response["Content-Disposition"] = f'inline; filename="microsoft-customer-agreement-{country}-{language}.html"'
    return response


@endpoint({"GET": "customer_agreements", "POST": "confirm_acceptance"})
def customer_agreements(request: HttpRequest, tenant_id: str) -> Answer:
    if request.method == "POST":
        data = _json_body(request)
        # One path, two bodies: the enhanced flow's {attestationId, templateId, type}, or the legacy confirmation.
        if services.is_attestation_agreement(data):
            agreement = services.create_agreement_from_attestation(tenant_id=tenant_id, data=data)
        else:
            agreement = services.confirm_acceptance(
                tenant_id=tenant_id,
                data=data,
                user_id=services.user_id_for_token(request.pc_token),  # type: ignore[attr-defined]
            )
        return 201, wire.agreement_json(agreement)
    items = services.list_customer_agreements(tenant_id=tenant_id, agreement_type=request.GET.get("agreementType"))
    return 200, wire.collection([wire.agreement_json(a) for a in items])


@endpoint({"GET": "direct_signed_status"})
def direct_signed_status(request: HttpRequest, tenant_id: str) -> Answer:
    return 200, {"isSigned": services.direct_signed_status(tenant_id)}


@endpoint({"POST": "customers"})
def customers(request: HttpRequest) -> Answer:
    customer, credentials = services.create_customer(data=_json_body(request))
    return 201, wire.customer_json(customer, user_name=credentials["userName"], password=credentials["password"])


@endpoint({"POST": "orders"})
def orders(request: HttpRequest, tenant_id: str) -> Answer:
    order, subscriptions = services.create_order(tenant_id=tenant_id, data=_json_body(request))
    return 201, wire.order_json(order, subscriptions)


@endpoint({"GET": "subscriptions", "PATCH": "subscriptions"})
def subscription(request: HttpRequest, tenant_id: str, subscription_id: str) -> Answer:
    if request.method == "PATCH":
        sub = services.update_subscription(
            tenant_id=tenant_id, subscription_id=subscription_id, data=_json_body(request)
        )
    else:
        sub = services.get_subscription(tenant_id=tenant_id, subscription_id=subscription_id)
    return 200, wire.subscription_json(sub)


def _acceptance_url(request: HttpRequest, attestation: SimAttestation) -> str:
    # Absolute, built from the request: the link leaves this system (e-mailed or shown to the signatory).
    path = reverse("pc_simulator:attestation-accept", args=[str(attestation.attestation_id)])
    return request.build_absolute_uri(path)


def _attestation_answer(request: HttpRequest, attestation: SimAttestation) -> dict[str, Any]:
    return wire.attestation_json(
        attestation,
        status=services.effective_status(attestation),
        acceptance_url=_acceptance_url(request, attestation),
    )


@endpoint({"POST": "create_enhanced_attestation"})
def enhanced_attestations(request: HttpRequest) -> Answer:
    attestation = services.create_attestation(data=_json_body(request))
    return 201, _attestation_answer(request, attestation)


@endpoint({"GET": "enhanced_attestation", "DELETE": "cancel_enhanced_attestation"})
def enhanced_attestation(request: HttpRequest, attestation_id: str) -> Answer:
    if request.method == "DELETE":
        return 200, _attestation_answer(request, services.cancel_attestation(attestation_id=attestation_id))
    return 200, _attestation_answer(request, services.get_attestation(attestation_id))


# --- The hosted acceptance page (the simulator's stand-in for Microsoft's) -------------------------------


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: a forwarded header could be anything the caller likes, and this is evidence.
    return request.META.get("REMOTE_ADDR") or None


# CSRF-exempt: the page stands for Microsoft's, which a signatory reaches from an e-mailed link with no session
# here; the action stays a POST so a link preview or crawler following the URL cannot accept.
@csrf_exempt
@xframe_options_sameorigin  # the storefront shows it inside its checkout (Microsoft's page: a link fallback)
@require_http_methods(["GET", "POST"])
def attestation_accept_page(request: HttpRequest, attestation_id: str) -> HttpResponse:
    try:
        attestation = services.get_attestation(attestation_id)
    except SimulatorError:
        return render(request, "pc_simulator/attestation_missing.html", status=404)
    just_accepted = False
    if request.method == "POST" and attestation.status != AttestationStatus.ACCEPTED:
        try:
            attestation = services.accept_attestation(
                attestation_id=attestation_id,
                ip=_client_ip(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
            just_accepted = True
        except SimulatorError:
            attestation.refresh_from_db()
    status = services.effective_status(attestation)
    # Microsoft's page speaks the signatory's language (the attestation's), not the browser's.
    translation.activate(_page_language(attestation.language))
    context = {
        "attestation": attestation,
        "status": status,
        "just_accepted": just_accepted,
        "agreement_link": _agreement_page_link(request, attestation),
    }
    if status == AttestationStatus.EXPIRED:
        return render(request, "pc_simulator/attestation_expired.html", context, status=410)
    if status == AttestationStatus.CANCELLED:
        return render(request, "pc_simulator/attestation_superseded.html", context, status=410)
    if status == AttestationStatus.ACCEPTED:
        return render(request, "pc_simulator/attestation_accepted.html", context)
    return render(request, "pc_simulator/attestation_accept.html", context)


def _page_language(tag: str) -> str:
    """The site's closest language to the signatory's BCP-47 tag (de-DE → de), English otherwise."""
    try:
        return translation.get_supported_language_variant((tag or "").lower())
    except LookupError:
        return "en"


def _agreement_page_link(request: HttpRequest, attestation: SimAttestation) -> str:
    """The current MCA's document in the signatory's country and language, served by this simulator (Microsoft's
    short link when no template is published)."""
    template_id = services.current_mca_template_id()
    if template_id is None:
        return services.current_mca_link()
    try:
        document = services.agreement_document(
            template_id=template_id,
            language=attestation.language,
            country=attestation.country,
            documents_base=documents_base(request),
        )
    except SimulatorError:
        return services.current_mca_link()
    return document["displayUri"]


# --- Control API (no auth: the simulator never runs in production) --------------------------------------


def control(methods: set[str]) -> Callable[[Handler], Callable[..., HttpResponse]]:
    def decorate(handler: Handler) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = JsonResponse({"error": f"Use {', '.join(sorted(methods))}."}, status=405)
                response["Allow"] = ", ".join(sorted(methods))
                return response
            try:
                status, body = handler(request, **kwargs)
            except SimulatorError as error:
                return JsonResponse({"error": error.description}, status=error.status)
            if status == 204:
                return HttpResponse(status=204)
            return JsonResponse(body, status=status, safe=False)

        return view

    return decorate


@control({"GET"})
def root(request: HttpRequest) -> Answer:
    return 200, {"simulator": "Partner Center", "control": f"{request.path}_control/faults"}


@control({"GET", "POST", "DELETE"})
def control_faults(request: HttpRequest) -> Answer:
    if request.method == "POST":
        fault = faults.set_fault(data=_json_body(request))
        return 201, {"fault": faults.fault_json(fault)}
    if request.method == "DELETE":
        faults.clear_faults()
        return 200, {"fault": None}
    return 200, {"fault": faults.fault_json(faults.current_fault()), "calls": faults.call_counts()}


@csrf_exempt
@require_http_methods(["POST"])
def token(request: HttpRequest, tenant_id: str) -> HttpResponse:
    """Entra ID's token endpoint, played (partner_center.simulator.tokens)."""
    status, body = tokens.issue(tenant_id, request.POST.dict())
    return JsonResponse(body, status=status)


@control({"GET", "POST"})
def control_tokens(request: HttpRequest) -> Answer:
    if request.method == "POST":
        return 200, tokens.set_modes(_json_body(request))
    return 200, tokens.modes()


@control({"GET", "DELETE"})
def control_calls(request: HttpRequest) -> Answer:
    if request.method == "DELETE":
        faults.reset_calls()
    return 200, {"calls": faults.call_counts()}


@control({"POST"})
def control_templates(request: HttpRequest) -> Answer:
    template = services.publish_template(data=_json_body(request))
    return 201, wire.template_json(template)


@control({"POST"})
def control_customers(request: HttpRequest) -> Answer:
    customer, created = services.upsert_customer(data=_json_body(request))
    return (201 if created else 200), _control_customer_json(customer)


@control({"POST"})
def control_direct_signed(request: HttpRequest, tenant_id: str) -> Answer:
    customer = services.set_direct_signed(tenant_id=tenant_id, data=_json_body(request))
    return 200, _control_customer_json(customer)


def _control_customer_json(customer: Any) -> dict[str, Any]:
    return {
        "tenantId": str(customer.tenant_id),
        "companyName": customer.company_name,
        "domain": customer.domain,
        "country": customer.country,
        "directSigned": customer.direct_signed,
    }


@control({"GET"})
def control_attestations(request: HttpRequest) -> Answer:
    attestations = services.list_attestations(email=request.GET.get("email"))
    return 200, {"items": [_control_attestation_json(request, a) for a in attestations]}


@control({"POST"})
def control_attestation_accept(request: HttpRequest, attestation_id: str) -> Answer:
    attestation = services.accept_attestation(attestation_id=attestation_id)
    return 200, _control_attestation_json(request, attestation)


@control({"POST"})
def control_attestation_expire(request: HttpRequest, attestation_id: str) -> Answer:
    attestation = services.expire_attestation(attestation_id=attestation_id)
    return 200, _control_attestation_json(request, attestation)


def _control_attestation_json(request: HttpRequest, attestation: SimAttestation) -> dict[str, Any]:
    agreement = attestation.agreement
    return {
        **_attestation_answer(request, attestation),
        "acceptedIp": attestation.accepted_ip,
        "acceptedUserAgent": attestation.accepted_user_agent,
        "agreementTenantId": str(agreement.customer.tenant_id) if agreement else None,
    }
