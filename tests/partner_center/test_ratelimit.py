"""Our own Partner Center rate limit (partner_center.ratelimit): N calls per period x (1 + margin), in Redis on the
server's clock, the same in memory, `limits` for other storages; the transport's token-then-slot order and its
give-back of a slot held too long; the simulator's exact limit, checked before the call is counted.

Redis is the tests' own database (tests.redis_support), each test on a namespace of its own. HTTP is real (the
simulator on the live server) or stubbed at the network edge with `responses`."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import responses
import time_machine
from django.db import connection
from limits.storage import MemoryStorage

from partner_center import ratelimit
from partner_center.auth import StaticTokenProvider
from partner_center.client import PartnerCenterClient, get_client
from partner_center.errors import PartnerCenterError, PartnerCenterThrottled
from partner_center.ratelimit import RateLimit, Slot
from partner_center.simulator import faults
from tests.redis_support import REDIS_TEST_URL, require_redis

BASE = "https://pc.example.test"
TENANT = "4d3cf487-70f6-4f0b-b2f0-6e2c5e9e1b9a"


class _FallbackStorage(MemoryStorage):
    """A storage scheme we have no script for (registered with `limits` by its STORAGE_SCHEME), so RateLimit takes
    the `limits` fallback path; it keeps its windows in memory, so no memcached is needed."""

    STORAGE_SCHEME = ["ratelimit-fallback-test"]


@pytest.fixture
def redis_url() -> str:
    require_redis(REDIS_TEST_URL)
    return REDIS_TEST_URL


@pytest.fixture
def make_limit(request) -> Iterator:
    """RateLimit objects on a namespace of this test's own, forgotten afterwards."""
    namespace = f"test-{uuid.uuid4().hex}"
    made: list[RateLimit] = []

    def make(limit: str, storage_uri: str, *, margin: float = 0.0, name: str = namespace) -> RateLimit:
        rate_limit = RateLimit(limit, storage_uri=storage_uri, namespace=name, margin=margin)
        made.append(rate_limit)
        return rate_limit

    yield make
    for rate_limit in made:
        rate_limit.reset()


@pytest.fixture(params=["redis", "memory"])
def storage(request) -> str:
    """Both implementations of our own window: every test using this runs against each."""
    if request.param == "redis":
        return request.getfixturevalue("redis_url")
    return "memory://"


# --- the window -------------------------------------------------------------------------------------------------


def test_the_window_is_the_limits_period_plus_the_margin():
    assert RateLimit("20/second", storage_uri="memory://", namespace="n", margin=0.1).window_ms == 1100
    # 60 s x 1.1 in floating point is a hair over 66 s: not rounded up to 66.001.
    assert RateLimit("3000/minute", storage_uri="memory://", namespace="n", margin=0.1).window_ms == 66_000
    assert RateLimit("20/second", storage_uri="memory://", namespace="n").window_ms == 1000
    assert RateLimit("20/second", storage_uri="memory://", namespace="n", margin=0.1).rate == pytest.approx(20 / 1.1)
    with pytest.raises(ValueError, match="margin"):
        RateLimit("20/second", storage_uri="memory://", namespace="n", margin=-0.1)


