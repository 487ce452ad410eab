"""`python -m drills [name ...]`: start the real stack, run the drills in order, print one line each and a summary
table, stop everything on every way out (failure, Ctrl-C, SIGTERM, SIGHUP), exit 1 if any drill failed.

One run at a time on a machine: a second run refuses (exit 2) naming the first. Every run first ends the stacks
whose runner is gone (`--stop-stale` does only that). `--up` starts the stack and keeps it until stopped."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass

from drills import campaign, load
from drills.lifecycle import LockHeld, RunLock, Stopped, stop_on_exit, stop_stale
from drills.stack import LOG_DIR, RUN_ID, Stack, wait_until

# The drills, in the order they run; each flow's drills run on a stack started with that flow. A new drill: add its
# name to its flow's tuple and its function to `_drills()`.
LEGACY = ("down", "throttle", "kill", "burst", "pg_kill", "append_only", "bad_input", "provisioning", "insider")
ENHANCED = ("enhanced_down", "bad_input_enhanced", "campaign")
ORDER = (*LEGACY, *ENHANCED)
REFUSED = 2  # exit status when another run holds the lock
BACKLOG_WAIT = 180  # seconds a drill waits for the earlier drills' deliveries to settle before it starts


def _setup_django(stack: Stack) -> None:
    os.environ.update(stack.env())
    import django

    django.setup()


def _drills() -> dict:
    from drills import cases
    from drills.bad_input import bad_input
    from drills.campaign import campaign_worker_killed
    from drills.provisioning import provisioning_fails_midway

    return {
        "down": cases.partner_center_down,
        "throttle": cases.throttled,
        "kill": cases.worker_killed,
        "burst": cases.concurrent_one_customer,
        "pg_kill": cases.connections_killed,
        "append_only": cases.log_is_append_only,
        "bad_input": bad_input,
        "provisioning": provisioning_fails_midway,
        "insider": lambda stack: __import__("drills.insider", fromlist=["insider_attacks"]).insider_attacks(stack),
        "enhanced_down": cases.enhanced_down,
        "bad_input_enhanced": lambda stack: bad_input(stack, flow="enhanced"),
        "campaign": campaign_worker_killed,
    }


@dataclass
class Outcome:
    name: str
    passed: bool
    seconds: float
    figures: str


def _clear_faults(stack: Stack) -> None:
    """A drill that failed half-way may leave Partner Center "down": the next one starts with it answering."""
    from drills.http import Simulator

    try:
        Simulator(stack.simulator_url).clear_faults()
    except (OSError, RuntimeError) as error:
        print(f"(could not clear the simulator's faults: {error})", flush=True)


def _backlog() -> int:
    """Deliveries of earlier drills not settled yet (sent or refused for good)."""
    from mca.choices import DeliveryState
    from mca.models import AcceptanceDelivery

    unsettled = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.FAILING)
    return AcceptanceDelivery.objects.filter(state__in=unsettled).count()


def _settle_backlog(name: str) -> None:
    """Each drill starts once the earlier drills' deliveries have settled (bounded): their calls to Partner Center
    would otherwise mix with its own. What is left is said; the drills judge only their own records."""
    from drills import cases

    if not _backlog():
        cases.backlog_before = 0
        return
    started = time.monotonic()
    wait_until(lambda: _backlog() == 0, timeout=BACKLOG_WAIT, interval=1)
    cases.backlog_before = left = _backlog()
    waited = time.monotonic() - started
    print(f"  ({name}: waited {waited:.0f} s for earlier deliveries to settle; {left} still unsettled)", flush=True)


def _run_one(name: str, drill, stack: Stack) -> Outcome:
    from django.db import close_old_connections

    from drills.cases import DrillFailed

    _settle_backlog(name)
    started = time.monotonic()
    try:
        figures = drill(stack)
    except DrillFailed as failure:
        outcome = Outcome(name, False, time.monotonic() - started, str(failure))
    except Exception as error:  # a drill that crashes is a failed drill
        traceback.print_exc()
        outcome = Outcome(name, False, time.monotonic() - started, f"{type(error).__name__}: {error}")
    else:
        outcome = Outcome(name, True, time.monotonic() - started, figures)
    finally:
        close_old_connections()
        _clear_faults(stack)
    print(f"{'PASS' if outcome.passed else 'FAIL'} {name}: {outcome.figures} ({outcome.seconds:.0f} s)", flush=True)
    return outcome


def summary(outcomes: list[Outcome], seconds: float) -> str:
    """The table printed at the end: one row per drill with its result, time and figures."""
    width = max([len(outcome.name) for outcome in outcomes] + [5])
    rows = [f"{'drill':<{width}}  result  {'time':>6}  figures", f"{'-' * width}  ------  {'-' * 6}  -------"]
    for outcome in outcomes:
        result = "PASS" if outcome.passed else "FAIL"
        rows.append(f"{outcome.name:<{width}}  {result:<6}  {outcome.seconds:>4.0f} s  {outcome.figures}")
    passed = sum(outcome.passed for outcome in outcomes)
    rows.append(f"{passed} of {len(outcomes)} drills passed in {seconds / 60:.1f} min (run {RUN_ID})")
    return "\n".join(rows)


def _chosen(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    names = list(args.drills)
    for only in args.only or []:
        names += [name.strip() for name in only.split(",") if name.strip()]
    unknown = sorted(set(names) - set(ORDER))
    if unknown:
        parser.error(f"unknown drill(s): {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    return [name for name in ORDER if name in (names or ORDER)]


def _start(stack: Stack) -> None:
    stack.create_database()
    _setup_django(stack)
    stack.manage("migrate", "--no-input")
    stack.flow = "legacy"
    stack.start()
    stack.manage("seed_demo", "--base-url", stack.base_url)


def _drill(stack: Stack, chosen: list[str], outcomes: list[Outcome]) -> None:
    """Run the chosen drills on the stack, appending each outcome (also a stop or the stack's own failure)."""
    current, started = "stack", time.monotonic()  # what a stop interrupts: the start, or a drill
    try:
        _start(stack)
        drills = _drills()
        for name in chosen:
            current, started = "stack", time.monotonic()
            if name in ENHANCED and stack.flow != "enhanced":
                from django.conf import settings

                stack.restart(flow="enhanced")
                settings.MCA_ATTESTATION_FLOW = "enhanced"
            current, started = name, time.monotonic()
            outcomes.append(_run_one(name, drills[name], stack))
    except Stopped as stopped:
        print(f"FAIL {current}: stopped by {stopped}", flush=True)
        outcomes.append(Outcome(current, False, time.monotonic() - started, f"stopped by {stopped}"))
        raise
    except Exception as error:  # the stack failed: report, clean up
        traceback.print_exc()
        print(f"FAIL stack: {type(error).__name__}: {error} (logs in {LOG_DIR})", flush=True)
        outcomes.append(Outcome("stack", False, 0, f"{type(error).__name__}: {error}"))
    finally:
        if "django" in sys.modules and "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()


def _up(stack: Stack) -> None:
    """The stack migrated and seeded, kept until a stop signal: for a look at it by hand (and the tests)."""
    _start(stack)
    print(f"Drill stack up: {stack.base_url} (simulator {stack.simulator_url}); Ctrl-C or SIGTERM stops it", flush=True)
    threading.Event().wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__)
    parser.add_argument("drills", nargs="*", help=f"default: all, in this order: {', '.join(ORDER)}")
    parser.add_argument("--only", action="append", metavar="NAMES", help="comma-separated drills (make drill ONLY=)")
    parser.add_argument("--stop-stale", action="store_true", help="only end the stacks whose runner is gone")
    parser.add_argument("--up", action="store_true", help="start the stack and keep it until Ctrl-C or SIGTERM")
    parser.add_argument(
        "--load-beside",
        type=int,
        default=load.users_beside,
        metavar="N",
        help=f"customers checking out in a loop beside `down` and `throttle` (default {load.users_beside}; 0: none)",
    )
    args = parser.parse_args(argv)
    load.users_beside = max(0, args.load_beside)
    if args.stop_stale:
        ended = stop_stale()
        for stale in ended:
            print(stale.line(), flush=True)
        print(f"{len(ended)} stale stack(s) ended", flush=True)
        return 0
    chosen = _chosen(parser, args)
    lock = RunLock(RUN_ID)
    try:
        lock.acquire()
    except LockHeld as held:
        print(f"REFUSED: {held}", file=sys.stderr, flush=True)
        return REFUSED
    try:
        for stale in stop_stale():
            print(stale.line(), flush=True)
        # The cache in Redis, as in docker-compose: Partner Center's shared health is then one for every process.
        stack = Stack(cache_in_redis=True, extra_env=campaign.STACK_ENV)
        print(f"Drill stack: run {RUN_ID}, database {stack.db_name}, {stack.base_url}, logs in {LOG_DIR}", flush=True)
        started = time.monotonic()
        outcomes: list[Outcome] = []
        status = None
        try:
            with stop_on_exit(stack):
                if args.up:
                    _up(stack)
                _drill(stack, chosen, outcomes)
        except Stopped as stopped:
            print(f"stack stopped ({stopped})", flush=True)
            status = 128 + stopped.signum
    finally:
        lock.release()
    if outcomes:
        print(f"\n{summary(outcomes, time.monotonic() - started)}", flush=True)
    if status is not None:
        return status
    return 0 if outcomes and all(outcome.passed for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
