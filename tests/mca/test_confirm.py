"""confirm_acceptance (R5–R9): the form, who may confirm for whom, exactly one record, nothing else touched."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from bss.choices import Channel, Operation, Role
from bss.models import Account, Contact
from mca.attestation import AcceptanceInvalid, IdempotencyConflict
from mca.attestation.legacy import confirm_acceptance
from mca.choices import AcceptanceKind, DeliveryState, EvidenceClass
from mca.models import AcceptanceDelivery, AcceptanceRecord, ChainHead, CustomerKnowledge, KnownTemplate
from mca.permissions import can_confirm_for
from mca.status import acceptance_status
from tests.factories import UserFactory
from tests.mca.helpers import TEMPLATE_ID, context, form_data

pytestmark = pytest.mark.django_db


def nothing_written():
    return (
        not AcceptanceRecord.objects.exists()
        and not AcceptanceDelivery.objects.exists()
        and not (CustomerKnowledge.objects.exists())
    )


def test_customer_confirmation_writes_one_complete_first_party_record(demo, demo_user):
    northwind = demo["northwind"]
    record = confirm_acceptance(
        actor=demo_user("customer"),
        account=northwind,
        data=form_data(phone="(206) 555-0100"),
        context=context(order_number="SO-000042", operation=Operation.NEW_PURCHASE),
    )
    assert AcceptanceRecord.objects.count() == 1
    record = AcceptanceRecord.objects.get()
    assert (record.sequence, record.prev_hash) == (1, "0" * 64)
    assert len(record.entry_hash) == 64
    assert (record.actor_username, record.actor_display_name, record.actor_role) == (
        "customer",
        "Nancy Davolio",
        Role.CUSTOMER,
    )
    assert record.actor_organisation == "Northwind Traders"
    assert (record.account_id, record.account_name, record.reseller_id, record.tenant_id) == (
        northwind.pk,
        "Northwind Traders",
        None,
        "",
    )
    assert (record.channel, record.host, record.ip_address, record.user_agent) == (
        Channel.STOREFRONT,
        "shop.example",
        "203.0.113.7",
        "pytest",
    )
    assert (record.template_id, record.language, record.country) == (TEMPLATE_ID, "en-US", "US")
    assert record.document_link.startswith("https://")
    assert record.phone == "+12065550100"  # normalised to E.164 with the account's country
    assert json.loads(record.form_data)["phone"] == "(206) 555-0100"  # and kept as entered
    assert (record.order_number, record.operation) == ("SO-000042", Operation.NEW_PURCHASE)
    assert record.evidence_class == EvidenceClass.FIRST_PARTY
    assert record.log_sufficient_as_proof is True
    assert abs(record.created_at - timezone.now()) < timedelta(seconds=10)


def test_reseller_confirmation_is_an_attestation_not_sufficient_alone(demo, demo_user):
    record = confirm_acceptance(
        actor=demo_user("reseller"), account=demo["litware"], data=form_data(), context=context()
    )
    assert record.evidence_class == EvidenceClass.ATTESTATION
    assert record.log_sufficient_as_proof is False
    assert record.reseller.slug == "contoso" and record.reseller_name == "Contoso Reseller"
    assert record.tenant_id == str(demo["litware"].partner_center_tenant_id)
    assert record.actor_organisation == "Contoso Reseller"


def test_confirmation_remembers_acceptance_for_the_customer_and_queues_delivery(demo, demo_user):
    litware = demo["litware"]
    record = confirm_acceptance(actor=demo_user("bss"), account=litware, data=form_data(), context=context())
    knowledge = CustomerKnowledge.objects.get(key=f"tenant:{litware.partner_center_tenant_id}")
    assert (knowledge.kind, knowledge.record_id) == (AcceptanceKind.CONFIRMED_HERE, record.pk)
    assert knowledge.confirmed_by == "Bob Backoffice (CSP BSS user)"
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.PENDING and delivery.request_id


def test_delivery_is_scheduled_only_after_commit(demo, demo_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = confirm_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(), context=context()
        )
    # Three things wait for the commit: the delivery task, the acceptance_known signal and the next checkpoint.
    assert sorted(callback.__qualname__.split(".")[0] for callback in callbacks) == [
        "_announce",
        "schedule_checkpoint",
        "send_after_commit",
    ]
    assert AcceptanceDelivery.objects.get(record=record).attempts == 0


def test_not_synced_account_waits_for_its_customer_id_and_schedules_nothing(
    demo, demo_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        record = confirm_acceptance(
            actor=demo_user("customer"), account=demo["northwind"], data=form_data(), context=context()
        )
    assert sorted(callback.__qualname__.split(".")[0] for callback in callbacks) == ["_announce", "schedule_checkpoint"]
    assert record.delivery.state == DeliveryState.WAITING_FOR_CUSTOMER


def test_confirmation_never_changes_the_account_or_its_contacts(demo, demo_user):
    """R9: the form data stays in the log."""
    litware = demo["litware"]
    account_before = list(Account.objects.filter(pk=litware.pk).values())
    contacts_before = list(Contact.objects.filter(account=litware).values())
    confirm_acceptance(
        actor=demo_user("reseller"),
        account=litware,
        data=form_data(first_name="Other", last_name="Person", email="other@litware.example"),
        context=context(),
    )
    assert list(Account.objects.filter(pk=litware.pk).values()) == account_before
    assert list(Contact.objects.filter(account=litware).values()) == contacts_before


def test_records_chain_to_each_other(demo, demo_user):
    first = confirm_acceptance(actor=demo_user("bss"), account=demo["litware"], data=form_data(), context=context())
    second = confirm_acceptance(actor=demo_user("bss"), account=demo["northwind"], data=form_data(), context=context())
    assert second.sequence == first.sequence + 1
    assert second.prev_hash == first.entry_hash
    head = ChainHead.objects.get()
    assert (head.last_sequence, head.last_hash) == (2, second.entry_hash)


# --- R6: who may confirm for whom ---------------------------------------------------------------------------

ALLOWED = [
    ("customer", "northwind"),
    ("wl-customer", "tailspin"),
    ("reseller", "litware"),
    ("reseller", "alpine-contoso"),
    ("wl-bss", "tailspin"),
    ("wl-bss", "alpine-fabrikam"),
    ("bss", "tailspin"),
    ("bss", "northwind"),
    ("admin", "litware"),
]
REFUSED = [
    ("customer", "litware"),  # another company
    ("customer", "tailspin"),
    ("wl-customer", "northwind"),
    ("reseller", "northwind"),  # the CSP's direct customer
    ("reseller", "tailspin"),  # another reseller's customer
    ("reseller", "alpine-fabrikam"),  # same tenant, but Fabrikam's account
    ("wl-bss", "litware"),  # white-label staff outside their reseller
    ("wl-bss", "northwind"),
    ("wl-bss", "alpine-contoso"),
]


@pytest.mark.parametrize(("username", "account_key"), ALLOWED)
def test_allowed_confirmers(demo, demo_user, username, account_key):
    record = confirm_acceptance(
        actor=demo_user(username), account=demo[account_key], data=form_data(), context=context()
    )
    assert record.account_id == demo[account_key].pk


@pytest.mark.parametrize(("username", "account_key"), REFUSED)
def test_refused_confirmers_write_nothing(demo, demo_user, username, account_key):
    assert not can_confirm_for(demo_user(username), demo[account_key])
    with pytest.raises(PermissionDenied):
        confirm_acceptance(actor=demo_user(username), account=demo[account_key], data=form_data(), context=context())
    assert nothing_written()


def test_bss_user_without_the_permission_is_refused(demo, demo_user):
    from django.contrib.auth.models import Permission

    bss = demo_user("bss")
    for group in bss.groups.all():
        group.permissions.remove(Permission.objects.get(codename="confirm_mca_acceptance"))
    bss = type(bss).objects.get(pk=bss.pk)
    with pytest.raises(PermissionDenied):
        confirm_acceptance(actor=bss, account=demo["litware"], data=form_data(), context=context())
    assert nothing_written()


def test_users_without_a_role_and_inactive_users_are_refused(demo, demo_user):
    nobody = UserFactory()
    nobody.save()
    inactive = demo_user("customer")
    inactive.is_active = False
    inactive.save()
    for user in (nobody, type(inactive).objects.get(pk=inactive.pk)):
        with pytest.raises(PermissionDenied):
            confirm_acceptance(actor=user, account=demo["northwind"], data=form_data(), context=context())
    assert nothing_written()


# --- R5: the form, field by field -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("first_name", None, "This field is required."),
        ("first_name", "<script>alert(1)</script>", "Use letters"),
        ("last_name", "", "This field is required."),
        ("last_name", "Smith<b>", "Use letters"),
        ("email", "not-an-email", "valid email"),
        ("phone", "12", "valid phone number"),
        ("phone", "", "This field is required."),
        ("date_agreed", "2999-01-01", "cannot be in the future"),
        ("date_agreed", "1999-01-01", "before 01 October 2019"),
        ("date_agreed", "yesterday", "Enter a valid date."),
        ("accepted", None, "Tick the box to confirm that the customer has accepted"),
    ],
)
def test_invalid_field_gets_its_own_message_and_writes_nothing(demo, demo_user, field, value, message):
    with pytest.raises(AcceptanceInvalid) as error:
        confirm_acceptance(
            actor=demo_user("reseller"), account=demo["litware"], data=form_data(**{field: value}), context=context()
        )
    assert list(error.value.error_dict) == [field]
    assert message in " ".join(error.value.error_dict[field][0].messages)
    assert nothing_written()


def test_customer_is_asked_to_accept_in_its_own_words(demo, demo_user):
    with pytest.raises(AcceptanceInvalid) as error:
        confirm_acceptance(
            actor=demo_user("customer"), account=demo["northwind"], data=form_data(accepted=None), context=context()
        )
    assert "Tick the box to accept the agreement." in error.value.error_dict["accepted"][0].messages


def test_unknown_channel_is_refused(demo, demo_user):
    with pytest.raises(AcceptanceInvalid):
        confirm_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(), context=context(channel="fax")
        )
    assert nothing_written()


# --- idempotency ---------------------------------------------------------------------------------------------


def test_repeated_submit_with_the_same_key_returns_the_first_record(demo, demo_user):
    first = confirm_acceptance(
        actor=demo_user("customer"),
        account=demo["northwind"],
        data=form_data(),
        context=context(idempotency_key="checkout-123"),
    )
    again = confirm_acceptance(
        actor=demo_user("customer"),
        account=demo["northwind"],
        data=form_data(),
        context=context(idempotency_key="checkout-123"),
    )
    assert again.pk == first.pk
    assert AcceptanceRecord.objects.count() == 1 and AcceptanceDelivery.objects.count() == 1


def test_same_key_for_a_different_confirmation_is_refused(demo, demo_user):
    confirm_acceptance(
        actor=demo_user("customer"), account=demo["northwind"], data=form_data(), context=context(idempotency_key="k1")
    )
    with pytest.raises(IdempotencyConflict):
        confirm_acceptance(
            actor=demo_user("customer"),
            account=demo["northwind"],
            data=form_data(email="someone.else@example.com"),
            context=context(idempotency_key="k1"),
        )
    assert AcceptanceRecord.objects.count() == 1


def test_a_repeated_confirmation_reads_neither_the_stored_template_nor_the_csp_name(
    pc_simulator, demo, demo_user, django_capture_on_commit_callbacks
):
    """CPU per confirmation (issue 20): what one confirmation learnt is not read again by the next one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from mca.models import KnownTemplate

    actor = demo_user("bss")
    with django_capture_on_commit_callbacks(execute=False):
        confirm_acceptance(
            actor=actor, account=demo["fourth-coffee"], data=form_data(), context=context(template_id="")
        )
        assert KnownTemplate.objects.filter(country="US").exists()
        with CaptureQueriesContext(connection) as queries:
            record = confirm_acceptance(
                actor=actor, account=demo["coho"], data=form_data(), context=context(template_id="")
            )
    statements = " ".join(query["sql"] for query in queries.captured_queries)
    assert record.template_id == TEMPLATE_ID and record.actor_organisation
    assert "mca_knowntemplate" not in statements and "bss_cloudserviceprovider" not in statements


