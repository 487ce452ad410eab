"""mca_reconcile: ask Partner Center (the simulator, over real HTTP) about synced customers unknown here."""

import io
import threading
from collections import Counter

import pytest
from django.core.management import call_command

import mca.recheck
import mca.reconcile
from bss.models import Account
from demo.accounts import demo_tenant_id
from mca.attestation.legacy import confirm_acceptance
from mca.choices import AcceptanceKind, ReasonCode
from mca.models import CustomerKnowledge
from mca.reconcile import reconcile_unknown, unknown_synced_accounts
from tests.mca.helpers import context, form_data

# What Partner Center (the simulator's demo) says about the demo customers the spec names.
EXPECTED = {
    "adventure-works": AcceptanceKind.PARTNER_CENTER_ATTESTATION,  # a partner confirmation from 2024
    "litware": ReasonCode.NOT_ACCEPTED,
    "alpine-ski-house": ReasonCode.NOT_ACCEPTED,  # two accounts (Contoso's, Fabrikam's), one tenant
    "fourth-coffee": ReasonCode.STALE_ATTESTATION,  # a partner confirmation from 2021, before the refresh
    "coho-winery": ReasonCode.CLOUD_AGREEMENT_EXPIRED,  # only a Microsoft Cloud Agreement
}


def tenant(key: str) -> str:
    return str(demo_tenant_id(key))


def synced_tenants() -> set[str]:
    ids = Account.objects.filter(partner_center_tenant_id__isnull=False).values_list(
        "partner_center_tenant_id", flat=True
    )
    return {str(value) for value in ids}


def reset_call_counts(pc_simulator) -> None:
    """Zero the simulator's call counters, with their rows in place: the simulator creates a counter row on an
    endpoint's first call (get_or_create), which concurrent first calls race on."""
    from partner_center.simulator.faults import ENDPOINT_NAMES
    from partner_center.simulator.models import SimCallCount

    pc_simulator.reset_calls()
    SimCallCount.objects.bulk_create([SimCallCount(endpoint=name, count=0) for name in ENDPOINT_NAMES])


@pytest.fixture(autouse=True)
def _counters(request):
    if "pc_simulator" in request.fixturenames:
        reset_call_counts(request.getfixturevalue("pc_simulator"))


@pytest.fixture
def asked_tenants(monkeypatch):
    """The tenants a re-check asked about (`recheck_acceptance`, the one path), from any worker thread."""
    asked, lock = [], threading.Lock()
    real = mca.recheck.recheck_acceptance

    def spy(account, **kwargs):
        with lock:
            asked.append(str(account.partner_center_tenant_id))
        return real(account, **kwargs)

    monkeypatch.setattr(mca.recheck, "recheck_acceptance", spy)
    return asked


@pytest.mark.django_db
def test_candidates_are_one_account_per_unknown_tenant(demo):
    tenants = [str(account.partner_center_tenant_id) for account in unknown_synced_accounts()]
    assert len(tenants) == len(set(tenants)) == len(synced_tenants())
    assert {tenant(key) for key in EXPECTED} <= set(tenants)
    assert Account.objects.filter(partner_center_tenant_id=demo_tenant_id("alpine-ski-house")).count() == 2


def test_reconcile_asks_each_unknown_tenant_once_and_remembers_positive_answers(demo, pc_simulator, asked_tenants):
    progress = []
    summary = reconcile_unknown(concurrency=3, progress=progress.append)

    unknown = len(synced_tenants())
    assert summary.candidates == summary.asked == unknown and sum(progress) == unknown
    assert summary.errors == []
    assert {key: summary.outcomes[tenant(key)] for key in EXPECTED} == EXPECTED
    assert summary.accepted[AcceptanceKind.PARTNER_CENTER_ATTESTATION] >= 1
    assert summary.still_needed[ReasonCode.NOT_ACCEPTED] >= 2
    assert summary.still_needed[ReasonCode.STALE_ATTESTATION] >= 1
    assert sum(summary.accepted.values()) + sum(summary.still_needed.values()) == unknown

    assert Counter(asked_tenants)[tenant("alpine-ski-house")] == 1
    assert set(Counter(asked_tenants).values()) == {1}

    knowledge = CustomerKnowledge.objects.get(key=f"tenant:{tenant('adventure-works')}")
    assert knowledge.kind == AcceptanceKind.PARTNER_CENTER_ATTESTATION and knowledge.verified_at is not None
    for key in ("litware", "alpine-ski-house", "fourth-coffee", "coho-winery"):
        assert not CustomerKnowledge.objects.filter(key=f"tenant:{tenant(key)}").exists()


def test_partner_center_is_asked_once_per_tenant_not_per_account(demo, pc_simulator):
    summary = reconcile_unknown(concurrency=1)  # one at a time: the simulator's counters are exact then
    assert summary.errors == []
    calls = pc_simulator.calls()
    assert calls["customer_agreements"] == len(synced_tenants())  # Alpine Ski House: two accounts, one question
    assert calls["customer_agreements"] < Account.objects.filter(partner_center_tenant_id__isnull=False).count()


