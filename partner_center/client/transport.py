"""How every Partner Center call travels: `Transport._call` (attempts, retries, time budget, error mapping), call
counts, and the cache helpers. The endpoint methods live in `agreements` and `commerce` and only build paths and
bodies and parse answers.

Retries use tenacity so the policy - what is retried, how long to wait, when to give up - is declared in one place
rather than spread through a hand-written loop:

- retried: connection errors, timeouts, 5xx and 429; never another 4xx (Microsoft answered and said no);
- wait: Retry-After when Microsoft sends it, else exponential backoff with full jitter;
- give up: when the call's time budget would be exceeded (including sleeping for Retry-After: then
  PartnerCenterThrottled is raised at once, instead of sleeping past the budget) or after MAX_ATTEMPTS.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import requests
import tenacity
from django.core.cache import cache

from partner_center import parsing
from partner_center.auth import TokenProvider
from partner_center.errors import (
    MCA_ACCEPTANCE_REQUIRED_CODE,
    McaAcceptanceRequired,
    PartnerCenterBadResponse,
    PartnerCenterError,
    PartnerCenterNotFound,
    PartnerCenterRejected,
    PartnerCenterThrottled,
    PartnerCenterUnavailable,
)
from partner_center.health import Admission, Health
from partner_center.ratelimit import RateLimit
from partner_center.types import TokenKind

logger = logging.getLogger("partner_center")

# A backstop next to the time budget: answers that fail instantly (a 503 from a load balancer) would otherwise
# be retried as fast as the backoff allows for the whole budget.
MAX_ATTEMPTS = 5
# Full jitter (AWS's "exponential backoff and jitter"): many workers throttled together do not retry in step.
_BACKOFF = tenacity.wait_random_exponential(multiplier=0.5, max=8)
_RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
# Slots taken at most per attempt when each was held too long before sending (Transport._take_slot).
_SLOT_TRIES = 3


def _sleep(seconds: float) -> None:
    # Looked up at call time, so tests replace `partner_center.client.transport._sleep` and never really sleep.
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
class Endpoint:
    name: str  # the call_counts() key
    token_kind: TokenKind
    # Whether a failed attempt may be sent again. Reads are safe by nature. The POSTs here are idempotent by
    # design: Microsoft keys them on MS-RequestId ("In the case of a timeout, the retry call should include the
    # same value"), and every write method takes the caller's persisted request_id and sends that same value on
    # each attempt. The subscription PATCH sends the full resource with its ETag, so repeating it cannot apply
    # a change twice.
    idempotent: bool


@dataclass(frozen=True)
class Answer:
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


def segment(value: str) -> str:
    # Ids go into the path: quote everything so an odd id cannot address another resource.
    return quote(str(value), safe="")


class Transport:
    """The state every call needs (base URL, token providers, timeouts, budget, cache TTL, HTTP session) and the
    machinery that sends it. `PartnerCenterClient` adds the endpoint methods through its mixins."""

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
        breaker_failures: int = 5,
        breaker_open_seconds: float = 30.0,
        breaker_first_open_seconds: float | None = None,
        rate_limit: RateLimit | None = None,
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
        # Shared by every process talking to this Partner Center (partner_center.health). A trial call is out for
        # at most one attempt's timeouts.
        self.health = Health(
            self._cache_namespace,
            failures_to_open=breaker_failures,
            open_seconds=breaker_open_seconds,
            trial_seconds=connect_timeout + read_timeout,
            first_open_seconds=breaker_first_open_seconds,
        )
        # One rate for every process (partner_center.ratelimit); None: no limit of our own.
        self.rate_limit = rate_limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def token_provider(self, kind: TokenKind) -> TokenProvider:
        """The provider of `kind`'s tokens (the token readiness check asks it, as a call would)."""
        return self._tokens[kind]

    # --- transport --------------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        endpoint: Endpoint,
        *,
        params: dict[str, str] | None = None,
        json_body: dict[str, Any] | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        budget: float | None = None,
    ) -> Answer:
        """One logical call: attempts, retries and error mapping. Returns a 2xx answer or raises."""
        budget = self.retry_budget if budget is None else budget
        deadline = _monotonic() + budget
        # Writes get the caller's persisted id; reads one id per logical call. Either way, every retry sends it.
        request_id = request_id or str(uuid.uuid4())
        provider = self._tokens[endpoint.token_kind]
        url = self.base_url + path

        # The 5xx answers of earlier attempts: a budget that runs out while Partner Center keeps failing (a 5xx,
        # then no time left or a timeout the budget cut short) is Partner Center failing, not slow. On a loaded
        # machine the last attempt of a 500-answering Partner Center is often the one the budget cuts.
        failed_answers: list[_RetryableAnswer] = []

        def attempt() -> Answer:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                if failed_answers:
                    raise self._unavailable(endpoint, failed_answers[-1], deadline, request_id)
                raise PartnerCenterUnavailable(
                    f"Partner Center {endpoint.name}: no time left in the budget",
                    request_id=request_id,
                    timed_out=True,
                )
            # Paused by a 429 or the circuit open: raises at once, no HTTP (not retried: it is not transient here).
            admission = self.health.admit(endpoint.name)
            # The token before the slot: a token fetch (a round trip to Entra ID when the cached one expired) between
            # taking a slot and sending would make the call reach Partner Center late in the window.
            token = provider.token()
            if self.rate_limit is not None:
                admission = self._take_slot(self.rate_limit, endpoint, admission, deadline, request_id)
            remaining = deadline - _monotonic()  # the token fetch and the slot spent some of it
            if remaining <= 0:
                raise PartnerCenterUnavailable(
                    f"Partner Center {endpoint.name}: no time left in the budget",
                    request_id=request_id,
                    timed_out=True,
                )
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
                    if self._says_partner_center_failed(exc, remaining):
                        self.health.failed(admission)
                    raise
                raise PartnerCenterUnavailable(
                    f"Partner Center {endpoint.name}: {type(exc).__name__}",
                    request_id=request_id,
                    correlation_id=attempt_correlation_id,
                ) from None
            status = response.status_code
            self._log_attempt(method, path, str(status), started, request_id, attempt_correlation_id)
            if status == 429:
                self.health.throttled(endpoint.name, _retry_after_seconds(response.headers.get("Retry-After")))
            elif status >= 500:
                self.health.failed(admission)
            else:
                self.health.succeeded(admission)
            if status in _RETRYABLE_STATUS or status >= 500:
                answer = _RetryableAnswer(
                    status,
                    _retry_after_seconds(response.headers.get("Retry-After")),
                    request_id,
                    attempt_correlation_id,
                )
                if status >= 500:
                    failed_answers.append(answer)
                raise answer
            if 200 <= status < 300:
                body = parsing.load_json(response.content) if response.content else None
                return Answer(status, body, request_id, attempt_correlation_id)
            raise self._rejection(endpoint, status, response.content, request_id, attempt_correlation_id)

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _RetryableAnswer) and exc.retry_after is not None:
                return exc.retry_after
            return _BACKOFF(state)

        def out_of_budget(state: tenacity.RetryCallState) -> bool:
            # Tenacity computes the wait before asking stop(), so sleeping past the budget is refused up front.
            return _monotonic() + state.upcoming_sleep >= deadline

        def give_up(state: tenacity.RetryCallState) -> Answer:
            exc = state.outcome.exception() if state.outcome else None
            if failed_answers and (exc is None or isinstance(exc, requests.Timeout)):
                exc = failed_answers[-1]
            raise self._unavailable(endpoint, exc, deadline, request_id) from None

        retrying = tenacity.Retrying(
            # Only transient failures, and only where sending again is safe: see Endpoint.idempotent for why the
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

    def _take_slot(
        self, rate_limit: RateLimit, endpoint: Endpoint, admission: Admission, deadline: float, request_id: str
    ) -> Admission:
        """Take a slot of our rate limit for an attempt about to be sent; the (new) admission when it waited.

        The slot's moment is what our window counts, the call's arrival is what Partner Center's counts: the margin
        (partner_center.ratelimit) covers the time between the two. A slot held longer than half the margin (a
        wait for the cache, a busy CPU) is given back and a fresh one taken, so no call uses up more than its share
        of the slack. A few times at most: a machine that slow sends with the last slot rather than never."""
        stale_after = rate_limit.stale_after if rate_limit.gives_back else None
        for _ in range(_SLOT_TRIES):
            slot = rate_limit.take(endpoint.name, deadline=deadline, monotonic=_monotonic)
            if deadline - _monotonic() <= 0:  # the wait for a slot used up the attempt's time: not sent
                rate_limit.give_back(slot)
                raise PartnerCenterUnavailable(
                    f"Partner Center {endpoint.name}: no time left in the budget",
                    request_id=request_id,
                    timed_out=True,
                )
            if slot.waited:
                try:
                    admission = self.health.admit(endpoint.name)  # a 429 may have paused everyone meanwhile
                except PartnerCenterError:
                    rate_limit.give_back(slot)  # not sent: another call may have it
                    raise
            if stale_after is None or slot.member is None or _monotonic() - slot.taken_at <= stale_after:
                return admission
            rate_limit.give_back(slot)
            logger.debug("Partner Center %s: slot held too long before sending, taking a fresh one", endpoint.name)
        return admission

    def _says_partner_center_failed(self, exc: requests.RequestException, remaining: float) -> bool:
        """Whether a transport error counts towards opening the circuit: a refused or reset connection does; a
        timeout only when it was the full configured one, not one that a caller's short budget cut down (the gate's
        few seconds against a slow answer say nothing about Partner Center being down)."""
        if isinstance(exc, requests.ConnectTimeout):
            return remaining >= self.connect_timeout
        if isinstance(exc, requests.Timeout):
            return remaining >= self.read_timeout
        return True

    @staticmethod
    def _unavailable(
        endpoint: Endpoint, exc: BaseException | None, deadline: float, request_id: str
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
        endpoint: Endpoint, status: int, content: bytes, request_id: str, correlation_id: str
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
    def _parse(answer: Answer | None, parser: Callable[..., Any], body: Any, **kwargs: Any) -> Any:
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
