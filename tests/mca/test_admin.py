"""The setup area's acceptance log (R12): read-only, scoped, filtered, searched, exported, verified."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bss.choices import Channel, Operation
from bss.models import Account
from mca import gate
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState, EvidenceClass
from mca.models import AcceptanceDelivery, AcceptanceRecord
from tests.factories import AccountFactory
from tests.mca.helpers import context, form_data
from tests.mca.test_log_immutability import tamper

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:mca_acceptancerecord_changelist")
EXPORT = reverse("admin:mca_acceptancerecord_export")
VERIFY = reverse("admin:mca_acceptancerecord_verify")


def change_url(record: AcceptanceRecord) -> str:
    return reverse("admin:mca_acceptancerecord_change", args=[record.pk])


@pytest.fixture
def records(demo, demo_user):
    """One record per kind of confirmer: Northwind (CSP direct), Litware (Contoso), Tailspin (Fabrikam)."""
    return {
        "northwind": confirm_acceptance(
            actor=demo_user("customer"),
            account=demo["northwind"],
            data=form_data(first_name="Nancy", last_name="Davolio", email="nancy@northwind.example"),
            context=context(),
        ),
        "litware": confirm_acceptance(
            actor=demo_user("reseller"),
            account=demo["litware"],
            data=form_data(first_name="Lisa", last_name="Andrews", email="lisa@litware.example"),
            context=context(channel=Channel.RESELLER_STOREFRONT, order_number="SO-000042"),
        ),
        "tailspin": confirm_acceptance(
            actor=demo_user("wl-bss"),
            account=demo["tailspin"],
            data=form_data(first_name="Thomas", last_name="Martin", email="thomas@tailspin.example"),
            context=context(channel=Channel.BSS_EXECUTION),
        ),
    }


def login(client, demo_user, username: str):
    client.force_login(demo_user(username))
    return client


def listed_sequences(response) -> list[int]:
    return [record.sequence for record in response.context["cl"].result_list]


def csv_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


# --- list, detail, filters, search ---


def test_superuser_sees_every_record_newest_first(client, demo_user, records):
    response = login(client, demo_user, "admin").get(CHANGELIST)
    assert response.status_code == 200
    assert listed_sequences(response) == [3, 2, 1]
    content = response.content.decode()
    assert "Litware" in content and "Contoso Reseller" in content
    assert "Rita Reseller (Reseller user)" in content  # the confirmer with role
    assert "Waiting for a Partner Center customer id" in content  # Northwind is not synced


def test_detail_page_shows_every_field_group_delivery_and_chain_check(client, demo_user, records):
    record = records["litware"]
    response = login(client, demo_user, "admin").get(change_url(record))
    assert response.status_code == 200
    content = response.content.decode()
    for heading in ("Who confirmed", "For whom", "When and where", "What was shown", "Form as entered", "Trigger"):
        assert heading in content
    assert "Evidence" in content and "Delivery to Partner Center" in content
    assert "SO-000042" in content and "lisa@litware.example" in content
    assert "&quot;first_name&quot;: &quot;Lisa&quot;" in content  # the form as entered, pretty-printed JSON
    assert f"Record #{record.sequence}: intact" in content
    assert "Pending" in content  # Litware is synced: its delivery is pending
    assert 'name="_save"' not in content  # no save button: read-only


def test_detail_page_flags_a_tampered_record(client, demo_user, records):
    record = records["litware"]
    tamper(record.pk, "email = 'mallory@example.com'")
    content = login(client, demo_user, "admin").get(change_url(record)).content.decode()
    assert f"Record #{record.sequence}: content does not match its hash" in content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel__exact": Channel.BSS_EXECUTION}, [3]),
        ({"evidence_class__exact": EvidenceClass.FIRST_PARTY}, [1]),
        ({"delivery__state__exact": DeliveryState.PENDING}, [2]),
        ({"reseller": "csp"}, [1]),
    ],
)
def test_filters_narrow_the_list(client, demo_user, records, query, expected):
    response = login(client, demo_user, "admin").get(CHANGELIST, query)
    assert response.status_code == 200
    assert listed_sequences(response) == expected


def test_reseller_filter_offers_resellers_from_the_reseller_table(client, demo_user, demo, records):
    response = login(client, demo_user, "admin").get(CHANGELIST, {"reseller": str(demo["litware"].reseller_id)})
    assert listed_sequences(response) == [2]
    content = response.content.decode()
    assert "Fabrikam Cloud" in content and "CSP direct" in content


def test_date_range_filter_is_inclusive_of_both_days(client, demo_user, records):
    today = timezone.localdate()
    client = login(client, demo_user, "admin")
    inside = client.get(CHANGELIST, {"created_from": today.isoformat(), "created_to": today.isoformat()})
    assert listed_sequences(inside) == [3, 2, 1]
    before = client.get(CHANGELIST, {"created_to": (today - timedelta(days=1)).isoformat()})
    assert listed_sequences(before) == []
    after = client.get(CHANGELIST, {"created_from": (today + timedelta(days=1)).isoformat()})
    assert listed_sequences(after) == []


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("litware", [2]),  # customer name
        ("davolio", [1]),  # last name as entered
        ("THOMAS", [3]),  # first name, any case
        ("Rita", [2]),  # who confirmed
        ("lisa@litware", [2]),  # e-mail
        ("nobody-like-this", []),
    ],
)
def test_search_finds_customer_names_and_emails(client, demo_user, records, term, expected):
    response = login(client, demo_user, "admin").get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    assert listed_sequences(response) == expected


# The log's list page, whatever the number of rows: the session, the user, the membership, the reseller filter's
# choices, the row count (on PostgreSQL read first as pg_class's estimate, then counted while the table is small) and
# the page of records with their delivery, account and reseller. The same exact count with 3 rows and with 23.
CHANGELIST_QUERIES = 7 if connection.vendor == "postgresql" else 6


def test_changelist_query_count_does_not_grow_with_rows(client, demo_user, demo, records, django_assert_num_queries):
    client = login(client, demo_user, "admin")
    client.get(CHANGELIST)  # warm the session and content-type caches
    with django_assert_num_queries(CHANGELIST_QUERIES):
        small = client.get(CHANGELIST)
    # 20 more across four accounts (two resellers), so a query per row, per account or per reseller would show.
    for key in ["wide-world", "northwind", "tailspin", "adventure-works"] * 5:
        confirm_acceptance(actor=demo_user("bss"), account=demo[key], data=form_data(), context=context())
    with django_assert_num_queries(CHANGELIST_QUERIES):
        big = client.get(CHANGELIST)
    assert len(listed_sequences(small)) == 3 and len(listed_sequences(big)) == 23


# --- read-only ---


def test_there_is_no_add_page(client, demo_user, records):
    client = login(client, demo_user, "admin")
    assert client.get(reverse("admin:mca_acceptancerecord_add")).status_code == 403
    assert AcceptanceRecord.objects.count() == 3


def test_posting_to_change_and_delete_is_refused_and_changes_nothing(client, demo_user, records):
    record = records["litware"]
    client = login(client, demo_user, "admin")
    changed = client.post(change_url(record), {"first_name": "Mallory", "email": "mallory@example.com"})
    deleted = client.post(reverse("admin:mca_acceptancerecord_delete", args=[record.pk]), {"post": "yes"})
    assert changed.status_code == 403 and deleted.status_code == 403
    stored = AcceptanceRecord.objects.get(pk=record.pk)
    assert (stored.first_name, stored.email, stored.entry_hash) == ("Lisa", "lisa@litware.example", record.entry_hash)


def test_bulk_delete_action_is_not_offered(client, demo_user, records):
    response = login(client, demo_user, "admin").get(CHANGELIST)
    assert "delete_selected" not in response.content.decode()
    response = client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [records["litware"].pk]})
    assert AcceptanceRecord.objects.count() == 3


# --- scoping ---


def test_white_label_staff_see_only_their_resellers_customers(client, demo_user, demo, records):
    other = confirm_acceptance(
        actor=demo_user("wl-bss"), account=demo["alpine-fabrikam"], data=form_data(), context=context()
    )
    response = login(client, demo_user, "wl-bss").get(CHANGELIST)
    assert response.status_code == 200
    assert listed_sequences(response) == [other.sequence, records["tailspin"].sequence]
    assert "Litware" not in response.content.decode()


def test_white_label_staff_cannot_open_another_resellers_record(client, demo_user, records):
    client = login(client, demo_user, "wl-bss")
    assert client.get(change_url(records["tailspin"])).status_code == 200
    response = client.get(change_url(records["litware"]))
    # The README promises a plain 404: not the admin's redirect, whose message would say the id exists elsewhere.
    assert response.status_code == 404
    assert "lisa@litware.example" not in response.content.decode()


def test_white_label_staff_search_does_not_cross_the_boundary(client, demo_user, records):
    response = login(client, demo_user, "wl-bss").get(CHANGELIST, {"q": "litware"})
    assert listed_sequences(response) == []


def test_customer_user_is_refused(client, demo_user, records):
    client = login(client, demo_user, "customer")
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.get(EXPORT).status_code == 302
    assert client.get(change_url(records["northwind"])).status_code == 302


def test_white_label_staff_have_no_verify_button_and_cannot_verify(client, demo_user, records):
    client = login(client, demo_user, "wl-bss")
    assert "Verify chain" not in client.get(CHANGELIST).content.decode()
    assert client.post(VERIFY).status_code == 403


# --- CSV export ---


def test_export_streams_the_filtered_rows_with_a_header(client, demo_user, records):
    response = login(client, demo_user, "admin").get(EXPORT, {"channel__exact": Channel.RESELLER_STOREFRONT})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_of(response)
    header, body = rows[0], rows[1:]
    assert header[:5] == ["sequence", "created_at_utc", "event", "account_id", "account_name"]
    assert [row[header.index("account_name")] for row in body] == ["Litware"]
    assert body[0][header.index("order_number")] == "SO-000042"
    assert body[0][header.index("delivery_state")] == "pending"


def test_export_link_on_the_list_carries_the_filters(client, demo_user, records):
    content = login(client, demo_user, "admin").get(CHANGELIST, {"channel__exact": "api"}).content.decode()
    assert f'href="{EXPORT}?channel__exact=api"' in content


def test_export_of_white_label_staff_is_scoped(client, demo_user, records):
    rows = csv_of(login(client, demo_user, "wl-bss").get(EXPORT))
    column = rows[0].index("account_name")
    assert [row[column] for row in rows[1:]] == ["Tailspin Toys"]


def test_export_needs_the_export_permission(client, demo_user, records):
    user = demo_user("wl-bss")
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_acceptancerecord"))
    client.force_login(user)
    assert client.get(CHANGELIST).status_code == 200
    assert client.get(EXPORT).status_code == 403


def test_export_is_safe_from_csv_injection(client, demo_user, demo, records):
    fabrikam = demo["tailspin"].reseller
    evil = AccountFactory(name='=HYPERLINK("http://evil.example","click")', reseller=fabrikam)
    confirm_acceptance(actor=demo_user("wl-bss"), account=evil, data=form_data(), context=context())
    rows = csv_of(login(client, demo_user, "admin").get(EXPORT))
    header = rows[0]
    names = [row[header.index("account_name")] for row in rows[1:]]
    assert names[0] == '\'=HYPERLINK("http://evil.example","click")'
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


# --- verify ---


def test_verify_button_reports_an_intact_chain(client, demo_user, records):
    response = login(client, demo_user, "admin").post(VERIFY, follow=True)
    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["Acceptance log intact: 3 records verified."]


def test_verify_button_names_the_first_broken_record(client, demo_user, records):
    record = records["litware"]
    tamper(record.pk, "email = 'mallory@example.com'")
    response = login(client, demo_user, "bss").post(VERIFY, follow=True)
    [message] = [str(message) for message in response.context["messages"]]
    assert f"NOT intact: record #2 (id {record.pk})" in message
    assert "does not match its hash" in message


def test_verify_is_post_only(client, demo_user, records):
    assert login(client, demo_user, "admin").get(VERIFY).status_code == 405


# --- the other registrations ---


def test_deliveries_and_knowledge_are_listed_read_only(client, demo_user, records):
    client = login(client, demo_user, "admin")
    deliveries = client.get(reverse("admin:mca_acceptancedelivery_changelist"), {"state__exact": "pending"})
    assert deliveries.status_code == 200
    assert [d.record.account_name for d in deliveries.context["cl"].result_list] == ["Litware"]
    knowledge = client.get(reverse("admin:mca_customerknowledge_changelist"))
    assert knowledge.status_code == 200 and len(knowledge.context["cl"].result_list) == 3
    assert client.get(reverse("admin:mca_acceptancedelivery_add")).status_code == 403
    assert client.get(reverse("admin:mca_customerknowledge_add")).status_code == 403


@pytest.fixture
def sim(pc_simulator, demo, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    return pc_simulator


def test_tenant_set_in_the_admin_keeps_the_acceptance_and_sends_the_waiting_delivery(
    sim, demo, demo_user, client, django_capture_on_commit_callbacks
):
    northwind = demo["northwind"]
    record = confirm_acceptance(actor=demo_user("customer"), account=northwind, data=form_data(), context=context())
    delivery = AcceptanceDelivery.objects.get(record=record)
    assert delivery.state == DeliveryState.WAITING_FOR_CUSTOMER

    tenant = "5f0e7e5c-3c57-4d7c-9d3b-0a1f7f1e2a11"
    sim.add_customer(tenant, company_name="Northwind Traders")
    client.force_login(demo_user("admin"))
    url = reverse("admin:bss_account_change", args=[northwind.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    created = timezone.localtime(northwind.created_at)
    data.update({"created_at_0": created.date().isoformat(), "created_at_1": created.strftime("%H:%M:%S")})
    data.update(
        {
            "partner_center_tenant_id": tenant,
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
            "contacts-MIN_NUM_FORMS": "0",
            "contacts-MAX_NUM_FORMS": "1000",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response

    northwind = Account.objects.get(pk=northwind.pk)
    assert str(northwind.partner_center_tenant_id) == tenant
    assert not gate.check(northwind, [Operation.NEW_PURCHASE]).needed
    delivery.refresh_from_db()
    assert delivery.state == DeliveryState.SENT
