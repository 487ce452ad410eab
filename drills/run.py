"""`python -m drills [name ...]`: start the real stack, run the drills in order, print one line each, stop
everything (also on failure or Ctrl-C), exit 1 if any drill failed."""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback

from drills.stack import LOG_DIR, Stack

LEGACY = ("down", "throttle", "kill", "burst", "pg_kill", "append_only", "bad_input", "provisioning", "insider")
ENHANCED = ("enhanced_down", "bad_input_enhanced")
ORDER = (*LEGACY, *ENHANCED)


def _setup_django(stack: Stack) -> None:
    os.environ.update(stack.env())
    import django

    django.setup()


def _drills() -> dict:
    from drills import cases
    from drills.bad_input import bad_input
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
    }


def _clear_faults(stack: Stack) -> None:
    """A drill that failed half-way may leave Partner Center "down": the next one starts with it answering."""
    from drills.http import Simulator

    try:
        Simulator(stack.simulator_url).clear_faults()
    except (OSError, RuntimeError) as error:
        print(f"(could not clear the simulator's faults: {error})", flush=True)


def _run_one(name: str, drill, stack: Stack) -> bool:
    from django.db import close_old_connections

    from drills.cases import DrillFailed

    started = time.monotonic()
    try:
        figures = drill(stack)
    except DrillFailed as failure:
        print(f"FAIL {name}: {failure} ({time.monotonic() - started:.0f} s)", flush=True)
        return False
    except Exception as error:  # a drill that crashes is a failed drill
        traceback.print_exc()
        print(f"FAIL {name}: {type(error).__name__}: {error}", flush=True)
        return False
    finally:
        close_old_connections()
        _clear_faults(stack)
    print(f"PASS {name}: {figures} ({time.monotonic() - started:.0f} s)", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drills", description=__doc__)
    parser.add_argument("drills", nargs="*", help=f"default: all, in this order: {', '.join(ORDER)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.drills) - set(ORDER))
    if unknown:
        parser.error(f"unknown drill(s): {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    chosen = [name for name in ORDER if name in (args.drills or ORDER)]
    # The cache in Redis, as in docker-compose: Partner Center's shared health is then one for every process.
    stack = Stack(cache_in_redis=True)
    print(f"Drill stack: database {stack.db_name}, {stack.base_url}, logs in {LOG_DIR}", flush=True)
    results: dict[str, bool] = {}
    try:
        stack.create_database()
        _setup_django(stack)
        stack.manage("migrate", "--no-input")
        stack.flow = "legacy"
        stack.start()
        stack.manage("seed_demo", "--base-url", stack.base_url)
        drills = _drills()
        for name in chosen:
            if name in ENHANCED and stack.flow != "enhanced":
                from django.conf import settings

                stack.restart(flow="enhanced")
                settings.MCA_ATTESTATION_FLOW = "enhanced"
            results[name] = _run_one(name, drills[name], stack)
    except KeyboardInterrupt:
        print("FAIL drills: interrupted", flush=True)
        results["interrupted"] = False
    except Exception as error:  # the stack failed: report, clean up
        traceback.print_exc()
        print(f"FAIL stack: {type(error).__name__}: {error} (logs in {LOG_DIR})", flush=True)
        results["stack"] = False
    finally:
        from django.db import connections

        connections.close_all()
        stack.stop()
    passed = sum(results.values())
    print(f"{passed} of {len(results)} drills passed", flush=True)
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