@pytest.mark.parametrize("value", ["no", "off", "0", "false", "", "yes", "1", 1, False, None])
def test_legacy_accept_box_counts_only_on_or_true(demo, demo_user, value):
    data = form_data(accepted=value) if value is not None else {**form_data(), "accepted": None}
    with pytest.raises(AcceptanceInvalid) as refused:
        confirm_acceptance(actor=demo_user("bss"), account=demo["litware"], data=data, context=context())
    assert "accepted" in refused.value.error_dict
    assert not AcceptanceRecord.objects.exists()


@pytest.mark.parametrize("value", ["on", True])
def test_legacy_accept_box_takes_the_checkbox_and_json_true(demo, demo_user, value):
    record = confirm_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=form_data(accepted=value), context=context()
    )
    assert record.pk


@pytest.mark.parametrize("value", [20261120, ["2026-11-20"], {"day": 20}, 3.5])
def test_a_date_that_is_not_text_is_a_field_error(demo, demo_user, value):
    with pytest.raises(AcceptanceInvalid) as refused:
        confirm_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(date_agreed=value), context=context()
        )
    assert list(refused.value.error_dict) == ["date_agreed"]
    assert not AcceptanceRecord.objects.exists()


def test_a_legacy_confirmation_dated_before_the_minimum_is_refused_with_a_message(demo, demo_user):
    with pytest.raises(AcceptanceInvalid) as refused:
        confirm_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(date_agreed="2022-05-01"), context=context()
        )
    (message,) = refused.value.error_dict["date_agreed"][0].messages
    assert "no longer counts" in message and "01 April 2023" in message
    assert not AcceptanceRecord.objects.exists()


