"""Re-checks as runs (mca.recheck): once per account per run, at one shared rate, paused together by a 429."""

import os
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

import mca.recheck
from bss.models import Account
from mca.choices import RecheckOutcome
from mca.models import RecheckItem, RecheckRun
from mca.recheck import ask_chunk, chunks, plan_run, resume_stalled_runs
from partner_center.client import PartnerCenterClient
from partner_center.errors import PartnerCenterError
from tests.redis_support import require_redis

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def synced_tenants() -> int:
    return (
        Account.objects.filter(partner_center_tenant_id__isnull=False)
        .values("partner_center_tenant_id")
        .distinct()
        .count()
    )


@pytest.fixture
def counted(pc_simulator):
    from partner_center.simulator.faults import ENDPOINT_NAMES
    from partner_center.simulator.models import SimCallCount

    pc_simulator.reset_calls()
    SimCallCount.objects.bulk_create([SimCallCount(endpoint=name, count=0) for name in ENDPOINT_NAMES])
    return pc_simulator


@pytest.fixture
def redis_url():
    client = require_redis(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


def test_a_chunk_delivered_twice_asks_each_account_once(demo, counted):
    run = plan_run(source="test")
    assert run.planned == synced_tenants() and run.finished_at is None
    (first, last), *rest = list(chunks(run, size=1000))
    assert rest == []

    ask_chunk(run.pk, first, last)
    asked_once = counted.calls()["customer_agreements"]
    ask_chunk(run.pk, first, last)  # the broker delivers the same message again

    run.refresh_from_db()
    assert asked_once == run.planned == counted.calls()["customer_agreements"]
    assert run.asked == run.done == run.planned and run.finished_at is not None
    assert run.accepted >= 1 and run.not_accepted >= 1
    assert set(run.items.values_list("attempts", flat=True)) == {1}
    assert not run.items.filter(outcome="").exists()


def test_an_account_held_by_a_live_worker_is_left_to_it(demo, counted):
    run = plan_run(source="test")
    held = run.items.order_by("pk").first()
    RecheckItem.objects.filter(pk=held.pk).update(claimed_until=timezone.now() + timedelta(minutes=1))
    (first, last), *_ = list(chunks(run, size=1000))
    ask_chunk(run.pk, first, last)
    held.refresh_from_db()
    assert held.outcome == "" and held.attempts == 0
    assert counted.calls()["customer_agreements"] == run.planned - 1
    assert RecheckRun.objects.get(pk=run.pk).finished_at is None  # not finished while one is open


def test_a_run_stalled_by_a_killed_worker_is_resumed_and_asks_only_what_is_open(demo, counted, settings):
    settings.MCA_RECHECK_STALL_SECONDS = 60
    run = plan_run(source="test")
    items = list(run.items.order_by("pk"))
    (first, _), *_ = list(chunks(run, size=1000))
    ask_chunk(run.pk, first, items[1].pk)  # two answered, then the worker died holding the third
    RecheckItem.objects.filter(pk=items[2].pk).update(claimed_until=timezone.now() - timedelta(seconds=1), attempts=1)
    RecheckRun.objects.filter(pk=run.pk).update(last_progress_at=timezone.now() - timedelta(minutes=5))

    assert resume_stalled_runs() == 1  # no broker in tests: the chunks run in-process
    run.refresh_from_db()
    assert run.finished_at is not None and run.done == run.planned
    assert counted.calls()["customer_agreements"] == run.planned
    assert RecheckItem.objects.get(pk=items[2].pk).attempts == 2  # its first answer was lost with the worker
    assert resume_stalled_runs() == 0


def test_a_429_pauses_every_worker_until_retry_after(demo, counted, monkeypatch):
    """Two workers (threads, one chunk each): Partner Center throttles with a long Retry-After. After the first 429
    no worker sends anything (partner_center.health pauses them all); each account ends "unknown" after the
    retries (the pause itself is not waited out here)."""
    monkeypatch.setattr(mca.recheck.time, "sleep", lambda seconds: None)
    counted.set_fault(mode="throttle", retry_after=120, paths="v1/customers")
    run = plan_run(source="test")
    ids = list(run.items.order_by("pk").values_list("pk", flat=True))
    half = len(ids) // 2
    workers = [
        threading.Thread(target=_ask_in_thread, args=(run.pk, ids[0], ids[half - 1])),
        threading.Thread(target=_ask_in_thread, args=(run.pk, ids[half], ids[-1])),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    run.refresh_from_db()
    assert 1 <= counted.calls()["customer_agreements"] <= 2  # only questions already in flight reached it
    assert run.unknown == run.planned and run.throttled == run.planned * mca.recheck.MAX_THROTTLE_RETRIES
    assert set(run.items.values_list("code", flat=True)) == {"pc_throttled"}


def _ask_in_thread(run_id: int, first: int, last: int) -> None:
    try:
        ask_chunk(run_id, first, last)
    finally:
        connection.close()


def test_the_rate_limit_is_shared_between_workers(counted, settings, redis_url):
    """Two workers (threads, each its own client and Redis connection) call as fast as they can, 14 calls in all;
    the simulator plays Microsoft's limit (ours is set below it, as an operator does: arrival times jitter) and
    counts every call over it: none, because both take slots from one window. Each alone would send 8 a second,
    16 together."""
    settings.PARTNER_CENTER_RATE_LIMIT = "8/second"
    settings.PARTNER_CENTER_RATE_LIMIT_STORAGE = redis_url
    settings.PARTNER_CENTER_SIMULATOR_RATE_LIMIT = "10/second"
    tenant = uuid.uuid4()
    counted.add_customer(tenant)
    errors: list[Exception] = []

    def worker() -> None:
        client = PartnerCenterClient.from_settings()  # a process of its own: its own limiter and connection
        try:
            for _ in range(7):
                client.get_direct_signed_status(str(tenant))
        except PartnerCenterError as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    calls = counted.calls()
    assert errors == []
    assert calls["direct_signed_status"] == 14
    assert calls.get("over_limit", 0) == 0


def test_the_simulator_refuses_calls_over_its_limit(counted, settings):
    settings.PARTNER_CENTER_SIMULATOR_RATE_LIMIT = "2/minute"
    import requests

    answers = [
        requests.get(
            f"{counted.base_url}/v1/agreements",
            params={"agreementType": "MicrosoftCustomerAgreement"},
            headers={"Authorization": "Bearer t"},
            timeout=10,
        )
        for _ in range(3)
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert counted.calls()["over_limit"] == 1


def test_outcomes_are_recorded_per_item(demo, counted):
    run = plan_run(source="test")
    (first, last), *_ = list(chunks(run, size=1000))
    ask_chunk(run.pk, first, last)
    outcomes = dict(run.items.values_list("account__partner_center_tenant_id", "outcome"))
    assert RecheckOutcome.ACCEPTED in outcomes.values() and RecheckOutcome.NOT_ACCEPTED in outcomes.values()
    assert all(item.answered_at for item in run.items.all())
