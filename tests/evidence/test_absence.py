"""Verification never trusts absence (issue 17, attacks 1 and 2).

An insider with the application's OS user can delete the checkpoint files (the folder is writable) or the folder
itself, and rewrite the chain as the unkeyed version 2; or cut the log's tail, or restore a backup taken after the
last checkpoint. Each is named: records that no checkpoint covers long after they were written, unkeyed records
after the keyed-since floor, a checkpoint ahead of the log; and nothing is signed over such a log."""

import io
import os
import shutil
from datetime import timedelta

import pytest
import time_machine
from celery.signals import before_task_publish
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.celery import app as celery_app
from mca.chain import BreakKind, entry_hash, record_values
from mca.checkpoints import CheckpointRefused, latest_checkpoint
from mca.models import AcceptanceRecord
from mca.tasks import write_checkpoint_task
from mca.verify import verify_chain, write_checkpoint
from tests.evidence.conftest import delete_record, move_head, rewrite

pytestmark = pytest.mark.django_db

LATER = timedelta(minutes=10)  # past MCA_CHECKPOINT_OVERDUE_SECONDS (300)


def kinds(result) -> list[tuple[int, str]]:
    return [(b.sequence, b.kind) for b in result.breaks]


def checkpoint_folder(root):
    return root / django_settings.MCA_LOG_ID / "checkpoints"


def delete_checkpoint_files(root) -> int:
    """What the app's OS user can do: the files are 0444, but the folder is its own."""
    files = list((root / django_settings.MCA_LOG_ID).rglob("*.json"))
    for path in files:
        os.remove(path)
    return len(files)


def rewrite_as_version_2(**changes) -> str:
    """Every record re-written as unkeyed version 2 (no MAC needed), chained again from the genesis hash; the head
    moved to match. Returns the new head hash."""
    prev = "0" * 64
    for record in AcceptanceRecord.objects.order_by("sequence"):
        for name, value in changes.items():
            setattr(record, name, value)
        record.prev_hash, record.hash_version = prev, 2
        rehashed = entry_hash(record_values(record), 2)
        rewrite(record.pk, hash_version=2, prev_hash=prev, entry_hash=rehashed, key_id="", mac="", **changes)
        prev = rehashed
    last = AcceptanceRecord.objects.order_by("-sequence").first()
    move_head(last.sequence, prev)
    return prev


def verify_command(*args) -> str:
    out = io.StringIO()
    call_command("mca_verify_log", "--no-progress", *args, stdout=out)
    return out.getvalue()


# --- records but no checkpoints ---


def test_fresh_records_without_a_checkpoint_yet_are_the_window_not_a_break(records):
    """A checkpoint is on its way for records younger than MCA_CHECKPOINT_OVERDUE_SECONDS."""
    assert verify_chain().ok


def test_records_no_checkpoint_covers_long_after_are_a_named_break(records):
    with time_machine.travel(timezone.now() + LATER):
        result = verify_chain()
    assert kinds(result) == [(1, BreakKind.UNCOVERED)]
    problem = result.first_break.problem
    assert problem.startswith("no checkpoint covers record(s) #1–#3, although #1 was written at ")
    assert "holds no checkpoint of this log at all" in problem
    assert "a log without checkpoints is never intact" in problem
    assert result.first_break.record_id == records[0].pk


def test_deleted_checkpoint_files_are_named_by_full_and_incremental_verification(records, checkpoint_dir):
    write_checkpoint()
    assert "intact" in verify_command()  # also writes the "verified up to" marker
    assert delete_checkpoint_files(checkpoint_dir) == 2
    with time_machine.travel(timezone.now() + LATER):
        for args in ((), ("--incremental",)):
            with pytest.raises(CommandError, match=r"NOT intact: record #1 .*no checkpoint covers record\(s\) #1–#3"):
                verify_command(*args)


def test_a_missing_checkpoint_folder_is_named(records, checkpoint_dir):
    write_checkpoint()
    shutil.rmtree(checkpoint_dir / django_settings.MCA_LOG_ID)
    with time_machine.travel(timezone.now() + LATER):
        result = verify_chain()
    assert kinds(result) == [(1, BreakKind.UNCOVERED)]
    assert "folder or bucket empty, missing or replaced" in result.first_break.problem


def test_records_after_the_newest_checkpoint_long_uncovered_are_named(records, confirm, checkpoint_dir):
    """Later checkpoints deleted, or checkpointing stopped: the records past the newest one are named."""
    write_checkpoint()
    fourth = confirm("litware", "bss")
    with time_machine.travel(timezone.now() + LATER):
        result = verify_chain()
        assert kinds(result) == [(4, BreakKind.UNCOVERED)]
        assert result.first_break.record_id == fourth.pk
        assert "the newest checkpoint stops at #3" in result.first_break.problem
        # Signing is the remedy, not a refusal: #4 verifies from the checkpoint at #3.
        assert write_checkpoint().checkpoint.sequence == 4
        assert verify_chain().ok


# --- attack 1: checkpoints deleted, chain rewritten as unkeyed version 2 ---


def test_attack_1_checkpoints_deleted_and_the_chain_rewritten_as_version_2(records, checkpoint_dir):
    write_checkpoint()
    verify_command()
    delete_checkpoint_files(checkpoint_dir)
    rewrite_as_version_2(first_name="Mallory")
    # At once (the records' time is the attacker's to choose: they are no longer sealed), and later.
    for moment in (timezone.now(), timezone.now() + LATER):
        with time_machine.travel(moment):
            for args in ((), ("--incremental",)):
                with pytest.raises(CommandError, match=r"NOT intact: record #1 .*at or after the keyed-since floor"):
                    verify_command(*args)
            # The next checkpoint does not sign the forged head.
            with pytest.raises(CommandError, match="not signing a checkpoint: the acceptance log is NOT intact"):
                call_command("mca_checkpoint", stdout=io.StringIO())
            with pytest.raises(CheckpointRefused):
                write_checkpoint(adopt=True)
    assert latest_checkpoint() is None


