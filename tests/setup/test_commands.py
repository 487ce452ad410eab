"""Commands that say what they did and exit non-zero when they could not: mca_export, mca_deliver, and no kombu
"No hostname was supplied" warning when tasks run in-process."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from urllib.parse import urlparse

import pytest
from django.core.management import CommandError, call_command

from mca.choices import DeliveryState
from mca.models import AcceptanceDelivery
from tests.factories import AccountFactory
from tests.setup.helpers import UNREACHABLE, confirm, make_failing, make_refused


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- mca_export ---


def pack_file(pack, name: str) -> str:
    """One file of an evidence pack (a zip with one folder inside)."""
    with zipfile.ZipFile(pack) as archive:
        return archive.read(f"{pack.stem}/{name}").decode()


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["id", "name", "tenant", "--account"])
def test_export_finds_the_customer_by_id_name_or_tenant(tmp_path, demo, demo_user, how):
    litware = demo["litware"]
    confirm(demo, demo_user, "litware", "reseller")
    value = {
        "id": [str(litware.pk)],
        "name": ["litware"],  # any case
        "tenant": [str(litware.partner_center_tenant_id)],
        "--account": ["--account", str(litware.pk)],
    }[how]
    out = run("mca_export", *value, "--out", str(tmp_path))
    [pack] = list(tmp_path.iterdir())
    assert pack.name.startswith(f"mca-evidence-account-{litware.pk}-") and pack.suffix == ".zip"
    assert f"Evidence for Litware (account {litware.pk}, Contoso Reseller): 1 record(s) written to {pack}" in out
    assert [r["account_name"] for r in json.loads(pack_file(pack, "records.json"))] == ["Litware"]


@pytest.mark.django_db
def test_export_writes_under_evidence_by_default(tmp_path, monkeypatch, demo, demo_user):
    confirm(demo, demo_user, "litware", "reseller")
    monkeypatch.chdir(tmp_path)
    out = run("mca_export", "Litware")
    [folder] = list((tmp_path / "evidence").iterdir())
    assert f"written to evidence/{folder.name}" in out


def test_evidence_folder_is_ignored_by_git():
    from django.conf import settings

    ignored = (settings.BASE_DIR / ".gitignore").read_text().splitlines()
    assert "evidence/" in ignored


@pytest.mark.django_db
def test_export_of_a_customer_without_records_says_so_and_still_writes(tmp_path, demo):
    out = run("mca_export", "Coho Winery", "--out", str(tmp_path))
    assert "no acceptance record for Coho Winery: the export shows what is known" in out
    [pack] = list(tmp_path.iterdir())
    assert json.loads(pack_file(pack, "records.json")) == []
    assert "Acceptance known now: Nothing is known here" in pack_file(pack, "README.md")


@pytest.mark.django_db
def test_export_of_an_unknown_name_fails_listing_similar_names(tmp_path, demo):
    with pytest.raises(CommandError) as failure:
        run("mca_export", "Ski", "--out", str(tmp_path))
    message = str(failure.value)
    assert "No account named 'Ski'" in message
    assert f"id {demo['alpine-contoso'].pk}: Alpine Ski House (Contoso Reseller" in message
    assert f"id {demo['alpine-fabrikam'].pk}: Alpine Ski House (Fabrikam Cloud" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_export_of_a_name_nobody_has_fails(tmp_path, demo):
    with pytest.raises(CommandError, match=r"No account named 'Nobody Ltd'\.$"):
        run("mca_export", "Nobody Ltd", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="No account has the Partner Center tenant id"):
        run("mca_export", "00000000-0000-0000-0000-000000000001", "--out", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_export_of_an_ambiguous_name_fails_listing_the_candidates(tmp_path, demo):
    twin = AccountFactory(name="Litware", reseller=None, partner_center_tenant_id=None)
    with pytest.raises(CommandError) as failure:
        run("mca_export", "Litware", "--out", str(tmp_path))
    message = str(failure.value)
    assert "2 accounts are named 'Litware' and they are different customers" in message
    assert f"id {demo['litware'].pk}: Litware (Contoso Reseller, tenant " in message
    assert f"id {twin.pk}: Litware (CSP direct, not synced)" in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.django_db
def test_export_of_a_name_shared_by_accounts_of_one_tenant_is_that_customer(tmp_path, demo):
    out = run("mca_export", "Alpine Ski House", "--out", str(tmp_path))
    assert "no acceptance record for Alpine Ski House" in out
    assert len(list(tmp_path.iterdir())) == 1


# --- mca_deliver ---


@pytest.mark.django_db
def test_deliver_lists_a_failing_delivery_with_its_error_and_next_try_and_fails(demo, demo_user):
    record = confirm(demo, demo_user, "litware", "reseller")
    delivery = make_failing(record)
    with pytest.raises(CommandError, match="1 delivery is still failing") as failure:
        out = io.StringIO()
        call_command("mca_deliver", "--list", stdout=out)
    listed = out.getvalue()
    assert "1 failing (retried with backoff):" in listed
    assert f"record #{record.sequence} for Litware" in listed
    assert UNREACHABLE in listed
    next_try = delivery.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S")
    assert f"next try {next_try} UTC" in listed
    assert "mca_deliver --retry-failing" in str(failure.value)


@pytest.mark.django_db
def test_deliver_lists_refused_deliveries_as_refused_for_good(demo, demo_user):
    record = confirm(demo, demo_user, "fourth-coffee", "bss")
    make_refused(record, "Partner Center keeps an older confirmation by Jane Smith (600061)")
    out = run("mca_deliver", "--list")  # refused ones are not retried: nothing to fail on
    assert "1 refused by Partner Center (the customer must accept again):" in out
    assert f"refused  record #{record.sequence} for Fourth Coffee" in out
    assert "older confirmation by Jane Smith (600061)" in out
    assert "Partner Center said no for good; not retried" in out


@pytest.mark.django_db
def test_deliver_with_nothing_failing_says_so(demo):
    out = run("mca_deliver")
    assert "0 due deliveries sent to the delivery task." in out
    assert "No delivery is failing." in out


@pytest.fixture
def sim(pc_simulator, demo, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.0
    # About each call's own retries: the shared circuit (tests/partner_center/test_health.py) is off here.
    settings.PARTNER_CENTER_BREAKER_FAILURES = 0
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    return pc_simulator


def test_retry_failing_with_partner_center_down_prints_the_outcome_and_fails(sim, demo, demo_user):
    sim.set_fault(mode="down")
    record = confirm(demo, demo_user, "litware", "reseller")
    delivery = make_failing(record, in_minutes=60)  # not due for an hour: --retry-failing sends it anyway
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 delivery is still failing") as failure:
        call_command("mca_deliver", "--retry-failing", stdout=out)
    printed = out.getvalue()
    assert "Retrying 1 failing delivery now:" in printed
    assert f"failing  record #{record.sequence} for Litware: Partner Center could not be reached." in printed
    assert "[PartnerCenterUnavailable" in printed
    assert f"Partner Center at {sim.base_url}" in str(failure.value)
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.FAILING and delivery.attempts == 4


def test_retry_failing_once_partner_center_answers_delivers_and_succeeds(sim, demo, demo_user):
    sim.set_fault(mode="down")
    record = confirm(demo, demo_user, "litware", "reseller")
    make_failing(record, in_minutes=60)
    sim.clear_faults()
    sim.reset_calls()
    printed = run("mca_deliver", "--retry-failing")
    assert f"sent     record #{record.sequence} for Litware (HTTP 201)" in printed
    assert "No delivery is failing." in printed
    assert AcceptanceDelivery.objects.get(record=record).state == DeliveryState.SENT
    assert sim.calls()["confirm_acceptance"] == 1


@pytest.mark.django_db
def test_retry_failing_with_nothing_failing_says_so(demo):
    assert "No failing delivery to retry." in run("mca_deliver", "--retry-failing")


# --- no kombu warning when tasks run in-process ---


def test_in_process_broker_names_a_host():
    from config.celery import app

    assert app.conf.task_always_eager
    assert urlparse(app.conf.broker_url).hostname  # kombu warns "No hostname was supplied" without one


@pytest.mark.django_db
def test_running_a_command_that_sends_a_task_logs_no_hostname_warning(demo, demo_user, caplog, settings):
    from config.celery import app

    settings.PARTNER_CENTER_RETRY_BUDGET = 0.2
    # About each call's own retries: the shared circuit (tests/partner_center/test_health.py) is off here.
    settings.PARTNER_CENTER_BREAKER_FAILURES = 0
    confirm(demo, demo_user, "litware", "reseller")  # a pending delivery, due now (after-commit not run here)
    # A fresh process: no producer pool yet, so the first task opens the in-memory connection (where kombu warns).
    app.amqp._producer_pool = None
    app._pool = None
    # Partner Center is not reachable in tests: the delivery fails, so the command does.
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(CommandError):
            run("mca_deliver")
    finally:
        # Leave no in-memory producer pool behind for later tests that point the app at a real broker.
        app.close()
        app.amqp._producer_pool = None
    assert not [r for r in caplog.records if "No hostname was supplied" in r.getMessage()]
    assert [r for r in caplog.records if r.name == "mca.delivery"]  # the task did run in-process
