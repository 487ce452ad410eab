"""`mca.signals.state_changed` from the enhanced flow: a link sent, cancelled, expired, and the signatory's
acceptance, each announced once with the state names of `mca.state`, inside the change's transaction."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bss.choices import Channel
from mca import gate, signals
from mca.attestation.enhanced import _accepted, _expired
from mca.models import Attestation
from partner_center.types import AttestationStatus, EnhancedAttestation, Signatory
from tests.mca.test_enhanced_flow import signatory


@pytest.fixture
def changes(enhanced):
    """Every state_changed sent during the test, as (account id, previous, state, source)."""
    seen = []

    def receiver(sender, *, account, previous, state, source, **kwargs):
        seen.append((account.pk, previous, state, source))

    signals.state_changed.connect(receiver, dispatch_uid="test.state_changes", weak=False)
    yield seen
    signals.state_changed.disconnect(dispatch_uid="test.state_changes")


def send_link(demo, demo_user, key="litware"):
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"),
        account=demo[key],
        data=signatory(company_name=demo[key].name),
        context=gate.ConfirmationContext(channel=Channel.BSS_EXECUTION),
    )
    return Attestation.objects.get(pk=outcome.attestation.pk)


def answer(attestation, status):
    return EnhancedAttestation(
        attestation_id="att-1",
        status=status,
        acceptance_url="https://simulator.example/accept/1",
        expires_at=timezone.now() + timedelta(days=1),
        accepted_at=timezone.now() if status == AttestationStatus.ACCEPTED else None,
        country="US",
        language="en-US",
        signatory=Signatory(first_name="Jane", last_name="Smith", email="jane@example.com", company_name="Litware"),
    )


def test_a_link_sent_then_cancelled(demo, demo_user, changes):
    litware = demo["litware"].pk
    send_link(demo, demo_user)
    assert changes == [(litware, "unknown", "pending", "link_sent")]
    gate.cancel_link(
        actor=demo_user("bss"),
        account=demo["litware"],
        context=gate.ConfirmationContext(channel=Channel.BSS_EXECUTION),
    )
    assert changes[1:] == [(litware, "pending", "unknown", "link_cancelled")]


def test_a_new_link_over_an_open_one_changes_nothing(demo, demo_user, changes):
    send_link(demo, demo_user)
    send_link(demo, demo_user)  # supersedes the first: still pending
    assert [change[3] for change in changes] == ["link_sent"]


def test_a_link_expired(demo, demo_user, changes):
    attestation = send_link(demo, demo_user)
    _expired(attestation, None)
    assert changes[-1] == (demo["litware"].pk, "pending", "expired", "link_expired")


def test_the_signatory_accepted_is_announced_once(demo, demo_user, changes):
    attestation = send_link(demo, demo_user)
    _accepted(attestation, answer(attestation, AttestationStatus.ACCEPTED))
    assert changes[1:] == [(demo["litware"].pk, "pending", "accepted", "signatory_accepted")]


def test_nothing_is_computed_when_nobody_wants_it(demo, demo_user, enhanced):
    """No receiver wants state_changed (no subscription): the sender reads neither the accounts nor the states."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert not signals.wanted(signals.state_changed)
    attestation = send_link(demo, demo_user)
    with CaptureQueriesContext(connection) as queries:
        _expired(attestation, None)
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "mca_attestation" in tables  # the change itself
    assert "bss_account" not in tables and "mca_customerknowledge" not in tables
