"""A small re-check run on a real Celery worker through Redis, against PostgreSQL (mca.recheck)."""

import pytest

from bss.models import Account
from mca.models import RecheckRun
from mca.recheck import start_run
from tests.mca.test_celery_worker import Worker, redis_broker, wait_until  # noqa: F401 - redis_broker: a fixture

pytestmark = [pytest.mark.postgres, pytest.mark.celery_worker]


@pytest.mark.usefixtures("redis_broker")
def test_a_run_fanned_out_in_chunks_is_answered_once_per_account_by_a_worker(pc_simulator, demo):
    pc_simulator.reset_calls()
    run, queued = start_run(source="test", chunk_size=2)
    tenants = Account.objects.filter(partner_center_tenant_id__isnull=False).values("partner_center_tenant_id")
    assert run.planned == tenants.distinct().count() and queued == -(-run.planned // 2)
    assert RecheckRun.objects.get(pk=run.pk).done == 0  # published, not run in-process
    worker = Worker(pc_simulator.base_url).start()
    try:
        wait_until(lambda: RecheckRun.objects.get(pk=run.pk).finished_at is not None, timeout=90, what="the run")
    finally:
        worker.stop()
    run.refresh_from_db()
    # Every account answered, each asked once at Partner Center: none answered from a remembered "not accepted".
    assert run.items.filter(outcome="").count() == 0 and run.items.count() == run.planned
    assert pc_simulator.calls()["customer_agreements"] == run.planned
    assert set(run.items.values_list("attempts", flat=True)) == {1}
    assert run.asked == run.done == run.planned
