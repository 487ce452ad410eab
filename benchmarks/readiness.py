"""readiness: the BSS readiness page /bss/mca/ and its CSV at N accounts (issue 19; goal p95 <= 300 ms at 100 000
accounts on PostgreSQL), as CSP staff and as a reseller's white-label staff, through the test Client."""

from __future__ import annotations

import os
import re
import time

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from benchmarks.data import ensure_readiness_data
from benchmarks.timing import count_queries, measure, median, p95
from bss.choices import Role
from bss.models import Account, Reseller
from bss.roles import grant_role

TARGET_MS = 300


def _client(username: str, role: Role, reseller: Reseller | None = None) -> Client:
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"email": f"{username}@bench.example"})
    grant_role(user, role, reseller=reseller)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    return client


def _csv_seconds(client: Client, query: dict) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(reverse("bss:readiness-csv"), query)
    lines = sum(chunk.count(b"\n") for chunk in response.streaming_content)
    return time.perf_counter() - started, lines - 1


def run(accounts: int = 100_000, repeat: int = 20) -> dict:
    loaded = ensure_readiness_data(accounts)
    biggest = (
        Reseller.objects.annotate(n=Count("accounts")).order_by("-n", "pk").first()
    )  # the reseller whose staff have the most customers
    biggest.is_white_label = True
    biggest.save(update_fields=["is_white_label"])
    staff = _client("bench-readiness-csp", Role.CSP_BSS)
    reseller_staff = _client("bench-readiness-wl", Role.WHITE_LABEL_BSS, biggest)
    url = reverse("bss:readiness")
    load = os.getloadavg()
    print(f"\n## readiness page at {Account.objects.count():,} accounts ({connection.vendor})")
    print(
        "loader: "
        + ", ".join(
            f"{key} {value:,.1f}" if isinstance(value, float) else f"{key} {value:,}" for key, value in loaded.items()
        )
    )
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; p50 and p95 of {repeat} requests after a warm-up")
    print(f"{'page':<44} {'p50 ms':>8} {'p95 ms':>8} {'queries':>8} {'rows':>9} {'target':>7}")
    pages = [
        (staff, "CSP: unfiltered", {}),
        (staff, "CSP: page 200", {"page": "200"}),
        (staff, "CSP: state = stale", {"state": "stale"}),
        (staff, "CSP: state = required", {"state": "required"}),
        (staff, "CSP: state = accepted", {"state": "accepted"}),
        (staff, "CSP: at risk", {"at_risk": "on"}),
        (staff, "CSP: reseller", {"reseller": str(biggest.pk)}),
        (
            staff,
            "CSP: reseller + at risk + unknown",
            {"reseller": str(biggest.pk), "at_risk": "on", "state": "unknown"},
        ),
        (staff, "CSP: search 'Lumen'", {"q": "Lumen"}),
        (staff, "CSP: search (no match)", {"q": "zzzz-nothing"}),
        (staff, "CSP: CSP direct", {"reseller": "csp"}),
        (reseller_staff, "reseller staff: unfiltered", {}),
        (reseller_staff, "reseller staff: at risk", {"at_risk": "on"}),
        (reseller_staff, "reseller staff: search 'Atlas'", {"q": "Atlas"}),
    ]
    figures: dict[str, dict] = {}
    for client, label, query in pages:
        response = client.get(url, query)
        assert response.status_code == 200, (label, response.status_code)
        queries = count_queries(lambda c=client, q=query: c.get(url, q))
        times = measure(lambda c=client, q=query: c.get(url, q), repeat)
        found = re.search(rb"\(([0-9]+) customers\)", response.content)
        count = int(found.group(1)) if found else 0
        figures[label] = {
            "p50_ms": median(times) * 1000,
            "p95_ms": p95(times) * 1000,
            "queries": queries,
            "rows": count,
        }
        print(
            f"{label:<44} {median(times) * 1000:>8.1f} {p95(times) * 1000:>8.1f} {queries:>8} {count:>9,} "
            f"{TARGET_MS:>7}"
        )
    print(f"\n{'CSV':<44} {'p50 s':>8} {'p95 s':>8} {'':>8} {'lines':>9}")
    for client, label, query, times in [
        (staff, "CSP: at risk, one reseller", {"at_risk": "on", "reseller": str(biggest.pk)}, 5),
        (reseller_staff, "reseller staff: all their customers", {}, 3),
        (staff, "CSP: all accounts", {}, 1),
    ]:
        runs = [_csv_seconds(client, query) for _ in range(times)]
        seconds = [run_[0] for run_ in runs]
        figures[f"csv {label}"] = {"p50_s": median(seconds), "p95_s": p95(seconds), "lines": runs[0][1]}
        print(f"{'CSV ' + label:<44} {median(seconds):>8.2f} {p95(seconds):>8.2f} {'':>8} {runs[0][1]:>9,}")
    return figures
