"""A stack's life: one drill run at a time on a machine (a lock that names the run holding it), the stack stopped on
every way out of its runner (Ctrl-C, SIGTERM, SIGHUP, an exception, `atexit` as a last resort), and stacks whose
runner is gone ended by the next run or by `python -m drills --stop-stale`.

The lock is a PostgreSQL advisory lock held by one connection of the runner: PostgreSQL releases it when that
connection ends, so a runner killed with SIGKILL never leaves it behind. Its connection's `application_name` names the
run; the run's pid file says the rest (pid, command, start, logs) for the refusal message."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from drills.stack import PG_ADMIN_URL, PID_FILE, RUN_ENV, Stack, clear_redis_keys, drop_databases, process_start

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
LOCK_APPLICATION = "mca-drill-lock"  # application_name prefix of the connection that holds the lock
DEFAULT_LOCK_NAME = "drills"


class LockHeld(Exception):
    """Another live run holds the drill lock; the message names it."""


class Stopped(KeyboardInterrupt):
    """The runner got a stop signal; it unwinds like Ctrl-C (every `finally` runs)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _lock_keys(name: str) -> tuple[int, int]:
    """The two 32-bit keys of the advisory lock for a lock name (a fixed hash: every run computes the same)."""
    digest = hashlib.sha256(f"mca-drill-lock:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(digest[4:8], "big", signed=True)


def _pid_files() -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(f"mca-*/{PID_FILE}"))


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _describe(state: dict | None, run_id: str) -> str:
    if state is None:
        return f"run {run_id} (its pid file is gone)"
    runner = state["runner"]
    command = " ".join(runner.get("argv") or []) or "?"
    return (
        f"run {run_id}: runner pid {runner['pid']} (`{command}`), started {state.get('started_at', '?')}, "
        f"logs in {state.get('log_dir', '?')}"
    )


class RunLock:
    """One drill run at a time among the runs that use the same lock name (`MCA_DRILL_LOCK`, default "drills")
    against the PostgreSQL server at 127.0.0.1. `acquire()` refuses with `LockHeld` naming the holder."""

    def __init__(self, run_id: str, name: str | None = None) -> None:
        self.run_id = run_id
        self.name = name or os.environ.get("MCA_DRILL_LOCK", DEFAULT_LOCK_NAME)
        self.keys = _lock_keys(self.name)
        self.connection = None

    def acquire(self) -> None:
        import psycopg

        connection = psycopg.connect(
            PG_ADMIN_URL, autocommit=True, connect_timeout=5, application_name=f"{LOCK_APPLICATION} {self.run_id}"
        )
        taken = connection.execute("SELECT pg_try_advisory_lock(%s, %s)", self.keys).fetchone()[0]
        if taken:
            self.connection = connection
            return
        holder = connection.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int = %s AND l.objid::int = %s "
            "AND l.objsubid = 2",
            self.keys,
        ).fetchone()
        connection.close()
        holder_run = holder[0].removeprefix(LOCK_APPLICATION).strip() if holder else "?"
        state = next((s for p in _pid_files() if (s := _read(p)) and s.get("run") == holder_run), None)
        raise LockHeld(
            f"another drill run is using this machine ({_describe(state, holder_run)}); "
            f"refusing to start a second one beside it (lock {self.name!r}): wait for it to end, or end it "
            f"(its stack stops with it)"
        )

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()  # ending the session releases the advisory lock
            self.connection = None


@contextlib.contextmanager
def stop_on_exit(stack: Stack) -> Iterator[None]:
    """Within it, SIGINT, SIGTERM and SIGHUP stop the stack's processes at once (the runner may be waiting on a
    thread pool or a 4-minute drain: a CI timeout's SIGKILL follows soon) and then unwind as `Stopped`; leaving it
    any way stops the stack (database dropped, own Redis keys deleted, pid file removed). `atexit` covers an exit
    that skips the `finally` (`sys.exit` from a thread's `os._exit` is beyond help; `--stop-stale` then)."""
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        if stopping:  # a second Ctrl-C while the stack stops: let the stop finish (bounded)
            return
        stopping = True
        print(f"\n{signal.Signals(signum).name}: stopping the stack", flush=True)
        try:
            stack.stop_processes()
        except Exception as error:  # e.g. the signal came inside a wait on the same process: the `finally` retries
            print(f"(stopping the stack's processes: {type(error).__name__}: {error})", flush=True)
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    atexit.register(stack.stop)
    try:
        yield
    finally:
        stopping = True
        for sig in STOP_SIGNALS:  # the stop itself is not interrupted
            signal.signal(sig, signal.SIG_IGN)
        try:
            stack.stop()
        finally:
            atexit.unregister(stack.stop)
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@dataclass(frozen=True)
class StaleStack:
    run_id: str
    runner_pid: int
    ended: int  # processes ended
    database: str | None  # dropped, if it was the stack's throwaway database
    redis_keys: int  # of its own, deleted

    def line(self) -> str:
        dropped = f", database {self.database} dropped" if self.database else ""
        return (
            f"ended stale stack {self.run_id} (its runner, pid {self.runner_pid}, is gone): {self.ended} "
            f"process(es){dropped}, {self.redis_keys} Redis key(s) deleted"
        )


def _alive(pid: int, start: int | None) -> bool:
    return start is not None and process_start(pid) == start


def _members(run_id: str) -> list[int]:
    """Every process on this machine whose environment says it belongs to run `run_id` (gunicorn's and Celery's
    workers included, whatever their group)."""
    wanted = f"{RUN_ENV}={run_id}".encode()
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if wanted in environ.split(b"\0"):
            members.append(int(entry.name))
    return members


def _end(pids: list[int], timeout: float = 15) -> int:
    """SIGTERM, then SIGKILL what is still there after `timeout` seconds; how many there were."""
    started = {pid: process_start(pid) for pid in pids}
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid, start) for pid, start in started.items()):
        time.sleep(0.2)
    for pid, start in started.items():
        if _alive(pid, start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return len(pids)


def stop_stale() -> list[StaleStack]:
    """End every stack on this machine whose runner is gone (its pid file says which): its processes, its
    throwaway database, its Redis keys; its pid file is removed, its logs kept. Live runs are not touched."""
    ended = []
    for path in _pid_files():
        state = _read(path)
        if state is None:
            continue
        runner = state["runner"]
        if _alive(runner["pid"], runner.get("start")):
            continue
        run_id = state["run"]
        listed = [info["pid"] for info in state.get("processes", {}).values() if _alive(info["pid"], info.get("start"))]
        count = _end(sorted(set(listed) | set(_members(run_id))))
        database = None
        if state.get("throwaway_database"):
            drop_databases(state["database"])
            database = state["database"]
        keys = clear_redis_keys(state["redis_url"], state["key_prefix"])
        path.unlink(missing_ok=True)
        ended.append(StaleStack(run_id, runner["pid"], count, database, keys))
    return ended
