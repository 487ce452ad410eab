"""The drills' stack cleans up after itself and cannot be disturbed by another run (issue 22).

Real processes against the real PostgreSQL server and Redis: the runner (`python -m drills --up`, the whole stack,
migrated and seeded) sent SIGTERM; a second run started beside it; a small runner whose stack is one `sleep`
process, for each stop signal and for a runner killed with SIGKILL. Each runner here uses a lock name of its own
(`MCA_DRILL_LOCK`), so a real `make drill` on the same machine neither blocks these tests nor is blocked by them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from drills.lifecycle import LockHeld, RunLock, stop_stale
from drills.stack import PG_ADMIN_URL, PID_FILE, RUN_ENV, Stack, clear_redis_keys
from tests.redis_support import require_redis

pytestmark = [pytest.mark.postgres, pytest.mark.drill_stack]

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline, pause = time.monotonic() + timeout, threading.Event()
    while time.monotonic() < deadline:
        if predicate():
            return
        pause.wait(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def members(run_id: str) -> list[int]:
    """The processes alive on this machine that belong to the run (their environment says so)."""
    wanted = f"{RUN_ENV}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = (entry / "environ").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if wanted in environ.split(b"\0") and state != "Z":
                found.append(int(entry.name))
    return found


def database_exists(name: str) -> bool:
    with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def redis_keys(prefix: str) -> list[bytes]:
    return list(redis.Redis.from_url(REDIS_URL).scan_iter(match=f"{prefix}*"))


@pytest.fixture
def runner_env(tmp_path):
    """The environment of a runner started by a test: its own lock name, the tests' Redis database."""
    require_redis(REDIS_URL)
    return {**os.environ, "MCA_DRILL_LOCK": f"test-{uuid.uuid4()}", "DRILL_REDIS_URL": REDIS_URL}


