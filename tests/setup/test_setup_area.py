"""The setup area for a CSP admin (white-label staff: their customers only): accounts with their MCA status,
evidence export and "Check now", deliveries with "Retry now", attestations, and a readable acceptance log."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from mca import gate
from mca.attestation.legacy import confirm_acceptance
from mca.choices import AttestationState, DeliveryState
from mca.models import AcceptanceDelivery, Attestation
from tests.factories import AccountFactory
from tests.mca.helpers import context, form_data
from tests.setup.helpers import UNREACHABLE, confirm, make_failing, make_refused

pytestmark = pytest.mark.django_db

ACCOUNTS = reverse("admin:bss_account_changelist")
RECORDS = reverse("admin:mca_acceptancerecord_changelist")
DELIVERIES = reverse("admin:mca_acceptancedelivery_changelist")
ATTESTATIONS = reverse("admin:mca_attestation_changelist")


@pytest.fixture(autouse=True)
def quick_partner_center(settings):
    # Partner Center is unreachable in these tests (no simulator): give up on it quickly.
    settings.MCA_STATUS_TIME_BUDGET = 0.3
    settings.PARTNER_CENTER_RETRY_BUDGET = 0.2
    # About each call's own retries: the shared circuit (tests/partner_center/test_health.py) is off here.
    settings.PARTNER_CENTER_BREAKER_FAILURES = 0


def login(client, demo_user, username: str):
    client.force_login(demo_user(username))
    return client


def account_url(account) -> str:
    return reverse("admin:bss_account_change", args=[account.pk])


def export_url(account) -> str:
    return reverse("admin:bss_account_mca_export", args=[account.pk])


def check_url(account) -> str:
    return reverse("admin:bss_account_mca_check", args=[account.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def pending_attestation(demo, demo_user, key: str, *, expires_in=timedelta(days=7)) -> Attestation:
    """The enhanced form submitted by a BSS user (through the gate), and Microsoft's link issued for the
    signatory (the after-commit call to Microsoft is not run here, so its answer is written as it would be)."""
    gate.submit_acceptance(
        actor=demo_user("bss" if demo[key].reseller_id is None else "admin"),
        account=demo[key],
        data={
            "signatory_first_name": "Sam",
            "signatory_last_name": "Signer",
            "signatory_email": "sam@example.com",
            "company_name": demo[key].name,
            "authority_confirmed": "on",
        },
        context=context(),
    )
    attestation = Attestation.objects.get(account=demo[key])
    Attestation.objects.filter(pk=attestation.pk).update(
        state=AttestationState.PENDING,
        attestation_id="att-123",
        acceptance_url="https://signup.microsoft.example/attest/att-123",
        expires_at=timezone.now() + expires_in,
    )
    attestation.refresh_from_db()
    return attestation


def row_of(response, name: str) -> str:
    content = response.content.decode()
    start = content.index(f">{name}</a>")
    return content[start : content.index("</tr>", start)]


# --- accounts list: the local status, no Partner Center call per row ---


def test_accounts_list_shows_what_is_known_locally_per_account(client, demo, demo_user, caplog):
    confirm(demo, demo_user, "blue-yonder", "by-customer")
    pending_attestation(demo, demo_user, "wide-world")
    response = login(client, demo_user, "admin").get(ACCOUNTS)
    assert response.status_code == 200
    blue = row_of(response, "Blue Yonder Airlines")
    assert "not needed" in blue and "Confirmed here" in blue and "known here only" in blue
    wide = row_of(response, "Wide World Importers")
    assert "waiting for signatory" in wide and "Sam Signer, link expires" in wide and "UTC" in wide
    assert "needed" in row_of(response, "Northwind Traders") and "nothing recorded here" in row_of(
        response, "Northwind Traders"
    )
    assert "unknown here" in row_of(response, "Litware")  # synced, nothing known here: Partner Center knows
    assert "Partner Center" not in caplog.text  # nobody asked it


def test_accounts_list_shows_record_counts_and_failing_deliveries(client, demo, demo_user):
    make_failing(confirm(demo, demo_user, "litware", "reseller"))
    confirm(demo, demo_user, "litware", "reseller", email="other@litware.example")
    response = login(client, demo_user, "admin").get(ACCOUNTS)
    assert "2 (1 failing)" in row_of(response, "Litware")
    assert ">none<" in row_of(response, "Northwind Traders")


# The accounts list page, whatever the number of accounts: the session, the user, the membership, the filters'
# choices (resellers, countries), one count (Django's "N total" counted the same rows a second time: issue 20), the
# page of accounts, then one query each for what is known of them (customer knowledge, pending attestations, record
# counts, delivery counts by state), and two for the MCA state badge (gate.states_for: knowledge, newest links).
# The same exact count with 14 accounts and with 34, on SQLite and on PostgreSQL.
ACCOUNTS_LIST_QUERIES = 13


def test_accounts_list_queries_do_not_grow_with_accounts(client, demo, demo_user, django_assert_num_queries):
    client = login(client, demo_user, "admin")
    client.get(ACCOUNTS)  # warm the session and content-type caches
    with django_assert_num_queries(ACCOUNTS_LIST_QUERIES):
        fourteen = client.get(ACCOUNTS)
    # 20 more accounts, each with a record and a delivery (and every fourth one failing), so that a query per
    # account for its status, records or deliveries would show.
    for number, account in enumerate(AccountFactory.create_batch(20, reseller=demo["litware"].reseller)):
        record = confirm_acceptance(actor=demo_user("bss"), account=account, data=form_data(), context=context())
        if number % 4 == 0:
            make_failing(record)
    with django_assert_num_queries(ACCOUNTS_LIST_QUERIES):
        thirty_four = client.get(ACCOUNTS)
    assert len(fourteen.context["cl"].result_list) == 14 and len(thirty_four.context["cl"].result_list) == 34


def test_a_narrowed_accounts_list_still_counts_the_total_apart(client, demo, demo_user, django_assert_num_queries):
    """The total is counted apart only when a filter or a search narrows the list (one query more, and the
    "N results (M total)" line is right)."""
    client = login(client, demo_user, "admin")
    client.get(ACCOUNTS)  # warm the session and content-type caches
    with django_assert_num_queries(ACCOUNTS_LIST_QUERIES + 1):
        filtered = client.get(ACCOUNTS, {"country": "DE"})
    whole = client.get(ACCOUNTS)
    assert (filtered.context["cl"].result_count, filtered.context["cl"].full_result_count) == (2, 14)
    assert "2 results" in filtered.content.decode() and "14 total" in filtered.content.decode()
    assert (whole.context["cl"].result_count, whole.context["cl"].full_result_count) == (14, 14)
    searched = client.get(ACCOUNTS, {"q": "Litware"})
    assert searched.context["cl"].full_result_count == 14 and searched.context["cl"].result_count < 14


def test_country_filter_offers_only_countries_in_use_and_in_scope(client, demo, demo_user):
    response = login(client, demo_user, "admin").get(ACCOUNTS)
    [country] = [spec for spec in response.context["cl"].filter_specs if spec.title == "country"]
    codes = [code for code, _ in country.lookup_choices]
    assert sorted(codes) == ["CA", "DE", "FR", "GB", "NL", "US"]
    assert ("GB", "United Kingdom (GB)") in country.lookup_choices
    filtered = client.get(ACCOUNTS, {"country": "DE"})
    assert {a.name for a in filtered.context["cl"].result_list} == {"Wide World Importers", "Trey Research"}

    client.force_login(demo_user("wl-bss"))
    response = client.get(ACCOUNTS)
    [country] = [spec for spec in response.context["cl"].filter_specs if spec.title == "country"]
    assert sorted(code for code, _ in country.lookup_choices) == ["DE", "FR", "US"]  # Fabrikam's customers


# --- account detail: the gate's decision, pending link, records ---


def test_account_page_shows_the_gates_decision_and_its_records(client, demo, demo_user):
    record = confirm(demo, demo_user, "proseware", "reseller")
    response = login(client, demo_user, "bss").get(account_url(demo["proseware"]))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="mca-status"' in content
    assert "Acceptance not needed" in content and "Accepted on" in content and "Rita Reseller" in content
    assert "Last verified at Partner Center" in content and "never (known here only" in content
    assert f">#{record.sequence}</a>" in content and "Confirmation (one-step, legacy)" in content
    assert "Export evidence" in content and "Check now" in content


def test_account_page_shows_a_pending_attestation_with_its_links_expiry(client, demo, demo_user):
    attestation = pending_attestation(demo, demo_user, "northwind")
    content = login(client, demo_user, "admin").get(account_url(demo["northwind"])).content.decode()
    assert "Acceptance needed" in content and "Pending: waiting for Sam Signer to accept at Microsoft" in content
    expires = timezone.localtime(attestation.expires_at).strftime("%Y-%m-%d %H:%M:%S")
    assert f"link expires {expires} UTC" in content
    assert attestation.acceptance_url in content


def test_account_page_says_when_the_customer_was_last_verified(client, demo, demo_user):
    from mca.choices import AcceptanceKind
    from mca.models import CustomerKnowledge

    verified = timezone.now() - timedelta(hours=2)
    CustomerKnowledge.objects.create(
        key=f"tenant:{demo['litware'].partner_center_tenant_id}",
        kind=AcceptanceKind.DIRECT_AT_MICROSOFT,
        accepted_at=timezone.now() - timedelta(days=30),
        verified_at=verified,
    )
    content = login(client, demo_user, "admin").get(account_url(demo["litware"])).content.decode()
    assert "Acceptance not needed" in content and "Accepted directly at Microsoft" in content
    assert f"{timezone.localtime(verified):%Y-%m-%d %H:%M:%S} UTC" in content


def test_white_label_staff_get_404_for_a_csp_customers_account_page(client, demo, demo_user):
    client = login(client, demo_user, "wl-bss")
    assert client.get(account_url(demo["tailspin"])).status_code == 200
    response = client.get(account_url(demo["northwind"]))
    assert response.status_code == 404
    assert "Northwind" not in response.content.decode()


# --- Export evidence ---


def zip_of(response) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


@pytest.mark.parametrize("username", ["admin", "bss"])
def test_export_evidence_downloads_a_zip_of_the_customers_evidence(client, demo, demo_user, username):
    record = confirm(demo, demo_user, "litware", "reseller")
    response = login(client, demo_user, username).post(export_url(demo["litware"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert re.match(
        r'attachment; filename="mca-evidence-account-\d+-\d{8}T\d{6}Z\.zip"', response["Content-Disposition"]
    )
    files = zip_of(response)
    assert {"records.json", "records.csv", "chain.json", "deliveries.json", "README.md", "SHA256SUMS"} <= set(files)
    assert {"verify.py", "proof.json", "summary.pdf"} <= set(files)  # the evidence pack a third party verifies
    assert [r["sequence"] for r in json.loads(files["records.json"])] == [record.sequence]


def test_white_label_staff_export_their_customer_without_another_resellers_records(client, demo, demo_user):
    contoso = confirm(demo, demo_user, "alpine-contoso", "reseller", email="anna@alpineskihouse.example")
    fabrikam = confirm(demo, demo_user, "alpine-fabrikam", "wl-bss", email="anna@alpineskihouse.example")
    response = login(client, demo_user, "wl-bss").post(export_url(demo["alpine-fabrikam"]))
    assert response.status_code == 200
    sequences = [r["sequence"] for r in json.loads(zip_of(response)["records.json"])]
    assert sequences == [fabrikam.sequence] and contoso.sequence not in sequences


def test_white_label_staff_cannot_export_or_check_a_csp_customer(client, demo, demo_user):
    confirm(demo, demo_user, "northwind", "customer")
    client = login(client, demo_user, "wl-bss")
    assert client.post(export_url(demo["northwind"])).status_code == 404
    assert client.post(check_url(demo["northwind"])).status_code == 404
    assert client.post(export_url(demo["tailspin"])).status_code == 200


def test_export_needs_the_export_permission_and_a_post(client, demo, demo_user):
    user = demo_user("wl-bss")
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_account"))
    client.force_login(user)
    content = client.get(account_url(demo["tailspin"])).content.decode()
    assert "Export evidence" not in content
    assert client.post(export_url(demo["tailspin"])).status_code == 403
    assert login(client, demo_user, "admin").get(export_url(demo["tailspin"])).status_code == 405


def test_customer_users_are_kept_out_of_the_setup_area(client, demo, demo_user):
    client = login(client, demo_user, "customer")
    response = client.post(export_url(demo["northwind"]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- Check now ---


def test_check_now_says_the_decision_and_its_reason(client, demo, demo_user):
    confirm(demo, demo_user, "tailspin", "wl-bss")
    response = login(client, demo_user, "wl-bss").post(check_url(demo["tailspin"]), follow=True)
    assert response.redirect_chain[-1][0] == account_url(demo["tailspin"]) + "#mca-status"
    [message] = messages_of(response)
    assert message.startswith("Checked Tailspin Toys now: MCA acceptance not needed. Accepted on ")
    assert message.endswith(".") and not message.endswith("..")


def test_check_now_when_partner_center_is_unreachable_says_so(client, demo, demo_user):
    response = login(client, demo_user, "bss").post(check_url(demo["litware"]), follow=True)
    [message] = messages_of(response)
    assert message.startswith("Checked Litware now: MCA acceptance needed.")
    assert "Partner Center" in message


# --- deliveries: failing with their error, Retry now ---


def retry(client, deliveries):
    return client.post(
        DELIVERIES, {"action": "retry_now_action", "_selected_action": [d.pk for d in deliveries]}, follow=True
    )


def test_delivery_list_shows_failing_ones_with_error_and_next_try_and_refused_ones(client, demo, demo_user):
    failing = make_failing(confirm(demo, demo_user, "litware", "reseller"))
    make_refused(confirm(demo, demo_user, "fourth-coffee", "bss"), "Partner Center keeps an older confirmation")
    client = login(client, demo_user, "bss")
    response = client.get(DELIVERIES, {"state__exact": DeliveryState.FAILING})
    assert [d.pk for d in response.context["cl"].result_list] == [failing.pk]
    content = response.content.decode()
    assert UNREACHABLE in content
    assert f"{timezone.localtime(failing.next_attempt_at):%Y-%m-%d %H:%M:%S} UTC" in content
    refused = client.get(DELIVERIES, {"state__exact": DeliveryState.REFUSED}).content.decode()
    assert "refused (Partner Center said no for good)" in refused and "older confirmation" in refused


def test_account_page_links_to_its_failing_deliveries(client, demo, demo_user):
    failing = make_failing(confirm(demo, demo_user, "litware", "reseller"))
    make_failing(confirm(demo, demo_user, "proseware", "reseller"))
    client = login(client, demo_user, "bss")
    content = client.get(account_url(demo["litware"])).content.decode()
    assert "1 failing delivery: see and retry" in content and UNREACHABLE in content
    listed = client.get(DELIVERIES, {"account": demo["litware"].pk, "state__exact": "failing"})
    assert [d.pk for d in listed.context["cl"].result_list] == [failing.pk]


def test_retry_now_sends_again_and_reports_each_outcome(client, demo, demo_user):
    delivery = make_failing(confirm(demo, demo_user, "litware", "reseller"), in_minutes=60)
    response = retry(login(client, demo_user, "bss"), [delivery])
    [message] = messages_of(response)
    assert message.startswith(
        f"Record #{delivery.record.sequence} (Litware): still failing — Partner Center could not be reached."
    )
    assert "[PartnerCenterUnavailable" in message
    delivery.refresh_from_db()
    assert delivery.attempts == 4 and delivery.next_attempt_at < timezone.now() + timedelta(minutes=59)


def test_white_label_staff_retry_their_customers_deliveries_but_not_a_csp_customers(client, demo, demo_user):
    own = make_failing(confirm(demo, demo_user, "trey", "wl-bss"), in_minutes=60)
    foreign = make_failing(confirm(demo, demo_user, "woodgrove", "bss"), in_minutes=60)
    client = login(client, demo_user, "wl-bss")
    listed = client.get(DELIVERIES)
    assert [d.pk for d in listed.context["cl"].result_list] == [own.pk]
    response = retry(client, [own, foreign])
    assert [m for m in messages_of(response) if "Trey Research" in m]
    assert not [m for m in messages_of(response) if "Woodgrove" in m]
    foreign.refresh_from_db()
    assert foreign.attempts == 3 and foreign.next_attempt_at > timezone.now() + timedelta(minutes=50)
    assert client.get(reverse("admin:mca_acceptancedelivery_change", args=[foreign.pk])).status_code == 404


def test_retry_now_needs_the_retry_permission(client, demo, demo_user):
    delivery = make_failing(confirm(demo, demo_user, "trey", "wl-bss"), in_minutes=60)
    user = demo_user("wl-bss")
    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_acceptancedelivery"))
    client.force_login(user)
    assert "retry_now_action" not in client.get(DELIVERIES).content.decode()
    retry(client, [delivery])
    delivery.refresh_from_db()
    assert delivery.attempts == 3


def test_retry_now_with_partner_center_back_delivers(pc_simulator, client, demo, demo_user, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.0
    # About each call's own retries: the shared circuit (tests/partner_center/test_health.py) is off here.
    settings.PARTNER_CENTER_BREAKER_FAILURES = 0
    pc_simulator.set_fault(mode="down")
    delivery = make_failing(confirm(demo, demo_user, "litware", "reseller"), in_minutes=60)
    pc_simulator.clear_faults()
    response = retry(login(client, demo_user, "admin"), [delivery])
    assert messages_of(response) == [
        f"Record #{delivery.record.sequence} (Litware): sent to Partner Center (HTTP 201)."
    ]
    assert AcceptanceDelivery.objects.get(pk=delivery.pk).state == DeliveryState.SENT


# --- attestations ---


def test_attestations_are_listed_scoped_with_their_expiry_and_a_check_now_action(client, demo, demo_user):
    own = pending_attestation(demo, demo_user, "tailspin")
    pending_attestation(demo, demo_user, "northwind")
    client = login(client, demo_user, "wl-bss")
    response = client.get(ATTESTATIONS, {"state__exact": AttestationState.PENDING})
    assert [a.pk for a in response.context["cl"].result_list] == [own.pk]
    content = response.content.decode()
    assert "Sam Signer" in content and f"{timezone.localtime(own.expires_at):%Y-%m-%d %H:%M:%S} UTC" in content
    assert "check_now_action" in content and "delete_selected" not in content
    checked = client.post(ATTESTATIONS, {"action": "check_now_action", "_selected_action": [own.pk]}, follow=True)
    [message] = messages_of(checked)
    assert message.startswith("Tailspin Toys: Pending: waiting for Sam Signer to accept at Microsoft")
    assert client.get(reverse("admin:mca_attestation_add")).status_code == 403


# --- the acceptance log: readable, new fields, time zones, date ranges, no History ---


@pytest.fixture
def record(demo, demo_user):
    return confirm(demo, demo_user, "litware", "reseller")


def test_log_list_has_the_event_column_and_times_with_their_zone(client, demo_user, record):
    response = login(client, demo_user, "admin").get(RECORDS)
    content = response.content.decode()
    assert "column-event_column" in content and "legacy confirmation" in content
    created = timezone.localtime(record.created_at)
    assert f'nowrap">{created:%Y-%m-%d}</span><br><small>{created:%H:%M:%S} UTC</small>' in content
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', content)
    assert len(headers) <= 8


def test_log_detail_shows_the_event_fields_ip_label_and_plain_yes_no(client, demo_user, record):
    content = login(client, demo_user, "admin").get(reverse("admin:mca_acceptancerecord_change", args=[record.pk]))
    content = content.content.decode()
    for label in ("Event", "Attestation id", "Signatory company", "Authority declared", "Link expires"):
        assert label in content
    assert "Hash version" in content and "Microsoft&#x27;s answer" in content
    assert "IP address" in content and "Ip address" not in content
    assert "not alone: Partner Center&#x27;s record of the acceptance backs it" in content  # an attestation
    assert "icon-no.svg" not in content and "icon-yes.svg" not in content
    assert f"{timezone.localtime(record.created_at):%Y-%m-%d %H:%M:%S} UTC" in content


def test_form_data_is_shown_as_entered_in_its_order(client, demo_user, record):
    content = login(client, demo_user, "admin").get(reverse("admin:mca_acceptancerecord_change", args=[record.pk]))
    content = content.content.decode()
    entered = list(json.loads(record.form_data))
    positions = [content.index(f"&quot;{key}&quot;:") for key in entered]
    assert positions == sorted(positions)
    assert "Form as entered" in content and "Read from the form (normalised" in content


def test_log_detail_has_no_history_and_history_is_404(client, demo_user, record):
    client = login(client, demo_user, "admin")
    content = client.get(reverse("admin:mca_acceptancerecord_change", args=[record.pk])).content.decode()
    assert "historylink" not in content and ">History<" not in content
    assert client.get(reverse("admin:mca_acceptancerecord_history", args=[record.pk])).status_code == 404


def test_missing_or_foreign_record_is_a_clean_404(client, demo_user, record):
    client = login(client, demo_user, "admin")
    missing = client.get(reverse("admin:mca_acceptancerecord_change", args=[999999]))
    assert missing.status_code == 404 and "Perhaps it was deleted" not in missing.content.decode()
    client.force_login(demo_user("wl-bss"))
    foreign = client.get(reverse("admin:mca_acceptancerecord_change", args=[record.pk]))
    assert foreign.status_code == 404 and "Perhaps it was deleted" not in foreign.content.decode()


def test_a_reversed_date_range_says_so_and_lists_the_range_meant(client, demo_user, record):
    today = timezone.localdate()
    response = login(client, demo_user, "admin").get(
        RECORDS, {"created_from": (today + timedelta(days=1)).isoformat(), "created_to": today.isoformat()}
    )
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("The date range was reversed")
    assert [r.sequence for r in response.context["cl"].result_list] == [record.sequence]


@pytest.mark.parametrize("bad", ["2026-13-45", "yesterday", "31/12/2026"])
def test_a_malformed_date_says_so_next_to_the_field_and_is_ignored(client, demo_user, record, bad):
    response = login(client, demo_user, "admin").get(RECORDS, {"created_from": bad})
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message == f"“{bad}” is not a date (YYYY-MM-DD); “From” is ignored."
    assert 'aria-invalid="true"' in response.content.decode()
    assert [r.sequence for r in response.context["cl"].result_list] == [record.sequence]


def test_the_last_possible_day_does_not_break_the_list(client, demo_user, record):
    response = login(client, demo_user, "admin").get(RECORDS, {"created_to": "9999-12-31"})
    assert response.status_code == 200
    assert [r.sequence for r in response.context["cl"].result_list] == [record.sequence]
