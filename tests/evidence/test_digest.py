"""The daily checkpoint digest (issue 17, optional item): the newest signed head and the public key e-mailed to
MCA_CHECKPOINT_WITNESS_EMAILS (empty: off), by beat and by `mca_checkpoint_digest`."""

import base64
import io
import json

import pytest
from celery.schedules import crontab
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings as django_settings
from django.core.management import call_command

from mca.checkpoints import CHECKPOINT_DOMAIN, canonical_json, key_id_for, raw_public_key
from mca.tasks import send_checkpoint_digest_task
from mca.verify import write_checkpoint

pytestmark = pytest.mark.django_db
AUDITORS = ["audit@example.org", "witness@customer.example"]


def test_off_when_no_address_is_configured(records, mailoutbox, settings):
    settings.MCA_CHECKPOINT_WITNESS_EMAILS = []
    write_checkpoint()
    out = io.StringIO()
    call_command("mca_checkpoint_digest", stdout=out)
    assert send_checkpoint_digest_task() == 0
    assert mailoutbox == [] and "no digest sent" in out.getvalue()


def test_the_digest_carries_the_newest_signed_head_and_the_public_key(records, confirm, mailoutbox, settings):
    settings.MCA_CHECKPOINT_WITNESS_EMAILS = AUDITORS
    write_checkpoint()
    confirm("litware", "bss")
    newest = write_checkpoint().checkpoint
    assert send_checkpoint_digest_task() == 2
    [mail] = mailoutbox
    assert mail.to == AUDITORS
    assert mail.subject == f"[mca-test-log] Checkpoint digest: head #4 signed {newest.time}"
    public = base64.b64encode(raw_public_key()).decode()
    for fact in (newest.head_hash, newest.signature, f"key id {key_id_for(raw_public_key())}", public, "#4"):
        assert fact in mail.body, fact
    # The attached file is the stored checkpoint: anyone verifies it with the key in the same e-mail.
    [(filename, content, mimetype)] = mail.attachments
    assert filename == newest.name.rsplit("/", 1)[-1] and mimetype == "application/json"
    data = json.loads(content)
    assert data["checkpoint"] == newest.body()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(
        base64.b64decode(data["signature"]), CHECKPOINT_DOMAIN + canonical_json(data["checkpoint"])
    )


def test_no_checkpoint_is_said_loudly(records, mailoutbox, settings):
    settings.MCA_CHECKPOINT_WITNESS_EMAILS = AUDITORS[:1]
    call_command("mca_checkpoint_digest", stdout=io.StringIO())
    [mail] = mailoutbox
    assert "NO signed checkpoint" in mail.subject and mail.attachments == []


def test_the_command_sends_to_the_addresses_given(records, mailoutbox, settings):
    settings.MCA_CHECKPOINT_WITNESS_EMAILS = []
    write_checkpoint()
    out = io.StringIO()
    call_command("mca_checkpoint_digest", "--to", "someone@example.org", stdout=out)
    assert [mail.to for mail in mailoutbox] == [["someone@example.org"]]
    assert "sent to 1 address(es)" in out.getvalue()


def test_beat_sends_it_daily():
    entry = django_settings.CELERY_BEAT_SCHEDULE["email-checkpoint-digest"]
    assert entry["task"] == "mca.tasks.send_checkpoint_digest_task" == send_checkpoint_digest_task.name
    assert entry["schedule"] == crontab(minute=0, hour=django_settings.MCA_CHECKPOINT_DIGEST_HOUR)
