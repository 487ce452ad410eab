"""The Partner Center facade: every call to Microsoft (or to the simulator, which speaks the same wire format)
goes through `PartnerCenterClient`. Plain dataclasses from `types` come out; errors from `errors` are raised.

Wire facts (paths, bodies, headers, error codes) follow /work/shared/partner-center.md; Microsoft's loose JSON is
read in `parsing`. Retries use tenacity so the policy - what is retried, how long to wait, when to give up - is
declared in one place rather than spread through a hand-written loop:

- retried: connection errors, timeouts, 5xx and 429; never another 4xx (Microsoft answered and said no);
- wait: Retry-After when Microsoft sends it, else exponential backoff with full jitter;
- give up: when the call's time budget would be exceeded (including sleeping for Retry-After: then
  PartnerCenterThrottled is raised at once, instead of sleeping past the budget) or after MAX_ATTEMPTS.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
import tenacity
from django.conf import settings
from django.core.cache import cache

from . import parsing
from .auth import AppOnlyTokenProvider, AppUserTokenProvider, StaticTokenProvider, TokenProvider
from .errors import (
    AGREEMENT_ALREADY_EXISTS_CODE,
    MCA_ACCEPTANCE_REQUIRED_CODE,
    McaAcceptanceRequired,
    PartnerCenterBadResponse,
    PartnerCenterError,
    PartnerCenterNotFound,
    PartnerCenterRejected,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)
from .types import (
    MCA,
    AgreementContact,
    AgreementDocument,
    AgreementTemplate,
    ConfirmationResult,
    Customer,
    CustomerAgreement,
    CustomerProfile,
    DirectSignedStatus,
    OrderLineItem,
    PartnerCenterOrder,
    PartnerCenterSubscription,
    TokenKind,
)

logger = logging.getLogger("partner_center")

SIMULATOR_TOKEN = "simulator-token"
# A backstop next to the time budget: answers that fail instantly (a 503 from a load balancer) would otherwise
# be retried as fast as the backoff allows for the whole budget.
MAX_ATTEMPTS = 5
# Full jitter (AWS's "exponential backoff and jitter"): many workers throttled together do not retry in step.
_BACKOFF = tenacity.wait_random_exponential(multiplier=0.5, max=8)
# Stale-ETag error on a subscription PATCH (see update_subscription_quantity).
ETAG_STALE_CODE = "2055"

_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})


def _sleep(seconds: float) -> None:
    # Looked up at call time, so tests replace `partner_center.client._sleep` and never really sleep.
    time.sleep(seconds)


def _monotonic() -> float:
    return time.monotonic()


# --- call counts ------------------------------------------------------------------------------------------------

_counts: Counter[str] = Counter()
_counts_lock = threading.Lock()


def _count(endpoint: str) -> None:
    with _counts_lock:
        _counts[endpoint] += 1


def call_counts() -> dict[str, int]:
    """HTTP attempts per endpoint name since the last reset (cache hits are not calls)."""
    with _counts_lock:
        return dict(_counts)


def reset_call_counts() -> None:
    with _counts_lock:
        _counts.clear()


# --- endpoints --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Endpoint:
    name: str  # the call_counts() key
    token_kind: TokenKind
    # Whether a failed attempt may be sent again. Reads are safe by nature. The POSTs here are idempotent by
    # design: Microsoft keys them on MS-RequestId ("In the case of a timeout, the retry call should include the
    # same value"), and every write method takes the caller's persisted request_id and sends that same value on
    # each attempt. The subscription PATCH sends the full resource with its ETag, so repeating it cannot apply
    # a change twice.
    idempotent: bool


# Agreement endpoints are documented App+User only; customers, orders and subscriptions take app-only.
_AGREEMENTS = _Endpoint("agreements", TokenKind.APP_USER, idempotent=True)
_AGREEMENT_DOCUMENT = _Endpoint("agreement_document", TokenKind.APP_USER, idempotent=True)
_CUSTOMER_AGREEMENTS = _Endpoint("customer_agreements", TokenKind.APP_USER, idempotent=True)
_CONFIRM_ACCEPTANCE = _Endpoint("confirm_acceptance", TokenKind.APP_USER, idempotent=True)
_DIRECT_SIGNED = _Endpoint("direct_signed_status", TokenKind.APP_USER, idempotent=True)
_CUSTOMERS = _Endpoint("customers", TokenKind.APP_ONLY, idempotent=True)
_ORDERS = _Endpoint("orders", TokenKind.APP_ONLY, idempotent=True)
_SUBSCRIPTIONS = _Endpoint("subscriptions", TokenKind.APP_ONLY, idempotent=True)


@dataclass(frozen=True)
class _Answer:
    status: int
    body: Any  # parsed JSON, None for an empty body
    request_id: str
    correlation_id: str


class _RetryableAnswer(Exception):
    """A 429 or 5xx, raised inside an attempt so tenacity sees it; never leaves this module."""

    def __init__(self, status: int, retry_after: float | None, request_id: str, correlation_id: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        self.correlation_id = correlation_id


_TRANSIENT = (_RetryableAnswer, requests.ConnectionError, requests.Timeout)


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: Microsoft sends delta-seconds; HTTP also allows a date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - datetime.now(when.tzinfo)).total_seconds(), 0.0)


def _segment(value: str) -> str:
    # Ids go into the path: quote everything so an odd id cannot address another resource.
    return quote(str(value), safe="")


class PartnerCenterClient:
    def __init__(
        self,
        *,
        base_url: str,
        app_tokens: TokenProvider,
        user_tokens: TokenProvider,
        connect_timeout: float,
        read_timeout: float,
        retry_budget: float,
        cache_ttl: int,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens: dict[TokenKind, TokenProvider] = {
            TokenKind.APP_ONLY: app_tokens,
            TokenKind.APP_USER: user_tokens,
        }
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retry_budget = retry_budget
        self.cache_ttl = cache_ttl
        self.session = session or requests.Session()
        # Cache keys include the base URL, so simulator and live answers (or two test servers) never mix.
        self._cache_namespace = hashlib.sha256(self.base_url.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"PartnerCenterClient(base_url={self.base_url!r})"

    @classmethod
    def from_settings(cls) -> PartnerCenterClient:
        """The client settings describe. Simulator mode uses a static token for both kinds; everything else is
        the code path used against Microsoft."""
        timeout = (settings.PARTNER_CENTER_CONNECT_TIMEOUT, settings.PARTNER_CENTER_READ_TIMEOUT)
        app_tokens: TokenProvider
        user_tokens: TokenProvider
        if settings.PARTNER_CENTER_MODE == "simulator":
            app_tokens = user_tokens = StaticTokenProvider(SIMULATOR_TOKEN)
        else:
            common: dict[str, Any] = {
                "tenant_id": settings.PARTNER_CENTER_TENANT_ID,
                "client_id": settings.PARTNER_CENTER_CLIENT_ID,
                "client_secret": settings.PARTNER_CENTER_CLIENT_SECRET,
                "authority_host": settings.PARTNER_CENTER_AUTHORITY_HOST,
                "timeout": timeout,
            }
            app_tokens = AppOnlyTokenProvider(**common)
            user_tokens = AppUserTokenProvider(refresh_token=settings.PARTNER_CENTER_REFRESH_TOKEN, **common)
        return cls(
            base_url=settings.PARTNER_CENTER_BASE_URL,
            app_tokens=app_tokens,
            user_tokens=user_tokens,
            connect_timeout=settings.PARTNER_CENTER_CONNECT_TIMEOUT,
            read_timeout=settings.PARTNER_CENTER_READ_TIMEOUT,
            retry_budget=settings.PARTNER_CENTER_RETRY_BUDGET,
            cache_ttl=settings.PARTNER_CENTER_CACHE_TTL,
        )

    # --- agreements -------------------------------------------------------------------------------------------

    def get_agreement_templates(
        self, agreement_type: str = MCA, *, budget: float | None = None, correlation_id: str | None = None
    ) -> list[AgreementTemplate]:
        """Templates of one agreement type (`"*"` lists every type). Cached for PARTNER_CENTER_CACHE_TTL."""
        key = self._cache_key("templates", agreement_type)
        body = self._cache_get(key)
        if body is None:
            # agreementType is always sent: without it Microsoft answers for the old Cloud Agreement.
            answer = self._call(
                "GET",
                "/v1/agreements",
                _AGREEMENTS,
                params={"agreementType": agreement_type},
                budget=budget,
                correlation_id=correlation_id,
            )
            body = answer.body
            templates = self._parse(answer, parsing.parse_templates, body)
            if templates:
                self._cache_set(key, body)
        else:
            templates = self._parse(None, parsing.parse_templates, body)
        if agreement_type != "*":
            templates = [t for t in templates if t.agreement_type == agreement_type]
        return templates

    def get_current_template(
        self, agreement_type: str = MCA, *, budget: float | None = None, correlation_id: str | None = None
    ) -> AgreementTemplate:
        """The template with the highest versionRank."""
        templates = self.get_agreement_templates(agreement_type, budget=budget, correlation_id=correlation_id)
        if not templates:
            raise PartnerCenterBadResponse(f"Partner Center lists no {agreement_type} template.")
        return max(templates, key=lambda t: t.version_rank)

    def get_agreement_document(
        self,
        template_id: str,
        language: str,
        country: str,
        *,
        budget: float | None = None,
        correlation_id: str | None = None,
        use_cache: bool = True,
    ) -> AgreementDocument:
        """The agreement text for a country (upper-case ISO-2) and language.

        Microsoft's `downloadUri` changes on every call and expires after five minutes, so it is never cached:
        a cached document has `download_uri == ""` and only `display_uri`. Callers that need a live download link
        (a person just asked for the PDF) pass `use_cache=False`.
        """
        country = country.strip().upper()
        key = self._cache_key("document", template_id, language, country)
        cached = self._cache_get(key) if use_cache else None
        if cached is not None:
            return self._parse(
                None,
                parsing.parse_document,
                cached,
                template_id=template_id,
                language=language,
                country=country,
            )
        answer = self._call(
            "GET",
            f"/v1/agreementtemplates/{_segment(template_id)}/document",
            _AGREEMENT_DOCUMENT,
            params={"language": language, "country": country},
            budget=budget,
            correlation_id=correlation_id,
        )
        document = self._parse(
            answer, parsing.parse_document, answer.body, template_id=template_id, language=language, country=country
        )
        self._cache_set(key, {k: v for k, v in answer.body.items() if k != "downloadUri"})
        return document

    def get_customer_agreements(
        self,
        tenant_id: str,
        agreement_type: str = MCA,
        *,
        budget: float | None = None,
        correlation_id: str | None = None,
        use_cache: bool = True,
    ) -> list[CustomerAgreement]:
        """The partner confirmations Partner Center holds for a customer.

        Only a non-empty list is cached: "not confirmed yet" must be re-asked, since it changes as soon as
        someone confirms (here or elsewhere) and a stale negative would block a purchase.
        """
        key = self._cache_key("customer_agreements", tenant_id, agreement_type)
        body = self._cache_get(key) if use_cache else None
        answer = None
        if body is None:
            answer = self._call(
                "GET",
                f"/v1/customers/{_segment(tenant_id)}/agreements",
                _CUSTOMER_AGREEMENTS,
                params={"agreementType": agreement_type},
                budget=budget,
                correlation_id=correlation_id,
            )
            body = answer.body
        default_type = "" if agreement_type == "*" else agreement_type
        agreements = self._parse(answer, parsing.parse_customer_agreements, body, default_type=default_type)
        if agreement_type != "*":
            agreements = [a for a in agreements if a.agreement_type == agreement_type]
        if answer is not None and agreements:
            self._cache_set(key, body)
        return agreements

    def get_direct_signed_status(
        self,
        tenant_id: str,
        *,
        budget: float | None = None,
        correlation_id: str | None = None,
        use_cache: bool = True,
    ) -> DirectSignedStatus:
        """Whether the customer accepted the MCA itself. Only `isSigned: true` is cached (see above)."""
        key = self._cache_key("direct_signed", tenant_id)
        cached = self._cache_get(key) if use_cache else None
        if cached is not None:
            return self._parse(None, parsing.parse_direct_signed, cached)
        answer = self._call(
            "GET",
            f"/v1/customers/{_segment(tenant_id)}/directSignedMicrosoftCustomerAgreementStatus",
            _DIRECT_SIGNED,
            budget=budget,
            correlation_id=correlation_id,
        )
        status = self._parse(answer, parsing.parse_direct_signed, answer.body)
        if status.is_signed:
            self._cache_set(key, answer.body)
        return status

    def confirm_customer_acceptance(
        self,
        tenant_id: str,
        contact: AgreementContact,
        template_id: str,
        date_agreed: datetime,
        request_id: str,
        *,
        agreement_type: str = MCA,
        correlation_id: str | None = None,
    ) -> ConfirmationResult:
        """Confirm (attest) that the customer accepted the agreement. `request_id` is the caller's persisted
        idempotency key: the same value must be passed when the whole confirmation is retried later.

        Microsoft's 600061 (an identical confirmation already exists) is a success here:
        `already_confirmed=True`, `agreement=None`.
        """
        primary_contact = {
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "email": contact.email,
        }
        if contact.phone_number:
            primary_contact["phoneNumber"] = contact.phone_number
        body = {
            "primaryContact": primary_contact,
            "templateId": template_id,
            "dateAgreed": parsing.format_datetime(date_agreed),
            "type": agreement_type,
        }
        try:
            answer = self._call(
                "POST",
                f"/v1/customers/{_segment(tenant_id)}/agreements",
                _CONFIRM_ACCEPTANCE,
                json_body=body,
                request_id=request_id,
                correlation_id=correlation_id,
            )
        except PartnerCenterRejected as exc:
            if exc.code != AGREEMENT_ALREADY_EXISTS_CODE:
                raise
            return ConfirmationResult(
                already_confirmed=True,
                agreement=None,
                status_code=exc.status_code or 0,
                request_id=exc.request_id,
                correlation_id=exc.correlation_id,
                raw=exc.raw,
            )
        finally:
            # Whatever happened, a cached list for this customer may now be incomplete.
            self._cache_delete(self._cache_key("customer_agreements", tenant_id, agreement_type))
            self._cache_delete(self._cache_key("customer_agreements", tenant_id, "*"))
        agreement = self._parse(
            answer,
            lambda b: parsing.parse_customer_agreement(parsing.as_object(b), default_type=agreement_type),
            answer.body,
        )
        return ConfirmationResult(
            already_confirmed=False,
            agreement=agreement,
            status_code=answer.status,
            request_id=answer.request_id,
            correlation_id=answer.correlation_id,
            raw=answer.body,
        )

    # --- customers, orders, subscriptions ---------------------------------------------------------------------

    def create_customer(
        self, profile: CustomerProfile, request_id: str, *, correlation_id: str | None = None
    ) -> Customer:
        """Create the customer tenant. Microsoft's answer carries the new admin's initial password
        (`userCredentials`): it is dropped from `Customer.raw` and never logged."""
        domain = profile.domain if "." in profile.domain else f"{profile.domain}.onmicrosoft.com"
        body = {
            "companyProfile": {"domain": domain},
            "billingProfile": {
                "email": profile.email,
                "culture": profile.culture,
                "language": profile.language,
                "companyName": profile.company_name,
                "defaultAddress": {
                    "firstName": profile.first_name,
                    "lastName": profile.last_name,
                    "addressLine1": profile.address_line1,
                    "city": profile.city,
                    "state": profile.state,
                    "postalCode": profile.postal_code,
                    "country": profile.country.upper(),
                    "phoneNumber": profile.phone_number,
                },
            },
        }
        answer = self._call(
            "POST", "/v1/customers", _CUSTOMERS, json_body=body, request_id=request_id, correlation_id=correlation_id
        )
        return self._parse(answer, parsing.parse_customer, answer.body)

    def create_order(
        self,
        tenant_id: str,
        lines: Sequence[OrderLineItem],
        request_id: str,
        *,
        billing_cycle: str = "monthly",
        correlation_id: str | None = None,
    ) -> PartnerCenterOrder:
        """Place an order. Raises McaAcceptanceRequired (403/13605) when the customer has no MCA acceptance."""
        if not lines:
            raise ValueError("An order needs at least one line.")
        line_items = []
        for number, line in enumerate(lines):
            item: dict[str, Any] = {"lineItemNumber": number, "offerId": line.offer_id, "quantity": line.quantity}
            if line.friendly_name:
                item["friendlyName"] = line.friendly_name
            line_items.append(item)
        body = {"referenceCustomerId": tenant_id, "billingCycle": billing_cycle, "lineItems": line_items}
        answer = self._call(
            "POST",
            f"/v1/customers/{_segment(tenant_id)}/orders",
            _ORDERS,
            json_body=body,
            request_id=request_id,
            correlation_id=correlation_id,
        )
        return self._parse(answer, parsing.parse_order, answer.body)

    def get_subscription(
        self, tenant_id: str, subscription_id: str, *, correlation_id: str | None = None
    ) -> PartnerCenterSubscription:
        answer = self._call(
            "GET", self._subscription_path(tenant_id, subscription_id), _SUBSCRIPTIONS, correlation_id=correlation_id
        )
        return self._parse(answer, parsing.parse_subscription, answer.body)

    def update_subscription_quantity(
        self,
        tenant_id: str,
        subscription_id: str,
        quantity: int,
        *,
        request_id: str | None = None,
        correlation_id: str | None = None,
    ) -> PartnerCenterSubscription:
        """Change a subscription's seat count: GET the full resource, PATCH it back with `quantity` changed and
        `attributes.etag` kept. Raises McaAcceptanceRequired when Microsoft refuses for lack of MCA acceptance."""
        current = self.get_subscription(tenant_id, subscription_id, correlation_id=correlation_id)
        if not current.etag:
            raise PartnerCenterBadResponse("Unexpected Partner Center answer: missing attributes.etag")
        body = copy.deepcopy(current.raw)
        body["quantity"] = quantity
        try:
            answer = self._call(
                "PATCH",
                self._subscription_path(tenant_id, subscription_id),
                _SUBSCRIPTIONS,
                json_body=body,
                request_id=request_id or str(uuid.uuid4()),
                correlation_id=correlation_id,
            )
        except PartnerCenterRejected as exc:
            if exc.code != ETAG_STALE_CODE:
                raise
            # A PATCH whose answer was lost (timeout) and then retried finds its own change made the ETag stale:
            # if the subscription already has the quantity asked for, that change was ours (or equivalent).
            latest = self.get_subscription(tenant_id, subscription_id, correlation_id=correlation_id)
            if latest.quantity == quantity:
                return latest
            raise
        return self._parse(answer, parsing.parse_subscription, answer.body)

    @staticmethod
    def _subscription_path(tenant_id: str, subscription_id: str) -> str:
        return f"/v1/customers/{_segment(tenant_id)}/subscriptions/{_segment(subscription_id)}"

    # --- transport --------------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        endpoint: _Endpoint,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        budget: float | None = None,
    ) -> _Answer:
        """One logical call: attempts, retries and error mapping. Returns a 2xx answer or raises."""
        budget = self.retry_budget if budget is None else budget
        deadline = _monotonic() + budget
        # Writes get the caller's persisted id; reads one id per logical call. Either way, every retry sends it.
        request_id = request_id or str(uuid.uuid4())
        provider = self._tokens[endpoint.token_kind]
        url = self.base_url + path

        def attempt() -> _Answer:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise PartnerCenterUnavailable(
                    f"Partner Center {endpoint.name}: no time left in the budget",
                    request_id=request_id,
                    timed_out=True,
                )
            token = provider.token()
            attempt_correlation_id = correlation_id or str(uuid.uuid4())
            headers = {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "MS-RequestId": request_id,
                "MS-CorrelationId": attempt_correlation_id,
            }
            if json_body is not None:
                headers["Content-Type"] = "application/json"
            _count(endpoint.name)
            started = time.perf_counter()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json_body,
                    headers=headers,
                    timeout=(min(self.connect_timeout, remaining), min(self.read_timeout, remaining)),
                    # A redirect would be a misconfigured base URL; following it could send the token elsewhere.
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                self._log_attempt(method, path, type(exc).__name__, started, request_id, attempt_correlation_id)
                if isinstance(exc, requests.ConnectionError | requests.Timeout):
                    raise
                raise PartnerCenterUnavailable(
                    f"Partner Center {endpoint.name}: {type(exc).__name__}",
                    request_id=request_id,
                    correlation_id=attempt_correlation_id,
                ) from None
            status = response.status_code
            self._log_attempt(method, path, str(status), started, request_id, attempt_correlation_id)
            if status in _RETRYABLE_STATUS or status >= 500:
                raise _RetryableAnswer(
                    status,
                    _retry_after_seconds(response.headers.get("Retry-After")),
                    request_id,
                    attempt_correlation_id,
                )
            if 200 <= status < 300:
                body = parsing.load_json(response.content) if response.content else None
                return _Answer(status, body, request_id, attempt_correlation_id)
            raise self._rejection(endpoint, status, response.content, request_id, attempt_correlation_id)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _RetryableAnswer) and exc.retry_after is not None:
                return exc.retry_after
            return _BACKOFF(state)

        def out_of_budget(state: tenacity.RetryCallState) -> bool:
            # Tenacity computes the wait before asking stop(), so sleeping past the budget is refused up front.
            return _monotonic() + state.upcoming_sleep >= deadline

        def give_up(state: tenacity.RetryCallState) -> _Answer:
            exc = state.outcome.exception() if state.outcome else None
            raise self._unavailable(endpoint, exc, deadline, request_id) from None

        retrying = tenacity.Retrying(
            # Only transient failures, and only where sending again is safe: see _Endpoint.idempotent for why the
            # POSTs (same MS-RequestId on every attempt) and the ETag'd PATCH qualify.
            retry=tenacity.retry_if_exception(lambda e: endpoint.idempotent and isinstance(e, _TRANSIENT)),
            wait=wait,
            stop=tenacity.stop_after_attempt(MAX_ATTEMPTS) | out_of_budget,
            sleep=_sleep,
            before_sleep=lambda state: logger.debug(
                "Partner Center %s: retrying in %.2f s (attempt %d)",
                endpoint.name,
                state.upcoming_sleep,
                state.attempt_number,
            ),
            retry_error_callback=give_up,
        )
        try:
            return retrying(attempt)
        except _TRANSIENT as exc:  # not retried (a non-idempotent endpoint)
            raise self._unavailable(endpoint, exc, deadline, request_id) from None

    @staticmethod
    def _unavailable(
        endpoint: _Endpoint, exc: BaseException | None, deadline: float, request_id: str
    ) -> PartnerCenterUnavailable:
        if isinstance(exc, _RetryableAnswer):
            ids = {"status_code": exc.status, "request_id": exc.request_id, "correlation_id": exc.correlation_id}
            if exc.status == 429:
                remaining = max(deadline - _monotonic(), 0.0)
                if exc.retry_after is not None and exc.retry_after >= remaining:
                    message = (
                        f"Partner Center {endpoint.name}: throttled, asked to wait {exc.retry_after:g} s "
                        f"with {remaining:.1f} s left in the budget"
                    )
                else:
                    message = f"Partner Center {endpoint.name}: still throttled after retries"
                return PartnerCenterThrottled(message, retry_after=exc.retry_after, **ids)
            return PartnerCenterUnavailable(f"Partner Center {endpoint.name}: HTTP {exc.status}", **ids)
        # The exception's own text is left out: it is only the URL and urllib3's wording.
        reason = type(exc).__name__ if exc is not None else "no answer"
        return PartnerCenterUnavailable(
            f"Partner Center {endpoint.name}: {reason}",
            request_id=request_id,
            timed_out=isinstance(exc, requests.Timeout),
        )

    @staticmethod
    def _rejection(
        endpoint: _Endpoint, status: int, content: bytes, request_id: str, correlation_id: str
    ) -> PartnerCenterError:
        ids: dict[str, Any] = {"status_code": status, "request_id": request_id, "correlation_id": correlation_id}
        if status < 400:
            return PartnerCenterBadResponse(f"Partner Center {endpoint.name}: unexpected HTTP {status}", **ids)
        code, description, raw = parsing.parse_error(content)
        message = f"Partner Center {endpoint.name}: HTTP {status}" + (f", code {code}" if code else "")
        if description:
            message += f": {description}"
        details: dict[str, Any] = {"code": code, "description": description, "raw": raw, **ids}
        if status == 403 and code == MCA_ACCEPTANCE_REQUIRED_CODE:
            return McaAcceptanceRequired(message, **details)
        if status == 404:
            return PartnerCenterNotFound(message, **details)
        return PartnerCenterRejected(message, **details)

    @staticmethod
    def _log_attempt(
        method: str, path: str, outcome: str, started: float, request_id: str, correlation_id: str
    ) -> None:
        # Only these fields: headers (the token) and bodies (a new customer's password) are never logged.
        logger.debug(
            "Partner Center %s %s -> %s in %.0f ms MS-RequestId=%s MS-CorrelationId=%s",
            method,
            path,
            outcome,
            (time.perf_counter() - started) * 1000,
            request_id,
            correlation_id,
        )

    @staticmethod
    def _parse(answer: _Answer | None, parser: Callable[..., Any], body: Any, **kwargs: Any) -> Any:
        """Run a parser; attach the call's ids to a PartnerCenterBadResponse for the evidence log."""
        try:
            return parser(body, **kwargs)
        except PartnerCenterBadResponse as exc:
            if answer is not None:
                exc.status_code = answer.status
                exc.request_id = answer.request_id
                exc.correlation_id = answer.correlation_id
            raise

    # --- cache ------------------------------------------------------------------------------------------------
    # Raw JSON is cached, not dataclasses: a deploy that changes a dataclass cannot meet an incompatible pickle,
    # and cached answers go through the same parser as fresh ones. A broken cache only costs a call.

    def _cache_key(self, kind: str, *parts: str) -> str:
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
        return f"partner_center:v1:{self._cache_namespace}:{kind}:{digest}"

    def _cache_get(self, key: str) -> Any:
        try:
            return cache.get(key)
        except Exception:
            logger.warning("Partner Center cache read failed; asking Partner Center", exc_info=True)
            return None

    def _cache_set(self, key: str, value: Any) -> None:
        try:
            cache.set(key, value, self.cache_ttl)
        except Exception:
            logger.warning("Partner Center cache write failed", exc_info=True)

    def _cache_delete(self, key: str) -> None:
        try:
            cache.delete(key)
        except Exception:
            logger.warning("Partner Center cache delete failed", exc_info=True)


