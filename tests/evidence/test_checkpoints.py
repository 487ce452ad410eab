"""Signed checkpoints outside the database: written once, signed with Ed25519, checked by key; incremental
verification from the last checkpoint that verified; the command and the beat task."""

import base64
import io
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from mca.chain import BreakKind
from mca.checkpoints import (
    CHECKPOINT_DOMAIN,
    canonical_json,
    checkpoint_storage,
    key_id_for,
    last_verified_checkpoint,
    load_checkpoints,
    raw_public_key,
    record_verified,
)
from mca.tasks import write_checkpoint_task
from mca.verify import verify_chain, write_checkpoint
from tests.evidence.conftest import delete_record, forged_copy, insert, move_head

pytestmark = pytest.mark.django_db


def checkpoint_files(folder):
    return sorted((folder / django_settings.MCA_LOG_ID / "checkpoints").rglob("*.json"))


def test_a_checkpoint_is_a_signed_write_once_file_of_the_head(records, checkpoint_dir):
    written = write_checkpoint()
    checkpoint = written.checkpoint
    assert (checkpoint.sequence, checkpoint.head_hash) == (3, records[-1].entry_hash)
    [path] = checkpoint_files(checkpoint_dir)
    data = json.loads(path.read_text())
    assert data["format"] == "mca-acceptance-log-checkpoint/v1" and data["algorithm"] == "Ed25519"
    body = data["checkpoint"]
    assert set(body) == {"log_id", "sequence", "head_hash", "time", "key_id", "hash_version", "keyed_since"}
    assert (body["log_id"], body["sequence"], body["hash_version"], body["keyed_since"]) == ("mca-test-log", 3, 3, 1)
    assert body["time"].endswith("Z")
    public = base64.b64decode(data["public_key"])
    assert body["key_id"] == key_id_for(public) == key_id_for(raw_public_key())
    # Anyone with the public key checks it, with nothing but the file.
    Ed25519PublicKey.from_public_bytes(public).verify(
        base64.b64decode(data["signature"]), CHECKPOINT_DOMAIN + canonical_json(body)
    )


def test_the_storage_never_replaces_a_checkpoint_file(records):
    name = write_checkpoint().checkpoint.name
    with pytest.raises(FileExistsError, match="written once"):
        checkpoint_storage().save(name, ContentFile(b"{}"))


def test_no_new_checkpoint_while_the_head_has_not_moved(records, confirm, checkpoint_dir):
    write_checkpoint()
    assert write_checkpoint().unchanged
    assert write_checkpoint(force=True).checkpoint.sequence == 3
    confirm("litware", "bss")
    written = write_checkpoint()
    assert (written.checkpoint.sequence, written.previous.sequence, written.verified) == (4, 3, 1)
    assert len(checkpoint_files(checkpoint_dir)) == 3


def test_an_empty_log_gets_no_checkpoint(db):
    assert write_checkpoint().checkpoint is None


def test_an_edited_checkpoint_file_is_named(records, checkpoint_dir):
    write_checkpoint()
    [path] = checkpoint_files(checkpoint_dir)
    data = json.loads(path.read_text())
    data["checkpoint"]["sequence"] = 2
    data["checkpoint"]["head_hash"] = records[1].entry_hash
    path.write_text(json.dumps(data))
    result = verify_chain()
    assert [b.kind for b in result.breaks] == [BreakKind.CHECKPOINT_SIGNATURE]
    assert "its signature does not verify: the file was forged or edited" in str(result.first_break)
    assert path.name in str(result.first_break)


def test_a_checkpoint_signed_with_an_untrusted_key_is_named(records, checkpoint_dir):
    """An insider who can also write the checkpoint folder still lacks the signing key."""
    write_checkpoint()
    [path] = checkpoint_files(checkpoint_dir)
    data = json.loads(path.read_text())
    mallory = Ed25519PrivateKey.generate()
    public = raw_public_key(mallory)
    data["checkpoint"]["key_id"] = key_id_for(public)
    data["signature"] = base64.b64encode(mallory.sign(CHECKPOINT_DOMAIN + canonical_json(data["checkpoint"]))).decode()
    data["public_key"] = base64.b64encode(public).decode()
    path.write_text(json.dumps(data))
    assert "which is not a trusted checkpoint key" in str(verify_chain().first_break)


def test_a_rotated_signing_key_keeps_its_checkpoints_trusted(records, confirm, settings):
    old = write_checkpoint().checkpoint
    old_public = raw_public_key()
    settings.MCA_CHECKPOINT_SIGNING_KEY = b"n" * 32
    settings.MCA_CHECKPOINT_PUBLIC_KEYS = [old_public]
    confirm("litware", "bss")
    new = write_checkpoint().checkpoint
    assert old.key_id != new.key_id
    assert verify_chain().ok and len(load_checkpoints().checkpoints) == 2
    settings.MCA_CHECKPOINT_PUBLIC_KEYS = []
    assert "not a trusted checkpoint key" in str(verify_chain().first_break)


def test_checkpoints_of_another_log_are_refused(records, settings):
    write_checkpoint()
    settings.MCA_LOG_ID = "other-log"
    assert load_checkpoints().checkpoints == []  # another folder


