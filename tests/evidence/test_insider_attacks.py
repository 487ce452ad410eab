"""An insider who can write the database — plain INSERTs and UPDATEs with the application's privileges, or the
triggers switched off — against the keyed chain and the signed checkpoints. Each attack is detected and named
with its own message. Runs on SQLite and PostgreSQL (triggers off: DROP TRIGGER / ALTER TABLE DISABLE TRIGGER)."""

import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from mca.chain import BreakKind, entry_hash, record_values
from mca.checkpoints import CheckpointRefused, load_checkpoints
from mca.models import AcceptanceRecord, ChainHead
from mca.verify import verify_chain, write_checkpoint
from tests.evidence.conftest import delete_record, forged_copy, insert, move_head, rewrite

pytestmark = pytest.mark.django_db


def kinds(result) -> list[tuple[int, str]]:
    return [(b.sequence, b.kind) for b in result.breaks]


# --- forged appends ---


def test_an_appended_row_with_a_valid_sha_chain_and_the_head_moved_fails_its_mac(records):
    """The independent test's first finding: INSERT a correctly chained row, UPDATE mca_chainhead."""
    forged = insert(forged_copy(records[-1], after=records[-1], first_name="Mallory", mac="0" * 64))
    move_head(forged.sequence, forged.entry_hash)
    result = verify_chain()
    assert not result.ok
    assert (result.first_break.sequence, result.first_break.record_id, result.first_break.kind) == (
        4,
        forged.pk,
        BreakKind.MAC,
    )
    assert str(result.first_break).startswith(f"record #4 (id {forged.pk}): its MAC does not verify with key 'dev'")
    assert result.checked == 3


def test_an_appended_row_without_any_mac_says_so(records):
    forged = insert(forged_copy(records[-1], after=records[-1], mac="", key_id=""))
    move_head(forged.sequence, forged.entry_hash)
    assert "carries no MAC" in verify_chain().first_break.problem


def test_an_appended_row_in_the_unkeyed_version_2_is_a_downgrade(records):
    """Version 2 needs no key, so a forger would write one: after version-3 records it is refused."""
    forged = insert(forged_copy(records[-1], after=records[-1], hash_version=2, mac="", key_id=""))
    move_head(forged.sequence, forged.entry_hash)
    result = verify_chain()
    assert (result.first_break.sequence, result.first_break.record_id, result.first_break.kind) == (
        4,
        forged.pk,
        BreakKind.DOWNGRADE,
    )
    assert "hash version 2 after version-3 records" in result.first_break.problem


def test_an_extra_row_past_the_head_is_named_by_its_real_sequence_and_id(records):
    """Not "record #4 (id None) ... missing from the end" any more."""
    forged = insert(forged_copy(records[-1], after=records[-1], mac="0" * 64))
    result = verify_chain()
    assert (result.first_break.sequence, result.first_break.record_id) == (4, forged.pk)
    assert "id None" not in str(result.first_break) and "missing" not in str(result.first_break)


def test_a_head_moved_back_leaves_extra_records_named_as_extra(records):
    move_head(records[1].sequence, records[1].entry_hash)
    result = verify_chain()
    assert kinds(result) == [(3, BreakKind.EXTRA)]
    assert str(result.first_break) == (
        f"record #3 (id {records[2].pk}): extra record: it lies past the chain head (#2); 1 record(s) #3–#3 were "
        "added without the log's append, or the head was moved back"
    )


def test_a_head_moved_forward_names_the_records_missing_from_the_end(records):
    move_head(5, "f" * 64)
    result = verify_chain()
    assert kinds(result) == [(3, BreakKind.MISSING)]
    assert "the chain head says the log ends at #5, but the last record is #3" in result.first_break.problem
    assert "records #4–#5 are missing from the end" in result.first_break.problem


def test_a_head_with_another_hash_is_named(records):
    move_head(3, "e" * 64)
    result = verify_chain()
    assert kinds(result) == [(3, BreakKind.HEAD)]
    assert "the head was moved" in str(result.first_break)


# --- truncation, restore, rewrite: the checkpoints outside the database ---


def test_a_truncated_tail_with_the_head_moved_back_is_caught_by_the_checkpoint(records):
    write_checkpoint()
    delete_record(records[-1].pk)
    move_head(records[1].sequence, records[1].entry_hash)
    # The chain alone now looks whole: only the checkpoint, kept outside the database, knows better.
    assert verify_chain(checkpoints=[]).ok
    result = verify_chain()
    assert kinds(result) == [(3, BreakKind.MISSING)]
    assert f"the log ends at #2 (id {records[1].pk}), but the checkpoint of" in result.first_break.problem
    assert "signed size 3" in result.first_break.problem and "record #3 is missing from the end" in str(result)
    assert "restored from an earlier backup, or its tail was deleted" in result.first_break.problem


def test_a_database_restored_from_an_older_backup_is_named(records, confirm):
    write_checkpoint()
    later = [confirm("alpine-contoso", "reseller"), confirm("litware", "bss")]
    write_checkpoint()
    # The backup taken at #3: the two later records and the head's move are gone.
    for record in reversed(later):
        delete_record(record.pk)
    move_head(records[-1].sequence, records[-1].entry_hash)
    result = verify_chain()
    # One missing tail, named with the newest checkpoint's size (not once per checkpoint past the end).
    assert kinds(result) == [(4, BreakKind.MISSING)]
    assert "the log ends at #3" in result.first_break.problem
    assert "signed size 5" in result.first_break.problem
    assert "records #4–#5 are missing from the end" in result.first_break.problem