def test_the_keyed_since_floor_travels_in_every_checkpoint_and_the_lowest_wins(records, confirm, settings):
    """Someone who can change the environment raises the floor to let version-2 rewrites through: the floor the
    earlier checkpoints carry still holds."""
    settings.MCA_LOG_KEYED_SINCE = 1
    assert write_checkpoint().checkpoint.keyed_since == 1
    later = confirm("litware", "bss")
    settings.MCA_LOG_KEYED_SINCE = 100
    later.hash_version = 2
    rehashed = entry_hash(record_values(later), 2)
    rewrite(later.pk, hash_version=2, entry_hash=rehashed, key_id="", mac="")
    move_head(later.sequence, rehashed)
    result = verify_chain()
    assert (result.first_break.sequence, result.first_break.kind) == (4, BreakKind.DOWNGRADE)


def test_a_log_without_checkpoints_is_adopted_only_when_the_operator_says_so(records):
    with time_machine.travel(timezone.now() + LATER):
        with pytest.raises(CommandError, match="no checkpoint covers record"):
            call_command("mca_checkpoint", stdout=io.StringIO())
        out = io.StringIO()
        call_command("mca_checkpoint", "--adopt", stdout=out)
        assert "Checkpoint at #3" in out.getvalue()
        assert verify_chain().ok


# --- attack 2: the tail cut, or a backup restored, after the last checkpoint ---


@pytest.fixture
def checkpoints_after_commit(settings, django_capture_on_commit_callbacks):
    """The application's own cadence, as in production: each commit schedules the next checkpoint (eager here)."""
    settings.MCA_CHECKPOINT_AFTER_COMMIT = True
    cache.delete("mca:checkpoint-scheduled")

    def committed(write):
        with django_capture_on_commit_callbacks(execute=True):
            return write()

    return committed


def test_a_new_record_is_checkpointed_by_the_application_itself(records, confirm, checkpoints_after_commit):
    fourth = checkpoints_after_commit(lambda: confirm("litware", "bss"))
    checkpoint = latest_checkpoint()
    assert (checkpoint.sequence, checkpoint.head_hash) == (4, fourth.entry_hash)


def test_attack_2_the_tail_cut_after_the_last_checkpoint_is_named(records, confirm, checkpoints_after_commit):
    checkpoints_after_commit(lambda: confirm("litware", "bss"))
    fifth = checkpoints_after_commit(lambda: confirm("tailspin", "wl-bss"))
    assert latest_checkpoint().sequence == 5
    delete_record(fifth.pk)  # or a backup from before #5 restored: the head goes back with it
    move_head(4, AcceptanceRecord.objects.get(sequence=4).entry_hash)
    for args in ((), ("--incremental",)):
        expected = r"NOT intact: at #5: the log ends at #4 \(id \d+\), but the checkpoint of .* signed size 5 "
        with pytest.raises(CommandError, match=expected):
            verify_command(*args)
    with pytest.raises(CheckpointRefused):
        write_checkpoint()


def test_a_burst_of_records_schedules_one_checkpoint(records, confirm, settings, monkeypatch, checkpoints_after_commit):
    """Batched: the records committed while a checkpoint is on its way add nothing; once it runs, the next record
    schedules the next one."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)  # published to the in-memory broker
    published: list[str] = []

    def count(sender=None, **kwargs):
        if sender == write_checkpoint_task.name:
            published.append(sender)

    before_task_publish.connect(count)
    try:
        for key in ("litware", "tailspin", "litware"):
            checkpoints_after_commit(lambda key=key: confirm(key, "bss" if key == "litware" else "wl-bss"))
        assert len(published) == 1
        write_checkpoint_task()  # the scheduled task runs
        assert latest_checkpoint().sequence == 6
        checkpoints_after_commit(lambda: confirm("litware", "bss"))
        assert len(published) == 2
    finally:
        before_task_publish.disconnect(count)


def test_a_process_that_knows_a_checkpoint_is_on_its_way_asks_the_cache_nothing_until_it_fires(
    records, confirm, monkeypatch, checkpoints_after_commit
):
    """Another process scheduled the task (the key holds when it fires): this process reads that once, then its
    records ask nothing until then; once the task has started, the next record schedules the next one."""
    import time

    from mca import checkpoints

    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)  # published to the in-memory broker
    cache.set(checkpoints._SCHEDULED, time.time() + 30, timeout=90)
    asked: list[str] = []
    real_add, real_get = cache.add, cache.get

    def spy(name, real):
        # Only the scheduling's own key: a confirmation reads other keys too (e.g. the webhook subscriptions).
        def call(key, *args, **kwargs):
            if key == checkpoints._SCHEDULED:
                asked.append(name)
            return real(key, *args, **kwargs)

        return call

    monkeypatch.setattr(cache, "add", spy("add", real_add))
    monkeypatch.setattr(cache, "get", spy("get", real_get))
    for key in ("litware", "tailspin", "litware"):
        checkpoints_after_commit(lambda key=key: confirm(key, "bss" if key == "litware" else "wl-bss"))
    assert asked == ["add", "get"]
    checkpoints.scheduled_checkpoint_due()  # the task starts (in whichever process)
    checkpoints_after_commit(lambda: confirm("litware", "bss"))
    assert asked == ["add", "get", "add"]
    assert isinstance(real_get(checkpoints._SCHEDULED), float)  # when the newly scheduled task fires