def test_a_second_run_asks_only_the_still_unknown(demo, pc_simulator, asked_tenants):
    first = reconcile_unknown(concurrency=1)  # one at a time: the simulator's counters are exact then
    reset_call_counts(pc_simulator)
    asked_tenants.clear()
    second = reconcile_unknown(concurrency=1)
    assert second.candidates == first.candidates - sum(first.accepted.values())
    assert tenant("adventure-works") not in asked_tenants
    assert dict(second.accepted) == {}
    # At most one question per tenant (the client may answer a repeated question from its short cache).
    assert pc_simulator.calls()["customer_agreements"] <= second.candidates


def test_customers_known_here_are_not_asked(demo, demo_user, pc_simulator, asked_tenants):
    confirm_acceptance(actor=demo_user("reseller"), account=demo["alpine-contoso"], data=form_data(), context=context())
    summary = reconcile_unknown(concurrency=2)
    assert summary.candidates == len(synced_tenants()) - 1
    assert tenant("alpine-ski-house") not in asked_tenants and tenant("alpine-ski-house") not in summary.outcomes


def test_persistent_throttling_pauses_retries_then_reports_it(demo, pc_simulator, settings):
    """Partner Center throttles every question with a Retry-After longer than the gate's budget, so each answer
    comes back at once as "throttled" (the client does not sleep past its budget); after the first 429 the others
    are not even sent: Retry-After pauses every process's look-ups (partner_center.health)."""
    settings.MCA_RECONCILE_THROTTLE_PAUSE = 0.001
    settings.MCA_RECONCILE_THROTTLE_MAX_PAUSE = 0.01
    pc_simulator.set_fault(mode="throttle", retry_after=120, paths="v1/customers")
    summary = reconcile_unknown(concurrency=2)
    unknown = len(synced_tenants())
    assert summary.throttled_pauses == unknown * mca.reconcile.MAX_THROTTLE_RETRIES
    assert summary.asked == unknown * (mca.reconcile.MAX_THROTTLE_RETRIES + 1)
    assert dict(summary.still_needed) == {ReasonCode.PARTNER_CENTER_THROTTLED: unknown}
    # Only the questions already in flight when the first 429 came back reached Partner Center.
    assert 1 <= pc_simulator.calls()["customer_agreements"] <= 2


def test_throttling_that_passes_lets_the_tenant_be_asked_again(demo, pc_simulator, settings):
    settings.MCA_RECONCILE_THROTTLE_PAUSE = 0.01
    pc_simulator.set_fault(mode="throttle", retry_after=0, paths="v1/customers", count=6)
    summary = reconcile_unknown(concurrency=1)
    assert summary.throttled_pauses >= 1
    assert {key: summary.outcomes[tenant(key)] for key in EXPECTED} == EXPECTED


def test_command_prints_the_summary(demo, pc_simulator):
    out = io.StringIO()
    call_command("mca_reconcile", "--concurrency", "2", "--no-progress", stdout=out)
    text = out.getvalue()
    unknown = len(synced_tenants())
    assert f"Unknown customers (tenants): {unknown}; questions asked: {unknown}" in text
    assert "Partner confirmation reported by Partner Center: 1" in text
    assert "stale_attestation (Only a partner confirmation from before the MCA refresh): 1" in text
    assert "Errors: 0" in text


def test_command_names_each_customer_still_needing_acceptance_and_why(pc_simulator, demo):
    out = io.StringIO()
    call_command("mca_reconcile", "--no-progress", stdout=out)
    text = out.getvalue()
    assert f"- Litware ({tenant('litware')}): Partner Center has no MCA acceptance for this customer" in text
    assert f"- Fourth Coffee ({tenant('fourth-coffee')}): The only partner confirmation is from 2021-06-15" in text


def test_command_fails_naming_the_url_when_partner_center_is_unreachable(pc_simulator, demo, settings):
    from django.core.management import CommandError

    settings.PARTNER_CENTER_RETRY_BUDGET = 0.5
    settings.MCA_STATUS_TIME_BUDGET = 0.5
    pc_simulator.set_fault(mode="down")
    with pytest.raises(CommandError) as failed:
        call_command("mca_reconcile", "--no-progress", stdout=io.StringIO())
    assert pc_simulator.base_url in str(failed.value) and "could not answer" in str(failed.value)


def test_reconcile_settles_a_pending_attestation(pc_simulator, demo, demo_user, settings):
    from mca import gate
    from mca.choices import AttestationState
    from mca.models import Attestation
    from tests.mca.test_enhanced_flow import signatory

    settings.MCA_ATTESTATION_FLOW = "enhanced"
    litware = demo["litware"]
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"), account=litware, data=signatory(), context=context(template_id="")
    )
    pc_simulator.accept_attestation(outcome.attestation.attestation_id)
    summary = reconcile_unknown(concurrency=1)
    assert summary.attestations == Counter({AttestationState.ACCEPTED: 1})
    assert Attestation.objects.get(pk=outcome.attestation.pk).state == AttestationState.ACCEPTED
    assert not gate.check(litware, ["new_purchase"]).needed
