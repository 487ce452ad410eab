"""The evidence pack of an enhanced attestation's whole story, written against the simulator over HTTP: the form,
Microsoft's link, the signatory's acceptance and the agreement are four records a third party verifies."""

import json
import zipfile

import pytest
import requests

from bss.choices import Channel
from mca import gate
from mca.choices import RecordEvent
from mca.export import export_evidence_pack
from tests.evidence.packs import run_verify


@pytest.fixture
def demo_live(pc_simulator, demo, settings):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    settings.MCA_ATTESTATION_POLL_SECONDS = 0
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 0.5
    return demo


def test_the_pack_of_a_signatory_story_verifies(demo_live, demo_user, tmp_path):
    litware = demo_live["litware"]
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"),
        account=litware,
        data={
            "signatory_first_name": "Lena",
            "signatory_last_name": "Fischer",
            "signatory_email": "lena.fischer@example.com",
            "signatory_phone": "",
            "company_name": "Litware",
            "authority_confirmed": "on",
        },
        context=gate.ConfirmationContext(channel=Channel.BSS_EXECUTION),
    )
    assert requests.post(outcome.link, timeout=10).status_code == 200
    assert gate.check_now(litware).needed is False

    path = export_evidence_pack(litware, tmp_path / "out")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "unpacked")
    [folder] = list((tmp_path / "unpacked").iterdir())
    proof = json.loads((folder / "proof.json").read_text())
    assert [record["event"] for record in proof["records"]] == [
        RecordEvent.FORM_SUBMITTED,
        RecordEvent.ATTESTATION_CREATED,
        RecordEvent.SIGNATORY_ACCEPTED,
        RecordEvent.AGREEMENT_CREATED,
    ]
    answers = json.loads((folder / "microsoft-answers.json").read_text())
    assert {answer["event"] for answer in answers if answer["source"] == "record"} >= {
        RecordEvent.ATTESTATION_CREATED,
        RecordEvent.SIGNATORY_ACCEPTED,
    }
    result = run_verify(folder)
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("PASS  chain from record") == 4


def test_the_packs_words_count_each_evidence_class_and_leave_no_empty_brackets(
    demo_live, demo_user, tmp_path, admin_client
):
    """A customer's own user starts the story (first-party), Microsoft reports the signatory's acceptance: the README
    counts that as accepted at Microsoft (not as an attestation), never labels the customer's own record a bare
    "no", and a system step is named without an empty role in brackets."""
    northwind = demo_live["northwind"]
    outcome = gate.submit_acceptance(
        actor=demo_user("customer"),
        account=northwind,
        data={
            "signatory_first_name": "Nancy",
            "signatory_last_name": "Davolio",
            "signatory_email": "nancy@northwind.example",
            "signatory_phone": "",
            "company_name": "Northwind Traders",
            "authority_confirmed": "on",
        },
        context=gate.ConfirmationContext(channel=Channel.STOREFRONT),
    )
    assert requests.post(outcome.link, timeout=10).status_code == 200
    assert gate.check_now(northwind).needed is False

    path = export_evidence_pack(northwind, tmp_path / "out")
    with zipfile.ZipFile(path) as archive:
        readme = next(archive.read(name) for name in archive.namelist() if name.endswith("/README.md")).decode()
    assert "2 first-party, 0 attestation(s) on the customer's behalf, 1 accepted at Microsoft by the signatory" in (
        readme.replace("\n", " ")
    )
    assert "()" not in readme
    assert "| Partner Center |" in readme
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "First-party" in line]
    assert rows and all("| no |" not in row for row in rows)
    assert all("the signatory's acceptance at Microsoft" in row for row in rows)

    from mca.models import AcceptanceRecord

    created = AcceptanceRecord.objects.get(account_id=northwind.pk, event=RecordEvent.ATTESTATION_CREATED)
    page = admin_client.get(f"/admin/mca/acceptancerecord/{created.pk}/change/").content.decode()
    assert "this step has no form" in page and "{}</pre>" not in page
    assert "Partner Center ()" not in page
