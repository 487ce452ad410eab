"""Bugs found by independent scenario runs (issue 20, "What was seen" 4), each reproduced as it was seen."""

from __future__ import annotations

import pytest
import requests
from django.contrib.messages import get_messages

from bss.choices import OrderStatus
from bss.services import execution
from mca import gate
from mca.choices import ReasonCode
from tests.bss.conftest import make_order, signatory_data

pytestmark = pytest.mark.django_db(transaction=True)
NEW = ["new_purchase"]


@pytest.fixture
def sim(pc_simulator, demo, settings):
    # No test here provokes a Partner Center fault, so none shortens the client's timeouts or the status budget:
    # a 0.5-s read timeout (and a 2-s status budget) cut healthy answers short on a loaded machine, and "Check
    # now" then failed to provision the order it released (test_check_now_decides_on_the_account_as_...).
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    return pc_simulator


def test_emptying_the_min_date_while_a_stale_answer_is_remembered_does_not_fail_the_gate(sim, demo, settings):
    """Fourth Coffee's only confirmation (2021) is stale; Partner Center's "not accepted" is remembered for
    MCA_NOT_ACCEPTED_TTL. Emptying MCA_ATTESTATION_MIN_DATE ("every attestation counts") then raised TypeError in
    `_stale_reason` for every channel until the cache expired. Now the remembered answer is obsolete: Partner
    Center is asked again and its 2021 confirmation counts."""
    settings.MCA_NOT_ACCEPTED_TTL = 600
    fourth = demo["fourth-coffee"]
    assert gate.check(fourth, NEW).reason_code == ReasonCode.STALE_ATTESTATION

    settings.MCA_ATTESTATION_MIN_DATE = ""
    decision = gate.check(fourth, NEW)

    assert not decision.needed and decision.reason_code == ReasonCode.PARTNER_CENTER_ATTESTATION


def test_check_now_decides_on_the_account_as_provisioning_left_it(sim, demo, demo_user, client, settings):
    """Northwind (not synced) has an order held for its signatory, who has just accepted. BSS "Check now" releases
    and provisions the order in that request (provisioning gives the account its tenant), and then told staff
    "the MCA must be accepted before the first Microsoft order": it decided on the account loaded before."""
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    northwind = demo["northwind"]
    order = make_order(northwind, "MS-M365-E3", 4)
    result = execution.execute_order(
        actor=demo_user("bss"),
        order=order,
        acceptance=signatory_data("Northwind Traders"),
        context=gate.ConfirmationContext(channel="bss_execution"),
    )
    assert result.held and requests.post(result.outcome.link, timeout=10).status_code == 200

    client.force_login(demo_user("bss"))
    response = client.post(f"/bss/accounts/{northwind.pk}/check-now/")

    order.refresh_from_db()
    assert order.status == OrderStatus.PROVISIONED, order.last_error
    said = [str(message) for message in get_messages(response.wsgi_request)]
    assert len(said) == 1 and "were released" in said[0], said
    assert "must be accepted" not in said[0]


def _alpine_signatory(company: str, email: str) -> dict:
    return {
        "signatory_first_name": "Anna",
        "signatory_last_name": "Lidman",
        "signatory_email": email,
        "signatory_phone": "",
        "company_name": company,
        "authority_confirmed": "on",
    }