def test_n_calls_pass_then_the_next_waits_out_the_longer_window(storage, make_limit):
    limit = make_limit("3/second", storage, margin=0.5)
    assert [limit.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limit.try_acquire()
    assert 1.0 < wait <= 1.5  # the oldest slot leaves 1.5 s after it was taken, not 1 s
    time.sleep(1.05)
    assert limit.try_acquire() > 0  # past the limit's own second, still inside the window
    time.sleep(1.5 - 1.05)
    assert limit.try_acquire() == 0.0


def test_a_slot_given_back_is_free_for_another_call(storage, make_limit):
    limit = make_limit("3/minute", storage, margin=0.1)
    deadline = time.monotonic() + 5
    slots = [limit.take("orders", deadline=deadline) for _ in range(3)]
    assert all(slot.member for slot in slots) and limit.try_acquire() > 0

    assert limit.give_back(slots[1]) is True
    assert limit.give_back(slots[1]) is False  # once only
    assert limit.try_acquire() == 0.0
    assert limit.try_acquire() > 0


def test_no_slot_within_the_budget_is_held_back_without_sleeping_past_it(storage, make_limit, monkeypatch):
    naps: list[float] = []
    monkeypatch.setattr(ratelimit, "_sleep", naps.append)
    limit = make_limit("1/minute", storage, margin=0.1)
    assert limit.acquire("orders", deadline=time.monotonic() + 5) < 1
    ticks = iter(range(1000))
    with pytest.raises(PartnerCenterThrottled) as raised:  # a clock 50 ms on at every look: the budget runs out
        limit.acquire("orders", deadline=0.3, monotonic=lambda: next(ticks) * 0.05)
    assert raised.value.held_back and 60 < raised.value.retry_after <= 66
    assert naps and all(nap <= ratelimit._MAX_NAP for nap in naps)


def test_reset_forgets_the_window(storage, make_limit):
    limit = make_limit("2/minute", storage)
    limit.try_acquire(), limit.try_acquire()
    assert limit.try_acquire() > 0
    limit.reset()
    assert limit.try_acquire() == 0.0


# --- Redis: one window for every process ------------------------------------------------------------------------


def test_two_processes_share_one_redis_window(redis_url, make_limit):
    """Two RateLimit objects with their own Redis connections (two workers); another namespace (another Partner
    Center) has a window of its own."""
    first, second = make_limit("4/minute", redis_url), make_limit("4/minute", redis_url)
    elsewhere = make_limit("4/minute", redis_url, name=f"other-{uuid.uuid4().hex}")
    assert [first.try_acquire(), second.try_acquire(), first.try_acquire(), second.try_acquire()] == [0.0] * 4
    assert first.try_acquire() > 0 and second.try_acquire() > 0
    assert elsewhere.try_acquire() == 0.0


def test_the_redis_window_runs_on_the_servers_clock(redis_url, make_limit):
    """A process whose own clock is an hour ahead still sees the others' slots: "now" is Redis's TIME. (Scored on
    the process's clock, its hour-later "now" would find every slot long gone.)"""
    here = make_limit("2/minute", redis_url)
    here.try_acquire(), here.try_acquire()
    ahead = make_limit("2/minute", redis_url)
    with time_machine.travel(time.time() + 3600, tick=True):
        assert 55 < ahead.try_acquire() <= 60


def test_the_redis_window_expires_when_idle_and_carries_the_key_prefix(redis_url, make_limit, settings):
    settings.PARTNER_CENTER_RATE_LIMIT = "5/second"
    settings.PARTNER_CENTER_RATE_LIMIT_STORAGE = redis_url
    settings.PARTNER_CENTER_RATE_LIMIT_MARGIN = 0.2
    settings.REDIS_KEY_PREFIX = "deployment-a:"
    limit = ratelimit.from_settings(f"pc-{uuid.uuid4().hex}")
    try:
        assert limit.try_acquire() == 0.0
        client = require_redis(redis_url)
        keys = [key.decode() for key in client.keys(f"*{limit.namespace}*")]
        assert keys == [f"partner_center_rate:deployment-a:{limit.namespace.removeprefix('deployment-a:')}"]
        assert 0 < client.pttl(keys[0]) <= 1200
    finally:
        limit.reset()


def test_with_redis_refusing_connections_calls_go_unlimited_with_a_warning(make_limit, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limit = make_limit("1/minute", f"redis://127.0.0.1:{port}/0")
    caplog.set_level(logging.WARNING, logger="partner_center")
    started = time.monotonic()
    slots = [limit.take("orders", deadline=time.monotonic() + 20) for _ in range(3)]
    assert time.monotonic() - started < 3
    assert [slot.member for slot in slots] == [None] * 3  # nothing to give back
    assert "storage unavailable, calling unlimited" in caplog.text


def test_a_redis_that_never_answers_holds_a_call_about_a_second(make_limit, caplog):
    """A Redis that accepts the connection and says nothing (a hung server): the socket timeout lets the call go
    on unlimited after about a second, instead of waiting for ever."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        limit = make_limit("1/minute", f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        caplog.set_level(logging.WARNING, logger="partner_center")
        started = time.monotonic()
        waited = limit.acquire("orders", deadline=time.monotonic() + 20)
    assert 0.9 < waited < 3 and time.monotonic() - started < 3
    assert "storage unavailable, calling unlimited" in caplog.text


# --- other storages: `limits`' window, the margin rounded up ----------------------------------------------------


def test_another_storage_falls_back_to_limits_with_the_margin_rounded_up_and_says_so_once(make_limit, caplog):
    caplog.set_level(logging.ERROR, logger="partner_center")
    limit = make_limit("2/second", "ratelimit-fallback-test://", margin=0.1)
    assert [limit.try_acquire(), limit.try_acquire()] == [0.0, 0.0]
    assert 1.1 < limit.try_acquire() <= 2.0  # 2 per 2 s: the 1.1-s window rounded up to whole seconds
    slot = Slot("x", time.monotonic(), 0.0)
    assert not limit.gives_back and limit.give_back(slot) is False
    limit.try_acquire()
    approximated = [record for record in caplog.records if "approximated" in record.getMessage()]
    assert len(approximated) == 1 and approximated[0].levelno == logging.ERROR


def test_the_fallback_is_silent_when_the_margin_fits_whole_seconds(make_limit, caplog):
    caplog.set_level(logging.ERROR, logger="partner_center")
    limit = make_limit("2/minute", "ratelimit-fallback-test://", margin=0.5)
    assert [limit.try_acquire(), limit.try_acquire()] == [0.0, 0.0]
    assert 85 < limit.try_acquire() <= 90
    assert caplog.records == []


# --- the transport ------------------------------------------------------------------------------------------------


class _Recorded(RateLimit):
    """Our limiter, noting when each slot is taken; `slow_first` holds the first slot that long before returning it
    (a busy machine between taking a slot and sending)."""

    def __init__(self, *args, events: list[str], slow_first: float = 0.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.events = events
        self.slow_first = slow_first

    def take(self, kind, *, deadline, monotonic=time.monotonic) -> Slot:
        slot = super().take(kind, deadline=deadline, monotonic=monotonic)
        self.events.append("slot")
        if self.slow_first:
            time.sleep(self.slow_first)
            self.slow_first = 0.0
        return slot


class _RecordedTokens(StaticTokenProvider):
    def __init__(self, events: list[str]) -> None:
        super().__init__("a-token")
        self.events = events

    def token(self) -> str:
        self.events.append("token")
        return super().token()


def _client(rate_limit: RateLimit, events: list[str]) -> PartnerCenterClient:
    tokens = _RecordedTokens(events)
    return PartnerCenterClient(
        base_url=BASE,
        app_tokens=tokens,
        user_tokens=tokens,
        connect_timeout=2,
        read_timeout=2,
        retry_budget=5,
        cache_ttl=0,
        rate_limit=rate_limit,
    )


@pytest.fixture
def wire() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        mock.get(f"{BASE}/v1/customers/{TENANT}/directSignedMicrosoftCustomerAgreementStatus", json={"isSigned": True})
        yield mock


def test_the_token_is_fetched_before_the_slot_is_taken(wire):
    events: list[str] = []
    limit = _Recorded("5/second", storage_uri="memory://", namespace="t", margin=0.1, events=events)
    _client(limit, events).get_direct_signed_status(TENANT)
    assert events == ["token", "slot"]
    assert wire.calls[0].request.headers["Authorization"] == "Bearer a-token"


def test_a_slot_held_too_long_before_sending_is_given_back_and_a_fresh_one_taken(wire):
    """Margin 0.6 of a second: a slot older than 0.3 s is stale. The first is held 0.45 s, given back, and the call
    goes with a second one: the window holds one slot for the one call sent."""
    events: list[str] = []
    limit = _Recorded("2/second", storage_uri="memory://", namespace="t", margin=0.6, events=events, slow_first=0.45)
    _client(limit, events).get_direct_signed_status(TENANT)
    assert events == ["token", "slot", "slot"] and len(wire.calls) == 1
    assert limit.try_acquire() == 0.0  # the given-back slot is free again
    assert limit.try_acquire() > 0


def test_without_a_margin_a_slow_slot_is_kept(wire):
    events: list[str] = []
    limit = _Recorded("2/second", storage_uri="memory://", namespace="t", events=events, slow_first=0.15)
    _client(limit, events).get_direct_signed_status(TENANT)
    assert events == ["token", "slot"]


def test_the_client_is_rebuilt_when_the_margin_changes(settings):
    settings.PARTNER_CENTER_RATE_LIMIT = "5/second"
    settings.PARTNER_CENTER_RATE_LIMIT_STORAGE = "memory://"
    settings.PARTNER_CENTER_RATE_LIMIT_MARGIN = 0.1
    before = get_client()
    settings.PARTNER_CENTER_RATE_LIMIT_MARGIN = 0.3
    after = get_client()
    assert after is not before and after.rate_limit.window_ms == 1300


# --- the simulator: Microsoft's exact limit, checked as the call arrives -----------------------------------------


def test_the_simulator_checks_its_limit_before_counting_the_call(db, client, settings, monkeypatch):
    settings.PARTNER_CENTER_SIMULATOR_RATE_LIMIT = "2/minute"
    settings.PARTNER_CENTER_RATE_LIMIT_MARGIN = 0.5  # ours: the simulator's own stays exact
    faults.reset_calls()
    order: list[str] = []
    over_rate_limit, count_call = faults.over_rate_limit, faults.count_call

    def checking() -> float | None:
        order.append("limit")
        return over_rate_limit()

    def counting(endpoint: str) -> None:
        order.append(f"count {endpoint}")
        count_call(endpoint)

    monkeypatch.setattr(faults, "over_rate_limit", checking)
    monkeypatch.setattr(faults, "count_call", counting)
    statuses = [
        client.get(
            "/simulator/partner-center/v1/agreements",
            {"agreementType": "MicrosoftCustomerAgreement"},
            HTTP_AUTHORIZATION="Bearer t",
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert order[:2] == ["limit", "count agreements"]
    assert faults._rate_limit().window_ms == 60_000
    assert faults.call_counts()["agreements"] == 3 and faults.call_counts()[faults.OVER_LIMIT] == 1


def test_our_limit_with_its_margin_keeps_every_call_under_the_simulators_same_limit(pc_simulator, settings, redis_url):
    """Ours and the simulator's are the same figure, 5 a second; our window is 1.5 s. Workers (threads, each its
    own client and Redis connection) call as fast as they can: none is over the simulator's limit."""
    settings.PARTNER_CENTER_RATE_LIMIT = "5/second"
    settings.PARTNER_CENTER_RATE_LIMIT_STORAGE = redis_url
    settings.PARTNER_CENTER_RATE_LIMIT_MARGIN = 0.5
    settings.PARTNER_CENTER_SIMULATOR_RATE_LIMIT = "5/second"
    settings.REDIS_KEY_PREFIX = f"test-{uuid.uuid4().hex}:"
    pc_simulator.reset_calls()
    tenant = uuid.uuid4()
    pc_simulator.add_customer(tenant)
    errors: list[Exception] = []

    def worker() -> None:
        client = PartnerCenterClient.from_settings()
        try:
            for _ in range(6):
                client.get_direct_signed_status(str(tenant))
        except PartnerCenterError as error:
            errors.append(error)
        finally:
            connection.close()

    workers = 2
    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    calls = pc_simulator.calls()
    assert errors == []
    assert calls["direct_signed_status"] == 6 * workers
    assert calls.get("over_limit", 0) == 0
