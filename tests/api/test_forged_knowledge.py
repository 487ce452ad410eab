"""Issue 17, attack 4: a `CustomerKnowledge` row forged by a database insider ("accepted directly at Microsoft")
made the gate say "not needed", so an order went through with no record, and verify said intact. Knowledge rows are
sealed like records now (mca.seal): a row that does not verify counts as unknown and is named by verification."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from bss.choices import Operation
from bss.models import Account, Order
from mca import gate
from mca.attestation.legacy import confirm_acceptance
from mca.chain import BreakKind
from mca.choices import AcceptanceKind
from mca.knowledge import knowledge_key, known_acceptance
from mca.models import CustomerKnowledge
from mca.verify import verify_chain
from tests.api.conftest import assert_problem
from tests.mca.helpers import context, form_data

NEW = [Operation.NEW_PURCHASE]


def forge(account: Account, **changes) -> None:
    """What a database insider writes: a plain INSERT of an "accepted" row, with a made-up MAC."""
    values = {
        "key": knowledge_key(account),
        "kind": AcceptanceKind.DIRECT_AT_MICROSOFT,
        "accepted_at": timezone.now(),
        "template_id": "",
        "confirmed_by": "",
        "updated_at": timezone.now(),
        "mac_key_id": "dev",
        "mac": "0" * 64,
        **changes,
    }
    columns = ", ".join(connection.ops.quote_name(name) for name in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO mca_customerknowledge ({columns}) VALUES ({', '.join(['%s'] * len(values))})",
            list(values.values()),
        )


def loaded(account: Account) -> Account:
    return gate.with_known_acceptance(Account.objects.filter(pk=account.pk)).get()


def test_a_forged_accepted_row_counts_as_unknown_and_no_order_is_placed(api, demo, microsoft_product):
    account = demo["northwind"]
    forge(account)
    assert gate.check(account, NEW).needed
    assert gate.check(loaded(account), NEW).needed  # the knowledge read with the account, as checkout does
    assert known_acceptance(account) is None
    response = api("customer").post(
        "/api/v1/orders/",
        {"account": account.pk, "lines": [{"product": microsoft_product.pk, "quantity": 5}]},
        format="json",
    )
    assert_problem(response, 409, "mca_acceptance_required")
    assert not Order.objects.exists()


def test_a_forged_row_is_named_by_verification(demo):
    forge(demo["northwind"])
    result = verify_chain()
    assert [b.kind for b in result.breaks] == [BreakKind.KNOWLEDGE]
    assert str(result.first_break) == (
        f"customer knowledge {knowledge_key(demo['northwind'])} (id {CustomerKnowledge.objects.get().pk}) does not "
        "verify: its MAC does not verify: it was written or edited by someone without the log's key; the gate "
        "treats the customer as unknown and asks again"
    )
    with pytest.raises(CommandError, match=r"customer knowledge .* does not verify"):
        call_command("mca_verify_log", "--no-progress", stdout=io.StringIO())


def test_a_row_without_any_mac_is_named_as_such(demo):
    forge(demo["northwind"], mac="", mac_key_id="")
    assert "carries no MAC" in verify_chain().first_break.problem


def test_a_sealed_row_edited_to_something_stronger_no_longer_counts(demo, demo_user):
    """A stale partner attestation upgraded in place to "accepted directly at Microsoft"."""
    account = demo["litware"]
    confirm_acceptance(actor=demo_user("reseller"), account=account, data=form_data(), context=context())
    assert not gate.check(account, NEW).needed
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE mca_customerknowledge SET kind = %s WHERE key = %s",
            [AcceptanceKind.DIRECT_AT_MICROSOFT, knowledge_key(account)],
        )
    assert known_acceptance(account) is None
    assert [b.kind for b in verify_chain().breaks] == [BreakKind.KNOWLEDGE]


def test_an_acceptance_after_a_forged_row_replaces_it_whole(demo, demo_user):
    account = demo["northwind"]
    forge(account)
    record = confirm_acceptance(actor=demo_user("customer"), account=account, data=form_data(), context=context())
    knowledge = known_acceptance(account)
    assert (knowledge.kind, knowledge.record_id) == (AcceptanceKind.CONFIRMED_HERE, record.pk)
    assert verify_chain().ok


def test_rows_the_application_writes_verify(demo, demo_user):
    confirm_acceptance(actor=demo_user("customer"), account=demo["northwind"], data=form_data(), context=context())
    confirm_acceptance(actor=demo_user("reseller"), account=demo["litware"], data=form_data(), context=context())
    assert CustomerKnowledge.objects.count() == 2
    assert all(row.mac and row.mac_key_id == "dev" for row in CustomerKnowledge.objects.all())
    assert verify_chain().ok