# --- incremental verification ---


def test_incremental_verification_starts_at_the_last_verified_checkpoint(records, confirm):
    write_checkpoint()
    out = io.StringIO()
    call_command("mca_verify_log", "--no-progress", stdout=out)
    assert "intact: 3 records verified" in out.getvalue()
    assert "Marked verified up to checkpoint #3" in out.getvalue()
    assert last_verified_checkpoint().sequence == 3
    for _ in range(4):
        confirm("litware", "bss")
    out = io.StringIO()
    call_command("mca_verify_log", "--no-progress", "--incremental", stdout=out)
    text = out.getvalue()
    assert "Verifying from record #3" in text
    assert "intact: 4 records verified" in text and "(from checkpoint #3, up to #7)" in text


def test_incremental_verification_without_a_marker_verifies_everything(records):
    out = io.StringIO()
    call_command("mca_verify_log", "--no-progress", "--incremental", stdout=out)
    assert "No verified checkpoint yet: verifying the whole log." in out.getvalue()
    assert "intact: 3 records verified" in out.getvalue()


def test_incremental_verification_catches_a_forged_append_after_the_checkpoint(records):
    record_verified(write_checkpoint().checkpoint)
    forged = insert(forged_copy(records[-1], after=records[-1], mac="1" * 64))
    move_head(4, forged.entry_hash)
    with pytest.raises(CommandError, match=rf"record #4 \(id {forged.pk}\): its MAC does not verify"):
        call_command("mca_verify_log", "--no-progress", "--incremental", stdout=io.StringIO())


def test_incremental_verification_from_a_checkpoint_whose_record_is_gone(records):
    """A database restored to before the checkpoint it would start from."""
    record_verified(write_checkpoint().checkpoint)
    delete_record(records[-1].pk)
    move_head(2, records[1].entry_hash)
    result = verify_chain(start=last_verified_checkpoint())
    assert (result.first_break.sequence, result.first_break.kind) == (3, BreakKind.MISSING)
    # Named as the missing tail it is, as a full run names it.
    assert result.first_break.problem.startswith(f"the log ends at #2 (id {records[1].pk}), but the checkpoint of")
    assert "record #3 is missing from the end" in result.first_break.problem


def test_from_checkpoint_by_sequence_and_unknown(records, confirm):
    write_checkpoint()
    confirm("litware", "bss")
    out = io.StringIO()
    call_command("mca_verify_log", "--no-progress", "--from-checkpoint", "3", "--no-record", stdout=out)
    assert "intact: 1 records verified" in out.getvalue() and "Marked" not in out.getvalue()
    with pytest.raises(CommandError, match="--from-checkpoint 9: no checkpoint '9'"):
        call_command("mca_verify_log", "--no-progress", "--from-checkpoint", "9", stdout=io.StringIO())


def test_a_forged_verified_marker_is_ignored(records, checkpoint_dir):
    marker = record_verified(write_checkpoint().checkpoint)
    path = checkpoint_dir / marker
    data = json.loads(path.read_text())
    data["verified"]["sequence"] = 99
    path.chmod(0o644)
    path.write_text(json.dumps(data))
    assert last_verified_checkpoint() is None


# --- the command and the beat task ---


def test_checkpoint_command_reports_what_it_wrote(records):
    out = io.StringIO()
    call_command("mca_checkpoint", stdout=out)
    assert "Checkpoint at #3" in out.getvalue() and "3 record(s) verified since the start" in out.getvalue()
    out = io.StringIO()
    call_command("mca_checkpoint", stdout=out)
    assert "No new checkpoint: the head has not moved since the last one (#3)" in out.getvalue()


def test_checkpoint_command_refuses_a_broken_log(records):
    delete_record(records[1].pk)
    with pytest.raises(CommandError, match=r"not signing a checkpoint: the acceptance log is NOT intact: record #3"):
        call_command("mca_checkpoint", stdout=io.StringIO())


def test_beat_writes_checkpoints_on_schedule(records, settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["write-log-checkpoint"]
    assert schedule == {"task": "mca.tasks.write_checkpoint_task", "schedule": 60.0}
    write_checkpoint_task.delay()  # eager in tests: runs now
    assert [c.sequence for c in load_checkpoints().checkpoints] == [3]
    assert write_checkpoint_task() is None  # unchanged head: nothing new


def test_beat_task_logs_a_broken_log_and_signs_nothing(records, caplog):
    delete_record(records[1].pk)
    assert write_checkpoint_task() is None
    assert "not signing a checkpoint" in caplog.text
    assert load_checkpoints().checkpoints == []


def test_an_unreadable_checkpoint_storage_is_a_break_not_an_empty_list(records, monkeypatch):
    from mca import checkpoints

    def unreachable(path):
        raise ConnectionError("bucket unreachable")

    monkeypatch.setattr(checkpoints, "_listdir", unreachable)
    result = verify_chain()
    assert [b.kind for b in result.breaks] == [BreakKind.CHECKPOINT_STORAGE]
    assert "the checkpoint storage could not be read (ConnectionError: bucket unreachable)" in str(result.first_break)