def test_an_old_tail_cut_is_named_missing_not_uncovered(records, confirm):
    """The insider drill's case: records older than MCA_CHECKPOINT_OVERDUE_SECONDS, the tail cut after the last
    checkpoint. The records the checkpoint signed are covered by it; what is wrong is the missing tail."""
    write_checkpoint()
    later = [confirm("alpine-contoso", "reseller"), confirm("litware", "bss")]
    write_checkpoint()
    for record in reversed(later):
        delete_record(record.pk)
    move_head(records[-1].sequence, records[-1].entry_hash)
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        for start in (None, last_checkpoint_at(3)):
            result = verify_chain(start=start)
            assert kinds(result) == [(4, BreakKind.MISSING)], result.breaks
            problem = result.first_break.problem
            assert problem.startswith(f"the log ends at #3 (id {records[-1].pk}), but the checkpoint of ")
            assert "signed size 5" in problem and "records #4–#5 are missing from the end" in problem


def last_checkpoint_at(sequence: int):
    return next(c for c in load_checkpoints().checkpoints if c.sequence == sequence)


def test_a_restored_database_written_to_again_does_not_match_the_checkpoint(records, confirm):
    write_checkpoint()
    later = [confirm("alpine-contoso", "reseller"), confirm("litware", "bss")]
    write_checkpoint()
    for record in reversed(later):
        delete_record(record.pk)
    move_head(records[-1].sequence, records[-1].entry_hash)
    again = [confirm("northwind", "customer"), confirm("litware", "bss"), confirm("tailspin", "wl-bss")]
    result = verify_chain()
    assert kinds(result) == [(5, BreakKind.CHECKPOINT)]
    assert result.first_break.record_id == again[1].pk
    assert "is not the record the checkpoint of" in result.first_break.problem


def test_a_rewritten_and_rehashed_chain_fails_its_mac_and_its_checkpoint(records):
    write_checkpoint()
    # Rewrite record 1 and re-hash everything after it (SHA-256 needs no key), keeping the old MACs.
    prev = "0" * 64
    for record in AcceptanceRecord.objects.order_by("sequence"):
        record.prev_hash = prev
        if record.sequence == 1:
            record.email = "mallory@example.com"
        rehashed = entry_hash(record_values(record), 3)
        rewrite(record.pk, email=record.email, prev_hash=prev, entry_hash=rehashed)
        prev = rehashed
    move_head(3, prev)
    result = verify_chain()
    assert kinds(result) == [(1, BreakKind.MAC), (3, BreakKind.CHECKPOINT)]
    assert "its MAC does not verify" in result.breaks[0].problem
    assert result.breaks[1].record_id == records[2].pk


def test_a_chain_recomputed_as_unkeyed_version_2_is_caught_by_the_floor_and_the_checkpoint(records):
    """The subtle rewrite: every record re-written as version 2 (no MAC needed). No version goes back inside the
    chain; the keyed-since floor (MCA_LOG_KEYED_SINCE, 1 here) names it even without a checkpoint, and the
    checkpoint (signed by a version-3 writer, over a version-3 hash) names it too."""
    write_checkpoint()
    prev = "0" * 64
    for record in AcceptanceRecord.objects.order_by("sequence"):
        record.prev_hash, record.hash_version = prev, 2
        rehashed = entry_hash(record_values(record), 2)
        rewrite(record.pk, hash_version=2, prev_hash=prev, entry_hash=rehashed, key_id="", mac="")
        prev = rehashed
    move_head(3, prev)
    without_checkpoints = verify_chain(checkpoints=[])
    assert kinds(without_checkpoints) == [(1, BreakKind.DOWNGRADE)]
    assert "at or after the keyed-since floor (#1" in without_checkpoints.first_break.problem
    result = verify_chain()
    assert kinds(result) == [(1, BreakKind.DOWNGRADE), (3, BreakKind.CHECKPOINT)]


def test_an_unkeyed_record_after_a_checkpoint_is_a_downgrade_even_at_the_start(records, confirm):
    """Records after a version-3 checkpoint must be sealed: rewriting them as version 2 is named at once."""
    write_checkpoint()
    later = confirm("litware", "bss")
    later.hash_version = 2
    rehashed = entry_hash(record_values(later), 2)
    rewrite(later.pk, hash_version=2, entry_hash=rehashed, key_id="", mac="")
    move_head(later.sequence, rehashed)
    result = verify_chain()
    assert (result.first_break.sequence, result.first_break.kind) == (4, BreakKind.DOWNGRADE)


def test_a_deleted_record_in_the_middle_is_named_as_a_gap(records):
    delete_record(records[1].pk)
    result = verify_chain()
    assert (result.first_break.sequence, result.first_break.record_id, result.first_break.kind) == (
        3,
        records[2].pk,
        BreakKind.MISSING,
    )
    assert "record(s) #2 are missing before it" in result.first_break.problem


# --- checkpoints themselves ---


def test_a_checkpoint_is_not_signed_over_a_forged_append(records):
    forged = insert(forged_copy(records[-1], after=records[-1], mac="0" * 64))
    move_head(forged.sequence, forged.entry_hash)
    with pytest.raises(CheckpointRefused, match=r"record #4 .* MAC does not verify"):
        write_checkpoint()
    assert load_checkpoints().checkpoints == []


def test_the_verify_command_names_each_attack_and_exits_non_zero(records):
    write_checkpoint()
    delete_record(records[-1].pk)
    move_head(2, records[1].entry_hash)
    with pytest.raises(CommandError, match=r"NOT intact: at #3: the log ends at #2 .*record #3 is missing"):
        call_command("mca_verify_log", "--no-progress", stdout=io.StringIO())
    assert ChainHead.objects.get().last_sequence == 2
