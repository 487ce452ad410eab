"""The real worker path: tasks published to Redis, run by a `celery worker` process, against PostgreSQL.

Also the crash drill: a worker killed mid-delivery leaves the row in "sending"; after its lease the sweeper
re-enqueues it, and the next worker asks Partner Center first instead of sending it a second time.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState
from mca.delivery import sweep_due_deliveries
from mca.models import AcceptanceDelivery
from partner_center.simulator.models import SimAgreement
from tests.mca.helpers import context, form_data
from tests.redis_support import require_redis

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker]

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline, pause = time.monotonic() + timeout, threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return
        pause.wait(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _drop_pools() -> None:
    celery_app.close()
    celery_app.amqp._producer_pool = None


@pytest.fixture
def redis_broker():
    client = require_redis(REDIS_URL)
    client.flushdb()
    previous = {"task_always_eager": celery_app.conf.task_always_eager, "broker_url": celery_app.conf.broker_url}
    celery_app.conf.update(task_always_eager=False, broker_url=REDIS_URL)
    _drop_pools()  # the producer pool built for the previous broker would still publish there
    yield REDIS_URL
    celery_app.conf.update(**previous)
    _drop_pools()
    client.flushdb()


class Worker:
    def __init__(self, simulator_url: str) -> None:
        db = connection.settings_dict
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": REDIS_URL,
            # The worker's cache in the flushed test database: the local settings' default, a folder in the checkout,
            # outlives the test and would hand the next worker answers remembered for the pinned demo tenants.
            "REDIS_URL": REDIS_URL,
            "PARTNER_CENTER_BASE_URL": simulator_url,
            "PARTNER_CENTER_READ_TIMEOUT": "10",
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> "Worker":
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "-l",
                "info",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def workers(pc_simulator, redis_broker):
    started: list[Worker] = []

    def start() -> Worker:
        worker = Worker(pc_simulator.base_url).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_confirmation_is_delivered_by_a_real_worker_through_redis(pc_simulator, demo, demo_user, workers):
    record = confirm_acceptance(
        actor=demo_user("reseller"), account=demo["litware"], data=form_data(), context=context()
    )
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.PENDING  # published, not run in-process
    workers()
    wait_until(lambda: AcceptanceDelivery.objects.get(pk=delivery.pk).state == DeliveryState.SENT, what="delivery")
    assert pc_simulator.calls()["confirm_acceptance"] == 1


def test_worker_killed_mid_delivery_does_not_lose_or_duplicate_it(pc_simulator, demo, demo_user, workers):
    pc_simulator.set_fault(mode="slow", latency_ms=3000, paths="v1/customers", count=1)
    record = confirm_acceptance(
        actor=demo_user("reseller"), account=demo["litware"], data=form_data(), context=context()
    )
    delivery_id = AcceptanceDelivery.objects.get(record=record).pk
    first = workers()
    wait_until(lambda: AcceptanceDelivery.objects.get(pk=delivery_id).state == DeliveryState.SENDING, what="sending")
    wait_until(lambda: pc_simulator.calls().get("confirm_acceptance") == 1, what="the request to reach Partner Center")
    first.kill()  # mid-request: Partner Center gets it, the worker never records the answer
    assert AcceptanceDelivery.objects.get(pk=delivery_id).state == DeliveryState.SENDING

    # Partner Center finishes the request the dead worker sent (the lease is minutes; the slow answer seconds).
    wait_until(
        lambda: SimAgreement.objects.filter(email="jane.smith@example.com").exists(), what="Partner Center to store it"
    )
    # After the lease, the beat sweeper re-enqueues it; a new worker asks before sending.
    AcceptanceDelivery.objects.filter(pk=delivery_id).update(updated_at=timezone.now() - timedelta(minutes=10))
    assert sweep_due_deliveries() == 1
    workers()
    wait_until(lambda: AcceptanceDelivery.objects.get(pk=delivery_id).state == DeliveryState.SENT, what="recovery")
    calls = pc_simulator.calls()
    assert calls["confirm_acceptance"] == 1  # never sent twice
    assert calls["customer_agreements"] >= 1  # it asked first
    assert SimAgreement.objects.filter(email="jane.smith@example.com").count() == 1