class Runner:
    """A runner process, its output in a file, and its run read from its first line and its pid file."""

    def __init__(self, argv: list[str], env: dict[str, str], output: Path) -> None:
        self.output = output
        self.process = subprocess.Popen(
            [sys.executable, *argv], cwd=ROOT, env=env, stdout=output.open("wb"), stderr=subprocess.STDOUT
        )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for(self, line: str, timeout: float) -> None:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the runner exited with {self.process.returncode}:\n{self.text()}")
            return line in self.text()

        wait_until(seen, timeout, f"{line!r} from the runner")

    def state(self) -> dict:
        log_dir = self.text().split("logs in ", 1)[1].split()[0]
        return json.loads((Path(log_dir) / PID_FILE).read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture
def runners():
    started: list[Runner] = []
    yield started
    for runner in started:
        runner.stop()
    stop_stale()  # whatever a failed test left behind


# --- the whole stack ----------------------------------------------------------------------------------------------
def test_sigterm_to_the_runner_leaves_none_of_the_stacks_processes_and_a_second_run_refuses(
    runner_env, runners, tmp_path
):
    first = Runner(["-m", "drills", "--up"], runner_env, tmp_path / "first.log")
    runners.append(first)
    first.wait_for("Drill stack up", timeout=240)
    state = first.state()
    run_id = state["run"]
    listed = {name: info["pid"] for name, info in state["processes"].items()}
    assert set(listed) == {"simulator", "gunicorn", "worker", "beat"}
    alive = members(run_id)
    assert set(listed.values()) <= set(alive)
    assert len(alive) > len(listed)  # gunicorn's and Celery's workers too
    assert database_exists(state["database"])
    assert redis_keys(state["key_prefix"])  # the worker and beat use the broker under the run's prefix

    # A second run beside it refuses, naming the first, and starts nothing.
    second = subprocess.run(
        [sys.executable, "-m", "drills", "throttle"],
        cwd=ROOT,
        env=runner_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"another drill run is using this machine (run {run_id}: runner pid {first.process.pid}" in second.stderr
    assert "Drill stack:" not in second.stdout
    assert set(members(run_id)) == set(alive)  # the first run's stack untouched

    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=120) == 128 + signal.SIGTERM
    assert "SIGTERM: stopping the stack" in first.text()
    assert members(run_id) == []
    assert not database_exists(state["database"])
    assert redis_keys(state["key_prefix"]) == []
    assert not (Path(state["log_dir"]) / PID_FILE).exists()


# --- a small stack: one `sleep` ---------------------------------------------------------------------------------
SMALL_RUNNER = textwrap.dedent(
    """
    import threading
    import psycopg
    from drills.lifecycle import stop_on_exit
    from drills.stack import PG_ADMIN_URL, Stack

    stack = Stack()
    stack.create_database()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:  # a copy, as the tamper drill makes
        connection.execute(f'CREATE DATABASE "{stack.db_name}_t1" TEMPLATE "{stack.db_name}"')
    with stop_on_exit(stack):
        stack._spawn("sleeper", ["sleep", "600"])
        print(f"up; logs in {stack.log_dir}", flush=True)
        threading.Event().wait()
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_each_stop_signal_stops_the_stack(sig, runner_env, runners, tmp_path):
    runner = Runner(["-c", SMALL_RUNNER], runner_env, tmp_path / "small.log")
    runners.append(runner)
    runner.wait_for("up;", timeout=60)
    state = runner.state()
    (sleeper,) = members(state["run"])
    assert sleeper == state["processes"]["sleeper"]["pid"]
    assert database_exists(state["database"]) and database_exists(f"{state['database']}_t1")

    runner.process.send_signal(sig)
    assert runner.process.wait(timeout=60) != 0
    assert f"{sig.name}: stopping the stack" in runner.text()
    assert members(state["run"]) == []
    assert not database_exists(state["database"])
    assert not database_exists(f"{state['database']}_t1")
    assert not (Path(state["log_dir"]) / PID_FILE).exists()


def test_stop_stale_ends_the_stack_of_a_runner_killed_outright_and_spares_a_live_one(runner_env, runners, tmp_path):
    killed = Runner(["-c", SMALL_RUNNER], runner_env, tmp_path / "killed.log")
    live = Runner(["-c", SMALL_RUNNER], runner_env, tmp_path / "live.log")
    runners.extend([killed, live])
    killed.wait_for("up;", timeout=60)
    live.wait_for("up;", timeout=60)
    orphan, alive = killed.state(), live.state()
    redis.Redis.from_url(REDIS_URL).set(f"{orphan['key_prefix']}leftover", "x")

    killed.process.kill()  # SIGKILL: no handler runs, the stack is left behind
    killed.process.wait(timeout=30)
    assert len(members(orphan["run"])) == 1

    ended = {stale.run_id: stale for stale in stop_stale()}
    assert orphan["run"] in ended
    assert ended[orphan["run"]].database == orphan["database"]
    assert ended[orphan["run"]].redis_keys == 1
    assert members(orphan["run"]) == []
    assert not database_exists(orphan["database"])
    assert not database_exists(f"{orphan['database']}_t1")
    assert not (Path(orphan["log_dir"]) / PID_FILE).exists()

    assert alive["run"] not in ended  # its runner is alive: its stack is its own business
    assert len(members(alive["run"])) == 1
    assert database_exists(alive["database"]) and database_exists(f"{alive['database']}_t1")


# --- isolation without processes --------------------------------------------------------------------------------
def test_a_second_lock_holder_is_refused_with_the_first_runs_name(runner_env):
    name = runner_env["MCA_DRILL_LOCK"]
    first, second = RunLock("run-a", name), RunLock("run-b", name)
    first.acquire()
    try:
        with pytest.raises(LockHeld, match="run run-a"):
            second.acquire()
    finally:
        first.release()
    second.acquire()  # released with its connection: the next run may start
    second.release()


def test_a_stack_deletes_only_its_own_redis_keys(runner_env, tmp_path):
    ours = Stack(redis_url=REDIS_URL, run_id="test-a", log_dir=tmp_path / "a")
    theirs = Stack(redis_url=REDIS_URL, run_id="test-b", log_dir=tmp_path / "b")
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for stack in (ours, theirs):
            client.set(f"{stack.key_prefix}_kombu.binding.celery", "x")
            client.lpush(f"{stack.key_prefix}celery", "a task")
        assert ours.clear_redis() == 2
        assert redis_keys(ours.key_prefix) == []
        assert len(redis_keys(theirs.key_prefix)) == 2  # another run's queue survives this one's start and stop
        assert ours.key_prefix != theirs.key_prefix and ours.db_name != theirs.db_name
        assert ours.env()["REDIS_KEY_PREFIX"] == ours.key_prefix
    finally:
        for stack in (ours, theirs):
            clear_redis_keys(REDIS_URL, stack.key_prefix)
