"""Checkpoints partitioned by UTC day (<log>/checkpoints/YYYY/MM/DD/): a write lists only the newest day, an
incremental verification only the days from its start checkpoint's (and the day before), a full one every day;
files of the old flat layout are still read by verification, the witness endpoints and --from-checkpoint.
The S3 side is in test_checkpoint_s3.py."""

import io
import os
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.management import call_command

from mca import checkpoints
from mca.checkpoints import (
    find_checkpoint,
    last_verified_checkpoint,
    latest_checkpoint,
    load_checkpoints,
    record_verified,
)
from mca.verify import verify_chain, write_checkpoint

pytestmark = pytest.mark.django_db

# Four days across a month's end: 30 and 31 January, 1 and 2 February 2027.
DAYS = [datetime(2027, 1, 30, 12, tzinfo=UTC) + timedelta(days=n) for n in range(4)]
ROOT = "/.well-known/mca-log/"


@pytest.fixture
def listed(monkeypatch):
    """Every folder (or S3 prefix) the checkpoint code lists."""
    seen: list[str] = []
    real = checkpoints._listdir

    def spy(path):
        seen.append(path.removeprefix(f"{django_settings.MCA_LOG_ID}/"))
        return real(path)

    monkeypatch.setattr(checkpoints, "_listdir", spy)
    return seen


@pytest.fixture
def daily(confirm):
    """One record and one checkpoint on each of DAYS; returns the checkpoints' storage names."""
    names = []
    for day in DAYS:
        with time_machine.travel(day, tick=False):
            confirm("northwind", "customer")
            names.append(write_checkpoint().checkpoint.name)
    return names


def day_folders(paths: list[str]) -> set[str]:
    days = [path for path in paths if path.startswith("checkpoints/") and path.count("/") == 3]
    return {path.removeprefix("checkpoints/") for path in days}


def test_each_checkpoint_is_written_into_its_utc_days_folder(daily, checkpoint_dir):
    assert [name.rsplit("/", 1)[0] for name in daily] == [f"mca-test-log/checkpoints/{day:%Y/%m/%d}" for day in DAYS]
    assert all((checkpoint_dir / name).is_file() for name in daily)
    with time_machine.travel(DAYS[-1] + timedelta(minutes=1)):
        result = verify_chain()
    assert result.ok and result.checkpoints_checked == 4


def test_writing_lists_only_the_newest_days(daily, confirm, listed):
    with time_machine.travel(DAYS[-1] + timedelta(hours=1), tick=False):
        confirm("litware", "bss")
        written = write_checkpoint()
    assert written.previous.name == daily[-1] and written.checkpoint.sequence == 5
    # The latest is in the newest day; verifying from it lists that day and the one before, never older days.
    assert day_folders(listed) == {"2027/02/01", "2027/02/02"}
    assert "checkpoints/2027/01" not in listed  # a month before the start is not even opened


def test_incremental_verification_lists_from_its_start_day_and_full_verification_every_day(daily, listed):
    with time_machine.travel(DAYS[-1] + timedelta(minutes=1)):
        record_verified(find_checkpoint("3"))
        listed.clear()
        call_command("mca_verify_log", "--incremental", "--no-progress", "--no-record", stdout=io.StringIO())
        assert day_folders(listed) == {"2027/01/31", "2027/02/01", "2027/02/02"}
        assert {p for p in listed if p.startswith("verified/")} == {"verified/2027", "verified/2027/02"} | {
            "verified/2027/02/02"
        }
        listed.clear()
        out = io.StringIO()
        call_command("mca_verify_log", "--no-progress", "--no-record", stdout=out)
    assert day_folders(listed) == {f"{day:%Y/%m/%d}" for day in DAYS}
    assert "4 checkpoint(s) checked" in out.getvalue()


def flatten(checkpoint_dir, name: str) -> str:
    """Move a checkpoint to where the layout before the partitioning wrote it: flat in <log>/checkpoints/."""
    flat = name.split("/")[0] + "/checkpoints/" + name.rsplit("/", 1)[-1]
    os.rename(checkpoint_dir / name, checkpoint_dir / flat)
    return flat


def test_checkpoints_of_the_flat_layout_are_still_read(daily, checkpoint_dir, client):
    old = [flatten(checkpoint_dir, name) for name in daily[:2]]  # 30 and 31 January, written before the upgrade
    loaded = load_checkpoints()
    assert [c.name for c in loaded.checkpoints] == [*old, *daily[2:]] and not loaded.problems
    assert latest_checkpoint().name == daily[-1]
    short = old[0].rsplit("/", 1)[-1]
    assert find_checkpoint(short).name == old[0] and find_checkpoint("1").name == old[0]
    # A "verified up to" marker naming a flat checkpoint starts an incremental run there.
    with time_machine.travel(DAYS[-1] + timedelta(minutes=1)):
        record_verified(find_checkpoint(old[1]))
        start = last_verified_checkpoint()
        assert start.name == old[1]
        result = verify_chain(start=start)
        assert result.ok and result.checkpoints_checked == 3
    # The witness endpoints publish and serve both layouts under their short names.
    names = client.get(ROOT + "checkpoints/").json()
    assert names == [name.rsplit("/", 1)[-1] for name in [*old, *daily[2:]]]
    assert client.get(ROOT + f"checkpoints/{short}").json()["checkpoint"]["sequence"] == 1
    assert client.get(ROOT + f"checkpoints/{names[-1]}").json()["checkpoint"]["sequence"] == 4


def test_adopting_a_log_without_checkpoints_writes_into_todays_folder(confirm, checkpoint_dir):
    with time_machine.travel(DAYS[0], tick=False):
        confirm("northwind", "customer")
    with time_machine.travel(DAYS[1], tick=False):
        call_command("mca_checkpoint", "--adopt", stdout=io.StringIO())
    [path] = (checkpoint_dir / "mca-test-log" / "checkpoints").rglob("*.json")
    assert path.parent.relative_to(checkpoint_dir).as_posix() == "mca-test-log/checkpoints/2027/01/31"
