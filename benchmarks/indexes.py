"""indexes: storage per record (table, TOAST, each index) and, for every index on the log and its delivery table,
the queries that use it — the SQL the application really sends, captured and EXPLAINed at the current size.

Each query comes from the application's own code path: admin pages and API pages through the test Client,
verification through `verify_chain`, the delivery sweep through `mca.delivery`, the setup area's summaries through
`mca.selectors`. PostgreSQL only (SQLite has no planner statistics worth reading and no trigram indexes).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from benchmarks import admin_pages, api_pages
from benchmarks.plans import LOG_TABLES, IndexInfo, capture, indexes_in, indexes_of, plan
from benchmarks.timing import counting_abandoned_counts
from bss.models import Account
from mca.models import AcceptanceRecord

# Indexes kept for the rule they enforce rather than for a read (no query's plan needs them).
CONSTRAINT_ONLY = {
    "mca_acceptancedelivery_request_id_key": (
        "no query; kept as a rule: Microsoft's idempotency key, never shared by two deliveries (Partner Center "
        "would take the second for a retry of the first)"
    ),
}


def _client_get(client: Client, url: str, query: dict | None = None) -> Callable[[], object]:
    def get() -> object:
        response = client.get(url, query or {})
        assert response.status_code == 200, (url, query, response.status_code)
        return response

    return get


def query_sources() -> list[tuple[str, Callable[[], object]]]:
    """(name, what runs it) for every read of the two tables the benchmarks know."""
    from benchmarks.verify import _checkpoint_back
    from mca.chain import hashed_rows
    from mca.delivery import _due_ids
    from mca.selectors import deliveries_needing_attention, local_status_for, records_for_account
    from mca.verify import verify_chain

    sources: list[tuple[str, Callable[[], object]]] = []
    admin = admin_pages.admin_client()
    for kind, label, url, query in admin_pages.pages():
        sources.append((f"admin {kind}: {label}", _client_get(admin, url, query)))
    deliveries = reverse("admin:mca_acceptancedelivery_changelist")
    sources.append(("admin deliveries: failing", _client_get(admin, deliveries, {"state__exact": "failing"})))
    with api_pages.unthrottled():
        api = api_pages.token_client(api_pages.CSP_USER)
        reseller = api_pages.token_client(api_pages.RESELLER_USER)
    url = api_pages.list_url()
    last = AcceptanceRecord.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    sources.append(("API list: first page", _client_get(api, url)))
    sources.append(("API list: next cursor", _client_get(api, api_pages.cursor_at(last // 2))))
    for label, query in api_pages.filtered_pages():
        sources.append((f"API {label}", _client_get(api, url, query)))
    sources.append(("API list: reseller user", _client_get(reseller, url)))
    newest = AcceptanceRecord.objects.order_by("-sequence").values_list("pk", "account_id").first()
    if newest:
        detail = reverse("api:acceptance-detail", args=[newest[0]])
        sources.append(("API detail", _client_get(api, detail)))
    sources.append(("verify: whole log (keyset)", lambda: next(iter(hashed_rows(10_000)), None)))
    sources.append(("verify: from a checkpoint", lambda: verify_chain(start=_checkpoint_back(10_000))))
    sources.append(
        (
            # What `confirm_acceptance` asks before writing (mca.attestation.legacy and .enhanced): a replay?
            "confirm: idempotency replay check",
            lambda: AcceptanceRecord.objects.filter(idempotency_key="bench-missing-key").first(),
        )
    )
    sources.append(("delivery sweep (due and stuck)", lambda: _due_ids(timezone.now(), 500)))
    sources.append(("deliveries needing attention", lambda: list(deliveries_needing_attention()[:50])))
    accounts = list(Account.objects.order_by("pk")[:50])
    sources.append(("setup area: accounts' local status", lambda: local_status_for(accounts)))
    if newest:
        account = Account.objects.get(pk=newest[1])
        sources.append(
            ("account page: its records", lambda: list(records_for_account(account).order_by("-sequence")[:50]))
        )
    return sources


def index_usage() -> dict[str, list[str]]:
    """Index name -> the queries whose plan uses it; prints each query's plan summary on the way."""
    used: dict[str, list[str]] = {}
    print(f"\n{'query (captured SQL, EXPLAIN)':<44} indexes used")
    for name, run in query_sources():
        with counting_abandoned_counts(), capture() as captured:
            run()
        names: set[str] = set()
        for sql, params in captured.queries:
            names |= indexes_in(plan(sql, params))
        for index in names:
            used.setdefault(index, []).append(name)
        print(f"{name:<44} {', '.join(sorted(names)) or '(none: sequential scans only)'}")
    return used


def storage(indexes: list[IndexInfo]) -> dict[str, float]:
    """Bytes per record: each table's heap, TOAST (with its index), each index; the record and its delivery row."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, pg_relation_size(c.oid), COALESCE(pg_total_relation_size(c.reltoastrelid), 0),
                   pg_indexes_size(c.oid), (SELECT count(*) FROM mca_acceptancerecord)
            FROM pg_class c WHERE c.relname = ANY(%s)
            """,
            [list(LOG_TABLES)],
        )
        rows = cursor.fetchall()
    records = rows[0][4] if rows else 0
    per = max(records, 1)
    print(f"\n## storage per record at {records:,} records (pg_relation_size, pg_indexes_size; bytes)")
    print(f"{'relation':<52} {'MB':>8} {'bytes/record':>13}")
    figures: dict[str, float] = {}
    total = 0
    for table, heap, toast, index_bytes in ((r[0], r[1], r[2], r[3]) for r in sorted(rows, reverse=True)):
        print(f"{table + ' (table)':<52} {heap / 1e6:>8.1f} {heap / per:>13.0f}")
        print(f"{table + ' (TOAST)':<52} {toast / 1e6:>8.1f} {toast / per:>13.0f}")
        for index in (i for i in indexes if i.table == table):
            print(f"  {index.name:<50} {index.bytes / 1e6:>8.1f} {index.bytes / per:>13.0f}")
        count = sum(1 for i in indexes if i.table == table)
        print(f"{table + f' ({count} indexes)':<52} {index_bytes / 1e6:>8.1f} {index_bytes / per:>13.0f}")
        figures[table] = (heap + toast + index_bytes) / per
        figures[f"{table} indexes"] = index_bytes / per
        total += heap + toast + index_bytes
    print(f"{'record + its delivery row, all included':<52} {total / 1e6:>8.1f} {total / per:>13.0f}")
    figures["total"] = total / per
    return figures


def run() -> dict:
    if connection.vendor != "postgresql":
        print("\n## indexes: PostgreSQL only (skipped)")
        return {}
    records = AcceptanceRecord.objects.count()
    print(f"\n## indexes on the log and its deliveries at {records:,} records: which query uses each")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mca_acceptancerecord")
        cursor.execute("ANALYZE mca_acceptancedelivery")
    used = index_usage()
    indexes = indexes_of()
    print(f"\n{'index':<52} {'kind':<12} {'plan uses it':<12} used by")
    unused = []
    for index in indexes:
        kind = "primary key" if index.primary else "unique" if index.unique else "index"
        users = used.get(index.name, [])
        note = ", ".join(users) if users else CONSTRAINT_ONLY.get(index.name, "")
        if not users and not index.unique:
            unused.append(index.name)
        print(f"{index.name:<52} {kind:<12} {'yes' if users else 'no':<12} {note or '-'}")
    if unused:
        print(f"unused (no captured query's plan uses them): {', '.join(unused)}")
    figures = storage(indexes)
    figures["indexes"] = len(indexes)
    figures["unused"] = len(unused)
    return figures