def test_names_are_normalised_to_nfc(demo, demo_user):
    decomposed = "Jose\u0301"
    record = confirm_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=form_data(first_name=decomposed), context=context()
    )
    assert record.first_name == "Jos\u00e9"


@pytest.fixture
def sim(pc_simulator, demo, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    return pc_simulator


def test_a_record_written_while_partner_center_is_down_names_the_last_known_template(sim, demo, demo_user):
    litware = demo["litware"]
    shown = acceptance_status(litware)  # Partner Center answers: the template and document are remembered
    assert shown.template is not None
    assert KnownTemplate.objects.filter(country=shown.document_country, language=shown.document_language).exists()

    sim.set_fault(mode="down")
    from django.core.cache import cache

    cache.clear()
    record = confirm_acceptance(
        actor=demo_user("bss"),
        account=litware,
        data=form_data(),
        context=context(template_id="", template_version_rank=None, document_link=""),
    )
    assert record.template_id == shown.template.template_id
    assert record.document_link == shown.document_link


def _announced(callbacks) -> bool:
    return any(callback.__qualname__.split(".")[0] == "_announce" for callback in callbacks)


def test_acceptance_known_is_announced_only_when_the_acceptance_did_not_count_before(
    demo, demo_user, django_capture_on_commit_callbacks
):
    """The knowledge write (one statement on PostgreSQL, issue 20) still tells whether the customer's acceptance
    counted before: a first confirmation and one replacing a row that does not verify announce it, a repeated
    one does not, and a weaker one never replaces the stronger row."""
    from mca.knowledge import knowledge_key, remember_acceptance
    from mca.seal import knowledge_sealed

    litware, bss = demo["litware"], demo_user("bss")
    key = knowledge_key(litware)

    def confirm(**overrides) -> tuple[bool, AcceptanceRecord]:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            record = confirm_acceptance(actor=bss, account=litware, data=form_data(**overrides), context=context())
        return _announced(callbacks), record

    assert confirm()[0] is True
    announced, record = confirm(email="second@example.com")
    knowledge = CustomerKnowledge.objects.get(key=key)
    assert announced is False and knowledge.record_id == record.pk and knowledge_sealed(knowledge)

    CustomerKnowledge.objects.filter(key=key).update(confirmed_by="Someone without the key")  # breaks the seal
    announced, record = confirm(email="third@example.com")
    knowledge = CustomerKnowledge.objects.get(key=key)
    assert announced is True and knowledge.record_id == record.pk and knowledge_sealed(knowledge)

    earlier = confirm(date_agreed="2026-11-15", email="earlier@example.com")  # the others: 2026-11-20
    assert earlier[0] is False and CustomerKnowledge.objects.get(key=key).record_id == record.pk  # older: kept

    at_microsoft = timezone.now() - timedelta(days=30)
    remember_acceptance(key=key, kind=AcceptanceKind.DIRECT_AT_MICROSOFT, accepted_at=at_microsoft)
    announced, _ = confirm(email="fourth@example.com")
    knowledge = CustomerKnowledge.objects.get(key=key)
    assert announced is False and knowledge.kind == AcceptanceKind.DIRECT_AT_MICROSOFT and knowledge_sealed(knowledge)


@pytest.mark.postgres
def test_a_known_customer_s_knowledge_is_written_in_one_statement(demo, demo_user):
    """Issue 20: no locking SELECT before the knowledge write on the common path (PostgreSQL)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    litware, bss = demo["litware"], demo_user("bss")
    confirm_acceptance(actor=bss, account=litware, data=form_data(), context=context())
    with CaptureQueriesContext(connection) as queries:
        record = confirm_acceptance(
            actor=bss, account=litware, data=form_data(email="again@example.com"), context=context()
        )
    knowledge = [query["sql"] for query in queries.captured_queries if "mca_customerknowledge" in query["sql"]]
    assert len(knowledge) == 1, knowledge
    assert "ON CONFLICT" in knowledge[0] and "FOR UPDATE" not in knowledge[0]
    assert CustomerKnowledge.objects.get(record=record).kind == AcceptanceKind.CONFIRMED_HERE


@pytest.mark.parametrize(
    ("phone", "codes"),
    [
        ("+1206555\x000100", ["invalid", "null_characters_not_allowed"]),
        ("not a number", ["invalid"]),
        ("+1 206 555 0100", None),
    ],
)
def test_the_phone_is_checked_once_with_every_message(phone, codes, monkeypatch):
    """The phone field checks the number once (issue 20) and still names a null character as Django does."""
    import phonenumbers

    from mca.attestation.legacy import LegacyAcceptanceForm

    checks = []
    check = phonenumbers.is_valid_number
    monkeypatch.setattr(phonenumbers, "is_valid_number", lambda number: checks.append(number) or check(number))
    form = LegacyAcceptanceForm(form_data(phone=phone), country="US")
    form.is_valid()
    errors = form.errors.get_json_data().get("phone")
    assert ([error["code"] for error in errors] if errors else None) == codes
    assert len(checks) == 1
