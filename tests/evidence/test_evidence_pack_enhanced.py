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
