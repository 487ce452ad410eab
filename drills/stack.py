"""The real stack for the drills: a throwaway PostgreSQL database, Redis db 13, gunicorn (3 sync workers) serving
the app, one Celery worker and one beat, and the built-in Partner Center simulator served by a gunicorn of its own
(as Partner Center is another service: when it is slow or down, the app's workers wait on it, not on themselves).
Everything listens on 127.0.0.1 only; every wait is bounded; `Stack.stop()` kills every child process group (also on
failure).

The load benchmark (`python -m benchmarks load`) starts the same gunicorns from here (the app's with 2 workers), on
its own bench database (kept) and Redis database, with the cache in Redis as in production."""

from __future__ import annotations

import contextlib
import os
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
REDIS_URL = "redis://127.0.0.1:6379/13"
LOG_DIR = Path(tempfile.gettempdir()) / f"mca-drill-{os.getpid()}"
SIMULATOR_APPLICATION = "mca-drill-simulator"  # the simulator's PostgreSQL application_name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    """`database_url`: a database to use and keep (the bench's); by default a throwaway `mca_drill_<pid>`, created by
    `create_database()` and dropped by `stop()`. `redis_url`: the Celery broker, flushed at start and stop; with
    `cache_in_redis` the app's cache (`REDIS_URL`) too. `extra_env`: more settings for every process. `web_workers`:
    the app's gunicorn workers (3, docker-compose's default)."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        redis_url: str = REDIS_URL,
        cache_in_redis: bool = False,
        log_dir: Path = LOG_DIR,
        extra_env: dict[str, str] | None = None,
        web_workers: int = 3,
    ) -> None:
        self.throwaway_database = database_url is None
        self.database_url = database_url or f"postgres://postgres@127.0.0.1:5432/mca_drill_{os.getpid()}"
        self.db_name = self.database_url.rsplit("/", 1)[-1].split("?", 1)[0]
        self.redis_url = redis_url
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
        """A fresh throwaway database (a kept one is the caller's to create), and an empty broker."""
        if self.throwaway_database:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.db_name}"')
                connection.execute(f'CREATE DATABASE "{self.db_name}"')
        self.flush_redis()

    def drop_database(self) -> None:
        if self.throwaway_database:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.db_name],
                )
                connection.execute(f'DROP DATABASE IF EXISTS "{self.db_name}"')
        self.flush_redis()

    def flush_redis(self) -> None:
        import redis

        redis.Redis.from_url(self.redis_url, socket_timeout=5).flushdb()

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
    def _spawn(self, name: str, argv: list[str], **env: str) -> None:
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(  # noqa: S603 - gunicorn and celery from this venv
            argv, cwd=ROOT, env={**self.env(), **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

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
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        # The group may outlive its leader (prefork children): make sure none is left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_processes(self) -> None:
        for name in list(self.processes):
            self.kill(name)

    def restart(self, *, flow: str) -> None:
        self.stop_processes()
        self.flow = flow
        self.start()

    def stop(self) -> None:
        self.stop_processes()
        self.drop_database()
