"""Two people (or twenty) confirming at once, and a double-clicked submit: on PostgreSQL, with real locks."""

import threading

import pytest
from django.db import connection

from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState
from mca.models import AcceptanceDelivery, AcceptanceRecord
from mca.verify import verify_chain
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


def test_chain_lock_covers_only_the_seal(transactional_db, demo, demo_user):
    """What runs while the chain head is locked bounds confirmations per second: after the lock, only the
    statement that inserts the record and moves the head, and the commit. Knowledge and the outbox row come first."""
    from django.test.utils import CaptureQueriesContext

    northwind, customer = demo["northwind"], demo_user("customer")
    confirm_acceptance(
        actor=customer, account=northwind, data=form_data(email="first@northwind.example"), context=context()
    )
    with CaptureQueriesContext(connection) as queries:
        record = confirm_acceptance(actor=customer, account=northwind, data=form_data(), context=context())
    statements = [query["sql"] for query in queries.captured_queries]
    # The lock is taken by the owner's SECURITY DEFINER function (the runtime role may not SELECT ... FOR UPDATE).
    locked_at = next(i for i, sql in enumerate(statements) if "mca_lock_chain_head()" in sql)
    after_lock = statements[locked_at + 1 : statements.index("COMMIT") + 1]
    assert len(after_lock) == 2, after_lock
    assert after_lock[0].startswith("WITH inserted AS (INSERT INTO mca_acceptancerecord")
    assert after_lock[1] == "COMMIT"
    before_lock = " ".join(statements[:locked_at])
    assert "mca_customerknowledge" in before_lock and "mca_acceptancedelivery" in before_lock
    # The record was written with the id drawn before the lock, and everything refers to it.
    assert AcceptanceRecord.objects.get(pk=record.pk).sequence == record.sequence == 2
    assert AcceptanceDelivery.objects.get(record=record).record_id == record.pk
    assert verify_chain().ok


def test_concurrent_enhanced_submissions_for_one_customer_leave_one_open_link(
    transactional_db, demo, demo_user, settings
):
    """Submissions for one customer take turns (an advisory lock, no longer the chain lock): the last supersedes
    every other link, so exactly one stays open."""
    from mca import gate
    from mca.choices import AttestationState
    from mca.models import Attestation

    settings.MCA_ATTESTATION_FLOW = "enhanced"
    litware, bss = demo["litware"], demo_user("bss")

    def work(i: int):
        return gate.submit_acceptance(
            actor=bss,
            account=litware,
            data={
                "signatory_first_name": "Lena",
                "signatory_last_name": "Fischer",
                "signatory_email": f"lena{i}@litware.example",
                "company_name": "Litware",
                "authority_confirmed": "on",
            },
            context=context(channel="bss_execution"),
        ).record.sequence

    results = run_at_once(8, work)
    assert all(isinstance(r, int) for r in results), results
    open_links = Attestation.objects.filter(state__in=[AttestationState.CREATING, AttestationState.PENDING])
    assert open_links.count() == 1
    assert Attestation.objects.filter(state=AttestationState.SUPERSEDED).count() == 7
    assert verify_chain().ok