# --- the process-wide client ------------------------------------------------------------------------------------

_client: PartnerCenterClient | None = None
_client_key = ""
_client_lock = threading.Lock()


def _settings_fingerprint() -> str:
    # A digest, so the module does not keep its own copy of the secret and refresh token.
    values = [
        getattr(settings, name, "")
        for name in (
            "PARTNER_CENTER_MODE",
            "PARTNER_CENTER_BASE_URL",
            "PARTNER_CENTER_TENANT_ID",
            "PARTNER_CENTER_CLIENT_ID",
            "PARTNER_CENTER_CLIENT_SECRET",
            "PARTNER_CENTER_REFRESH_TOKEN",
            "PARTNER_CENTER_AUTHORITY_HOST",
            "PARTNER_CENTER_CONNECT_TIMEOUT",
            "PARTNER_CENTER_READ_TIMEOUT",
            "PARTNER_CENTER_RETRY_BUDGET",
            "PARTNER_CENTER_CACHE_TTL",
        )
    ]
    return hashlib.sha256(repr(values).encode()).hexdigest()


def get_client() -> PartnerCenterClient:
    """The process-wide client (one HTTP session, one token cache), rebuilt when the Partner Center settings
    change - tests point PARTNER_CENTER_BASE_URL at a different server per test."""
    global _client, _client_key
    key = _settings_fingerprint()
    with _client_lock:
        if _client is None or key != _client_key:
            _client = PartnerCenterClient.from_settings()
            _client_key = key
        return _client
