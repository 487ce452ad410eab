"""The real stack for the drills: a throwaway PostgreSQL database, Redis db 13 under a key prefix of its own,
gunicorn (3 sync workers) serving the app, one Celery worker and one beat, and the built-in Partner Center simulator
served by a gunicorn of its own (as Partner Center is another service: when it is slow or down, the app's workers
wait on it, not on themselves). Everything listens on 127.0.0.1 only; every wait is bounded; `Stack.stop()` kills
every child process group (also on failure).

Each stack belongs to one run (`RUN_ID`: the runner's pid and a random suffix): its database is
`mca_drill_<run>`, every key it writes to Redis starts with `mca-stack-<run>:` (`REDIS_KEY_PREFIX`, broker and cache),
and it only ever deletes its own keys, so two stacks on one machine cannot consume each other's tasks. Its processes
carry `MCA_STACK_RUN=<run>` in their environment and are listed in `stack.json` in its log folder, so that a stack
whose runner is gone can be found and ended (`drills.lifecycle.stop_stale`).

The load benchmark (`python -m benchmarks load`) starts the same gunicorns from here (the app's with 2 workers), on
its own bench database (kept) and Redis database, with the cache in Redis as in production."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# The drills' Redis database (each stack keeps to its own key prefix in it); the tests point it at theirs.
REDIS_URL = os.environ.get("DRILL_REDIS_URL", "redis://127.0.0.1:6379/13")
# One run of this process: names its database, Redis keys, log folder and processes.
RUN_ID = f"{os.getpid()}-{secrets.token_hex(3)}"
LOG_DIR = Path(tempfile.gettempdir()) / f"mca-drill-{RUN_ID}"
PID_FILE = "stack.json"  # in each stack's log folder: the runner and the stack's processes
RUN_ENV = "MCA_STACK_RUN"  # in every stack process's environment: the run it belongs to
SIMULATOR_APPLICATION = "mca-drill-simulator"  # the simulator's PostgreSQL application_name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot, Linux's /proc), to tell it from a later one given the same
    pid; None when there is no such process, or only its zombie (dead, not reaped yet)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return None if fields[0] == "Z" else int(fields[19])


def wait_until(predicate, *, timeout: float, interval: float = 0.25) -> bool:
    """Poll `predicate` until it is true or `timeout` seconds have passed (bounded in time and count)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return bool(predicate())


