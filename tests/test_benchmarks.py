"""`python -m benchmarks --quick`: the cheap scenarios run end to end and print their figure lines (the figures
themselves are never asserted: the machine is shared), and the load report is built from locust's output."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.run import parse_args

ROOT = Path(__file__).resolve().parent.parent
NUMBER = r"[\d,]+(?:\.\d+)?"
ADMIN_PAGES = [
    "list: unfiltered",
    "filter: channel",
    "filter: date range \\(one day\\)",
    "filter: reseller",
    "filter: evidence class",
    "filter: delivery state",
    "search: customer name",
    "search: last name",
    "search: e-mail",
    "list: page 10",
    "list: detail page",
]
FIGURE_LINES = [
    rf"^known customer: +1 query\(ies\), Partner Center calls 0; median {NUMBER} µs, p95 {NUMBER} µs over 50 calls$",
    r"^unknown synced, 1st check: +\d+ query\(ies\), Partner Center calls 4 .*\(simulator counted 4\)$",
    r"^unknown synced, next 5 checks: \d+ query\(ies\) each, Partner Center calls 0 in all \(simulator counted 0\)",
    rf"^unknown, cold cache each time .*: median {NUMBER} µs, p95 {NUMBER} µs$",
    rf"^ratio unknown \(cold\) / known: {NUMBER}x$",
    rf"^with the gate: +median {NUMBER} ms, p95 {NUMBER} ms .*, \d+ queries per checkout$",
    rf"^gate off: +median {NUMBER} ms, p95 {NUMBER} ms .*, \d+ queries per checkout$",
    r"^ratio of medians gated / off: \d+\.\d{3} \([+-]\d+\.\d%; 20 interleaved rounds\)",
    r"^queries per checkout: \d+ with the gate, \d+ off: [+-]\d+ added by the gate$",
    r"^Partner Center calls \(client counts\): with the gate \d+ in 20 checkouts = [\d.]+ per 1,000 checkouts",
    rf"^verify_chain: 2,000 records in {NUMBER} s = {NUMBER} records/s; ok=True$",
    rf"^verify_chain\(start=checkpoint #\d+\): {NUMBER} records in {NUMBER} s; \d+ checkpoint\(s\) checked; ok=True$",
    r"^## admin changelist at 2,000 records \(sqlite\)$",
    *(rf"^{page} +{NUMBER} +{NUMBER} +\d+ +(exact|estimate|-) +\d+$" for page in ADMIN_PAGES),
]


def test_quick_sizes_and_explicit_options_win():
    quick = parse_args(["--quick"])
    assert (quick.records, quick.calls, quick.rounds, quick.repeat, quick.duration, quick.users) == (
        2_000,
        50,
        20,
        3,
        10,
        10,
    )
    assert quick.seconds == 3.0
    assert quick.scenarios == ["gate", "verify", "admin"]
    full = parse_args(["load", "--records", "5000"])
    assert (full.records, full.calls, full.duration, full.users) == (5_000, 500, 60, 20)
    assert parse_args(["--quick", "load", "--duration", "30"]).duration == 30


def test_confirm_measures_the_checkpoint_cadence_only_when_asked():
    assert parse_args(["confirm"]).cadence is False
    assert parse_args(["confirm", "--cadence", "--clients", "2"]).cadence is True


def test_confirm_runs_two_rounds_unless_told_whatever_checkout_s_size():
    assert (parse_args(["confirm"]).confirm_rounds, parse_args(["confirm"]).rounds) == (2, 300)
    assert parse_args(["confirm", "--rounds", "4"]).confirm_rounds == 4


def test_recheck_takes_the_margin_from_the_setting_unless_told():
    assert parse_args(["recheck"]).headroom is None  # recheck.run reads PARTNER_CENTER_RATE_LIMIT_MARGIN
    assert parse_args(["recheck", "--headroom", "0.2"]).headroom == 0.2


def test_recheck_closes_the_runs_an_aborted_bench_left_open(db):
    from benchmarks.recheck import _close_leftover_runs
    from mca.models import RecheckRun

    left = RecheckRun.objects.create(source="bench", planned=3)
    other = RecheckRun.objects.create(source="command", planned=3)  # not the bench's: left alone
    assert _close_leftover_runs() == 1
    left.refresh_from_db(), other.refresh_from_db()
    assert left.finished_at is not None and other.finished_at is None
    assert _close_leftover_runs() == 0


def test_quick_mode_prints_every_figure_line(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "MCA_", "REDIS_", "CELERY_", "PARTNER_CENTER_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'mca-bench-smoke.sqlite3'}",
        MCA_CHECKPOINT_DIR=str(tmp_path / "checkpoints"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "gate", "checkout", "verify", "admin"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("# MCA benchmarks — sqlite")
    assert "(quick)" in result.stdout.splitlines()[0]
    missing = [line for line in FIGURE_LINES if not re.search(line, result.stdout, re.MULTILINE)]
    assert not missing, f"missing figure lines {missing} in:\n{result.stdout}"


def test_load_report_groups_requests_by_kind_and_checks_the_orders(tmp_path, capsys):
    from benchmarks.load import Timings, _report

    def entry(name, requests, failures, times):
        return {
            "name": name,
            "method": "GET",
            "start_time": 1000.0,
            "last_request_timestamp": 1010.0,
            "num_requests": requests,
            "num_failures": failures,
            "response_times": {str(ms): n for ms, n in times.items()},
        }

    entries = [
        entry("browse: catalog", 100, 0, {5: 50, 10: 49, 200: 1}),
        entry("checkout: place order", 10, 1, {20: 10}),
        entry("api: place order", 10, 0, {30: 9, 500: 1}),
    ]
    (tmp_path / "load.json").write_text(json.dumps(entries))
    (tmp_path / "load_failures.csv").write_text(
        'Method,Name,Error,Occurrences\nPOST,checkout: place order,"answered 500, expected 302",1\n'
    )

    figures = _report(tmp_path, users=4, duration=10, think=0, orders_written=18, pc_calls=0)

    out = capsys.readouterr().out
    assert re.search(r"^browse: catalog +100 +10\.0 +5 +10 +0$", out, re.MULTILINE)
    assert re.search(r"^checkout \(all\) +10 +1\.0 +20 +20 +1$", out, re.MULTILINE)
    assert re.search(r"^total +120 +12\.0 +10 +200 +1$", out, re.MULTILINE)
    assert "error: 1 × POST checkout: place order: answered 500, expected 302" in out
    assert "orders written: 18 for 19 successful place-order requests — MISMATCH" in out
    assert figures["errors"] == 2
    histogram = Timings()
    histogram.add(entries[2])
    assert (histogram.percentile(0.5), histogram.percentile(0.9), histogram.percentile(0.99)) == (30, 30, 500)
