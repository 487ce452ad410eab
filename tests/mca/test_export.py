"""R14: the evidence export for one customer — its records, their chain check, Partner Center's answers."""

import csv
import hashlib
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from bss.choices import Channel
from mca.attestation.legacy import confirm_acceptance
from mca.choices import DeliveryState
from mca.export import export_evidence
from mca.models import AcceptanceDelivery
from tests.mca.helpers import context, form_data
from tests.mca.test_log_immutability import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def alpine(demo, demo_user):
    """Alpine Ski House: two accounts (Contoso's, Fabrikam's) of one tenant; plus an unrelated record between."""
    first = confirm_acceptance(
        actor=demo_user("reseller"),
        account=demo["alpine-contoso"],
        data=form_data(first_name="Anna", last_name="Lidman", email="anna@alpineskihouse.example"),
        context=context(channel=Channel.RESELLER_STOREFRONT, order_number="SO-000007"),
    )
    other = confirm_acceptance(
        actor=demo_user("customer"), account=demo["northwind"], data=form_data(), context=context()
    )
    second = confirm_acceptance(
        actor=demo_user("wl-bss"),
        account=demo["alpine-fabrikam"],
        data=form_data(first_name="Anna", last_name="Lidman", email="anna@alpineskihouse.example"),
        context=context(channel=Channel.BSS_EXECUTION),
    )
    # Partner Center answered the first one.
    AcceptanceDelivery.objects.filter(record=first).update(
        state=DeliveryState.SENT,
        attempts=1,
        sent_at=timezone.now(),
        last_status_code=201,
        response={"id": "agreement-1", "agreementType": "MicrosoftCustomerAgreement"},
    )
    return first, other, second


def read_json(folder, name):
    return json.loads((folder / name).read_text())


def test_export_holds_every_record_of_the_tenant_and_no_other(tmp_path, demo, alpine):
    first, other, second = alpine
    folder = export_evidence(demo["alpine-fabrikam"], tmp_path)
    assert folder.parent == tmp_path
    records = read_json(folder, "records.json")
    assert [r["sequence"] for r in records] == [first.sequence, second.sequence]
    assert other.sequence not in [r["sequence"] for r in records]
    assert records[0]["order_number"] == "SO-000007"
    assert records[0]["form_data"] == first.form_data  # exactly as entered
    assert records[0]["form_data_parsed"]["email"] == "anna@alpineskihouse.example"
    for field in ("actor_username", "actor_role", "tenant_id", "channel", "ip_address", "template_id", "entry_hash"):
        assert field in records[0]
    rows = list(csv.reader(io.StringIO((folder / "records.csv").read_text())))
    assert rows[0][0] == "sequence" and [int(r[0]) for r in rows[1:]] == [first.sequence, second.sequence]


def test_export_of_a_not_synced_account_holds_its_own_records(tmp_path, demo, alpine):
    folder = export_evidence(demo["northwind"], tmp_path)
    assert [r["account_name"] for r in read_json(folder, "records.json")] == ["Northwind Traders"]
    readme = (folder / "README.md").read_text()
    assert "none yet (not synced)" in readme
    assert "1 first-party" in readme and "sufficient proof on its own" in readme


def test_chain_json_checks_the_whole_log_and_each_record(tmp_path, demo, alpine):
    chain = read_json(export_evidence(demo["alpine-contoso"], tmp_path), "chain.json")
    assert chain["whole_chain"] == {"intact": True, "records_checked": 3, "last_sequence": 3, "first_break": None}
    assert [(r["sequence"], r["hash_ok"], r["prev_link_ok"]) for r in chain["records"]] == [
        (1, True, True),
        (3, True, True),
    ]


def test_chain_json_names_a_tampered_record(tmp_path, demo, alpine):
    _, _, second = alpine
    tamper(second.pk, "last_name = 'Forged'")
    folder = export_evidence(demo["alpine-contoso"], tmp_path)
    chain = read_json(folder, "chain.json")
    assert chain["whole_chain"]["intact"] is False
    assert f"record #3 (id {second.pk})" in chain["whole_chain"]["first_break"]
    assert [(r["sequence"], r["hash_ok"]) for r in chain["records"]] == [(1, True), (3, False)]
    assert "NOT intact" in (folder / "README.md").read_text()


def test_deliveries_json_carries_partner_centers_answer(tmp_path, demo, alpine):
    deliveries = read_json(export_evidence(demo["alpine-contoso"], tmp_path), "deliveries.json")
    sent, pending = deliveries
    assert sent["state"] == "sent" and sent["last_status_code"] == 201
    assert sent["partner_center_answer"]["id"] == "agreement-1"
    assert pending["state"] == "pending" and pending["partner_center_answer"] is None


def test_readme_summarises_customer_knowledge_evidence_chain_and_delivery(tmp_path, demo, alpine):
    readme = (export_evidence(demo["alpine-contoso"], tmp_path) / "README.md").read_text()
    assert "# MCA acceptance evidence: Alpine Ski House" in readme
    assert "Fabrikam Cloud" in readme  # the other account of the same tenant is named
    assert "Acceptance known now: Confirmed here" in readme
    assert "2 acceptance log record(s): 0 first-party, 2 attestation(s) on the customer's behalf, 0 accepted" in readme
    assert "No first-party record" in readme
    assert "Whole log: intact, 3 record(s) verified" in readme
    assert "- pending: 1" in readme and "- sent: 1" in readme


def test_sha256sums_match_the_files(tmp_path, demo, alpine):
    folder = export_evidence(demo["alpine-contoso"], tmp_path)
    sums = dict(reversed(line.split("  ")) for line in (folder / "SHA256SUMS").read_text().splitlines())
    # Every file of the export is listed (an empty SHA256SUMS would check nothing), and each digest matches.
    exported = {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()} - {"SHA256SUMS"}
    assert exported and set(sums) == exported
    for name, digest in sums.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_command_prints_where_it_wrote(tmp_path, demo, alpine):
    """mca_export writes the evidence pack: one zip holding the export's files and what verifies them."""
    import zipfile

    out = io.StringIO()
    call_command("mca_export", "--account", str(demo["alpine-contoso"].pk), "--out", str(tmp_path), stdout=out)
    [pack] = list(tmp_path.iterdir())
    assert pack.suffix == ".zip" and str(pack) in out.getvalue()
    names = {name.split("/", 1)[1] for name in zipfile.ZipFile(pack).namelist()}
    assert {
        "records.json",
        "records.csv",
        "chain.json",
        "deliveries.json",
        "attestations.json",
        "README.md",
        "SHA256SUMS",
        "proof.json",
        "verify.py",
        "summary.pdf",
    } <= names


def test_command_refuses_an_unknown_account(tmp_path, demo):
    with pytest.raises(CommandError, match="No account with id 999999"):
        call_command("mca_export", "--account", "999999", "--out", str(tmp_path), stdout=io.StringIO())
    assert list(tmp_path.iterdir()) == []
