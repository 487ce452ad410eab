"""Two people (or twenty) confirming at once, and a double-clicked submit: on PostgreSQL, with real locks."""

import threading

import pytest
from django.db import connection

from mca.attestation.legacy import confirm_acceptance
from mca.chain import verify_chain
from mca.choices import DeliveryState
from mca.models import AcceptanceDelivery, AcceptanceRecord
from partner_center.client import get_client
from tests.mca.helpers import context, form_data

pytestmark = [pytest.mark.postgres]


def run_at_once(count: int, work) -> list:
    """Run `work(i)` in `count` threads released together; returns results (or exceptions) by index."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as error:  # reported by the assertions below
            results[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_twenty_concurrent_confirmations_keep_one_linear_chain_and_deliver_each_once(pc_simulator, demo, demo_user):
    litware, reseller = demo["litware"], demo_user("reseller")

    def work(i: int):
        return confirm_acceptance(
            actor=reseller,
            account=litware,
            data=form_data(email=f"signer{i}@litware.example"),
            context=context(),
        ).sequence

    results = run_at_once(20, work)
    assert all(isinstance(r, int) for r in results), results
    assert sorted(results) == list(range(1, 21))
    result = verify_chain()
    assert result.ok and result.checked == 20
    deliveries = AcceptanceDelivery.objects.all()
    assert deliveries.count() == 20
    assert set(deliveries.values_list("state", flat=True)) == {DeliveryState.SENT}
    assert all(d.attempts == 1 for d in deliveries)
    listed = get_client().get_customer_agreements(str(litware.partner_center_tenant_id), use_cache=False)
    assert len({a.primary_contact.email for a in listed}) == 20
    assert pc_simulator.calls()["confirm_acceptance"] == 20


def test_double_clicked_submit_writes_one_record(transactional_db, demo, demo_user):
    northwind, customer = demo["northwind"], demo_user("customer")

    def work(i: int):
        return confirm_acceptance(
            actor=customer, account=northwind, data=form_data(), context=context(idempotency_key="checkout-7f3a")
        ).pk

    results = run_at_once(4, work)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    assert AcceptanceRecord.objects.count() == 1
    assert AcceptanceDelivery.objects.count() == 1
