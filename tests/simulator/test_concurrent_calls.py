"""Many first calls to an endpoint at once: every one is answered and counted (PostgreSQL, real threads)."""

import threading

import pytest
import requests

from demo.simulator import seed_simulator

pytestmark = pytest.mark.postgres


def test_concurrent_first_calls_are_all_answered_and_counted(pc_simulator):
    seed_simulator()
    url = f"{pc_simulator.base_url}/v1/agreements?agreementType=MicrosoftCustomerAgreement"
    barrier, statuses = threading.Barrier(12), []

    def call() -> None:
        barrier.wait(timeout=30)
        statuses.append(requests.get(url, headers={"Authorization": "Bearer t"}, timeout=30).status_code)

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * 12
    assert pc_simulator.calls()["agreements"] == 12