class Stack:
    """`database_url`: a database to use and keep (the bench's); by default a throwaway `mca_drill_<run>`, created by
    `create_database()` and dropped by `stop()`. `redis_url`: the Celery broker (and with `cache_in_redis` the app's
    cache, `REDIS_URL`), under the key prefix `mca-stack-<run>:`; the stack's own keys are deleted at start and stop.
    `extra_env`: more settings for every process. `web_workers`: the app's gunicorn workers (3, docker-compose's
    default)."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        redis_url: str = REDIS_URL,
        cache_in_redis: bool = False,
        log_dir: Path = LOG_DIR,
        extra_env: dict[str, str] | None = None,
        web_workers: int = 3,
        run_id: str = RUN_ID,
    ) -> None:
        self.run_id = run_id
        self.throwaway_database = database_url is None
        default_url = f"postgres://postgres@127.0.0.1:5432/mca_drill_{run_id.replace('-', '_')}"
        self.database_url = database_url or default_url
        self.db_name = self.database_url.rsplit("/", 1)[-1].split("?", 1)[0]
        self.redis_url = redis_url
        self.key_prefix = f"mca-stack-{run_id}:"
        self.cache_in_redis = cache_in_redis
        self.log_dir = log_dir
        self.extra_env = dict(extra_env or {})
        self.web_workers = web_workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.simulator_port = free_port()
        self.simulator_url = f"http://127.0.0.1:{self.simulator_port}/simulator/partner-center"
        self.flow = "legacy"
        self.processes: dict[str, subprocess.Popen] = {}
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.write_pid_file()

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MCA_", "PARTNER_CENTER_", "CELERY_", "DJANGO_", "DATABASE_", "REDIS_"))
        }
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.local",
                "DEBUG": "false",
                "DATABASE_URL": self.database_url,
                "CELERY_BROKER_URL": self.redis_url,
                "REDIS_KEY_PREFIX": self.key_prefix,
                RUN_ENV: self.run_id,
                "PARTNER_CENTER_BASE_URL": self.simulator_url,
                "MCA_ATTESTATION_FLOW": self.flow,
                "MCA_ATTESTATION_POLL_SECONDS": "1",
                "MCA_ATTESTATION_SWEEP_SECONDS": "2",
                "MCA_DELIVERY_SWEEP_SECONDS": "2",
                "MCA_CHECKPOINT_DIR": str(self.log_dir / "checkpoints"),
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.cache_in_redis:
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    # --- database and broker ---------------------------------------------------------------------------
    def create_database(self) -> None:
        """A fresh throwaway database (a kept one is the caller's to create), and none of this stack's keys in
        Redis."""
        if self.throwaway_database:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.db_name}"')
                connection.execute(f'CREATE DATABASE "{self.db_name}"')
        self.clear_redis()

    def drop_database(self) -> None:
        """The throwaway database and the copies drills made of it (also those a stopped drill left), and this
        stack's Redis keys."""
        if self.throwaway_database:
            drop_databases(self.db_name)
        self.clear_redis()

    def clear_redis(self) -> int:
        """Delete this stack's keys (and only them: another stack may share the Redis database); how many."""
        return clear_redis_keys(self.redis_url, self.key_prefix)

    def manage(self, *args: str, timeout: float = 300) -> None:
        log = (self.log_dir / f"manage-{args[0]}.log").open("ab")
        subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
            timeout=timeout,
        )

    # --- processes -----------------------------------------------------------------------------------------
    # --- the pid file ----------------------------------------------------------------------------------------
    def write_pid_file(self) -> None:
        """The runner and every process of the stack (with their start times, so that a pid given to another
        process later is never mistaken for ours), written whole with a rename: a reader never sees half of it."""
        runner = os.getpid()
        state = {
            "run": self.run_id,
            "runner": {"pid": runner, "start": process_start(runner), "argv": sys.orig_argv},
            "started_at": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "log_dir": str(self.log_dir),
            "database": self.db_name,
            "throwaway_database": self.throwaway_database,
            "redis_url": self.redis_url,
            "key_prefix": self.key_prefix,
            "processes": {
                name: {"pid": process.pid, "start": process_start(process.pid)}
                for name, process in self.processes.items()
            },
        }
        path = self.log_dir / PID_FILE
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(state, indent=1))
        partial.replace(path)

    def remove_pid_file(self) -> None:
        (self.log_dir / PID_FILE).unlink(missing_ok=True)

    def _spawn(self, name: str, argv: list[str], **env: str) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - gunicorn and celery from this venv
            argv, cwd=ROOT, env={**self.env(), **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.write_pid_file()

    def _gunicorn(self, name: str, port: int, *options: str, **env: str) -> None:
        argv = [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--timeout", "120", *options]
        self._spawn(name, [*argv, "--graceful-timeout", "5"], **env)

    def start_simulator(self) -> None:
        # Threads: a "slow" fault sleeps in the simulator; it must not make other calls queue behind it. Its database
        # connections are named (libpq's PGAPPNAME): Partner Center's database is not the one a drill breaks.
        self._gunicorn(
            "simulator", self.simulator_port, "--workers", "2", "--threads", "8", PGAPPNAME=SIMULATOR_APPLICATION
        )
        if not wait_until(lambda: self._answers(f"{self.simulator_url}/_control/faults"), timeout=60, interval=0.5):
            log = self.log_dir / "simulator.log"
            raise RuntimeError(f"the simulator did not answer on {self.simulator_url} (see {log})")

    def start_web(self) -> None:
        # docker-compose's default WEB_CONCURRENCY: sync workers, each busy while it waits on Partner Center.
        self._gunicorn("gunicorn", self.port, "--workers", str(self.web_workers))
        if not wait_until(lambda: self._answers(f"{self.base_url}/api/v1/"), timeout=60, interval=0.5):
            raise RuntimeError(f"gunicorn did not answer on {self.base_url} (see {self.log_dir}/gunicorn.log)")

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - 127.0.0.1 only
                return response.status == 200
        except OSError:
            return False

    def start_worker(self) -> None:
        self._spawn(
            "worker",
            [str(BIN / "celery"), "-A", "config", "worker", "--loglevel", "info", "--concurrency", "4"],
        )

    def start_beat(self) -> None:
        schedule = self.log_dir / "celerybeat-schedule"
        self._spawn("beat", [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "info", "-s", str(schedule)])

    def start(self) -> None:
        self.start_simulator()
        self.start_web()
        self.start_worker()
        self.start_beat()

    def kill(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        process = self.processes.get(name)
        if process is None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        else:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # The group may outlive its leader (prefork children): make sure none is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        # Forgotten only once it is gone: a stop interrupted half-way leaves it in the pid file for `stop_stale`.
        self.processes.pop(name, None)
        self.write_pid_file()

    def stop_processes(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def restart(self, *, flow: str) -> None:
        self.stop_processes()
        self.flow = flow
        self.start()

    def stop(self) -> None:
        """Every process, then the throwaway database and this stack's Redis keys, then the pid file; safe to call
        again (a signal handler, the runner's `finally` and `atexit` may each call it)."""
        self.stop_processes()
        self.drop_database()
        self.remove_pid_file()


def drop_databases(name: str) -> None:
    """Drop the database `name` and its copies (`<name>_...`), ending their connections first."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
        pattern = name.replace("_", r"\_") + r"\_%"
        found = connection.execute(
            "SELECT datname FROM pg_database WHERE datname = %s OR datname LIKE %s", [name, pattern]
        ).fetchall()
        for (database,) in found:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [database],
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{database}"')


def clear_redis_keys(redis_url: str, prefix: str) -> int:
    """Delete the keys under `prefix` in the Redis database at `redis_url`; how many."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}*", count=500):
        batch.append(key)
        if len(batch) == 500:
            deleted += client.delete(*batch)
            batch = []
    if batch:
        deleted += client.delete(*batch)
    return deleted