def test_two_resellers_submitting_at_once_for_one_tenant_leave_one_open_link(
    sim, demo, demo_user, settings, monkeypatch
):
    """Contoso and Fabrikam both manage Alpine Ski House (two accounts, one tenant). Contoso's link is being created
    at Microsoft when Fabrikam's submission supersedes it; the answer for Contoso's then came back and saved the
    whole row as "pending" over "superseded": two open links. Now the newer one is the only open link."""
    from partner_center.client import get_client

    settings.MCA_ATTESTATION_FLOW = "enhanced"
    client = get_client()
    real_create = client.create_enhanced_attestation
    raced: list[str] = []

    def create_while_fabrikam_submits(*args, **kwargs):
        answer = real_create(*args, **kwargs)  # Microsoft created Contoso's link...
        if not raced:  # ...and before its answer is stored, Fabrikam submits for the same tenant
            raced.append("fabrikam")
            gate.submit_acceptance(
                actor=demo_user("wl-bss"),
                account=demo["alpine-fabrikam"],
                data=_alpine_signatory("Alpine Ski House", "fabrikam-named@alpineskihouse.example"),
                context=gate.ConfirmationContext(channel="bss_execution"),
            )
        return answer

    monkeypatch.setattr(client, "create_enhanced_attestation", create_while_fabrikam_submits)
    gate.submit_acceptance(
        actor=demo_user("reseller"),
        account=demo["alpine-contoso"],
        data=_alpine_signatory("Alpine Ski House", "contoso-named@alpineskihouse.example"),
        context=gate.ConfirmationContext(channel="bss_execution"),
    )

    from mca.models import Attestation

    assert raced == ["fabrikam"]
    states = dict(Attestation.objects.values_list("signatory_email", "state"))
    assert states == {
        "contoso-named@alpineskihouse.example": "superseded",
        "fabrikam-named@alpineskihouse.example": "pending",
    }
    older = Attestation.objects.get(signatory_email="contoso-named@alpineskihouse.example")
    assert older.acceptance_url and older.next_check_at is None  # what Microsoft created is kept, not polled
    pending = gate.check(demo["alpine-contoso"], NEW).pending
    assert pending.signatory_email == "fabrikam-named@alpineskihouse.example"


@pytest.mark.postgres
def test_double_clicked_enhanced_submit_creates_the_link_after_commit(sim, demo, demo_user, settings):
    """A double-click (four submits, one idempotency key) on PostgreSQL: the losers used to supersede the winner's
    attestation before their insert failed, holding its row while the winner's after-commit step skipped it as
    locked: the link came only at the next beat poll. Every round must have its link without any poll."""
    from mca.models import Attestation
    from tests.mca.test_concurrency import run_at_once

    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 3600  # no poll would come in time
    northwind, customer = demo["northwind"], demo_user("customer")
    data = {**_alpine_signatory("Northwind Traders", "nancy@northwind.example"), "signatory_first_name": "Nancy"}
    for round_number in range(5):
        key = f"double-click-{round_number}"

        def work(i: int, key: str = key):
            context = gate.ConfirmationContext(channel="storefront", idempotency_key=key)
            return gate.submit_acceptance(actor=customer, account=northwind, data=data, context=context).record.pk

        results = run_at_once(4, work)
        assert all(isinstance(r, int) for r in results) and len(set(results)) == 1, results
        attestation = Attestation.objects.get(form_record__idempotency_key=key)
        assert attestation.state == "pending" and attestation.acceptance_url, (round_number, attestation.state)
        assert Attestation.objects.filter(state__in=["creating", "pending"]).count() == 1


@pytest.mark.postgres
def test_concurrent_submits_for_one_tenant_leave_one_open_link_on_postgresql(sim, demo, demo_user, settings):
    from mca.models import Attestation
    from tests.mca.test_concurrency import run_at_once

    settings.MCA_ATTESTATION_FLOW = "enhanced"
    actors = [(demo_user("reseller"), demo["alpine-contoso"]), (demo_user("wl-bss"), demo["alpine-fabrikam"])]
    for round_number in range(3):

        def work(i: int, round_number: int = round_number):
            actor, account = actors[i]
            email = f"round{round_number}-{i}@alpineskihouse.example"
            context = gate.ConfirmationContext(channel="bss_execution")
            data = _alpine_signatory("Alpine Ski House", email)
            return gate.submit_acceptance(actor=actor, account=account, data=data, context=context).record.pk

        results = run_at_once(2, work)
        assert all(isinstance(r, int) for r in results), results
        assert Attestation.objects.filter(state__in=["creating", "pending"]).count() == 1, round_number
