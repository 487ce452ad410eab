"""campaign: an acceptance campaign over N new customers (10,000; --quick 500) sent by real Celery workers through
Redis, with one worker killed (SIGKILL) mid-way. PostgreSQL only.

The stack: the simulator (its own gunicorn, playing Microsoft), two Celery workers (`--concurrency 2` each) on the
bench database and Redis db 12 under a key prefix of the run; this process starts the campaign (publishing one task
per account) and plays the beat (`campaigns.sweep()` every few seconds: a killed worker's unacknowledged message
stays in Redis until its visibility timeout, so its row is resumed by the sweep once the row's lease ran out).

Counted afterwards, each must be exactly one per account: Microsoft links (attestations at the simulator, per
signatory address), e-mails (the file backend's messages, per recipient), send rows "sent", and "link sent" log
records. Printed with the time, the rate and the machine's load average.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.db.models import Count

from bss.choices import CampaignSendState
from bss.models import Account, CampaignSend, Contact, Reseller
from demo.accounts import seed_demo_data
from demo.simulator import seed_simulator
from drills.http import Simulator
from drills.lifecycle import stop_on_exit, stop_stale
from drills.stack import BIN, Stack
from mca.choices import RecordEvent
from mca.models import AcceptanceRecord
from partner_center.simulator.models import SimAttestation

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
LEASE_SECONDS = 20
SWEEP_EVERY = 5.0


def _accounts(size: int, tag: str) -> list[int]:
    """`size` new customers (not synced: their MCA is required), each with a primary contact of its own address."""
    reseller, _ = Reseller.objects.get_or_create(slug="bench-campaign", defaults={"name": "Bench Campaign Reseller"})
    languages = ("en-US", "de-DE", "fr-FR")
    Account.objects.bulk_create(
        (Account(name=f"Campaign {tag} {n:05d}", reseller=reseller, language=languages[n % 3]) for n in range(size)),
        batch_size=2000,
    )
    ids = list(Account.objects.filter(name__startswith=f"Campaign {tag} ").order_by("pk").values_list("pk", flat=True))
    Contact.objects.bulk_create(
        (
            Contact(
                account_id=pk,
                first_name="Sig",
                last_name="Natory-" + "".join("abcdefghij"[int(digit)] for digit in str(n)),
                email=f"s{n}.{tag}@campaign.bench",
                is_primary=True,
            )
            for n, pk in enumerate(ids)
        ),
        batch_size=2000,
    )
    return ids


def _use_stack_broker(stack: Stack) -> None:
    """This process publishes to the stack's Redis, under its key prefix, as the web app would."""
    from config.celery import app

    app.conf.update(
        task_always_eager=False,
        broker_url=stack.redis_url,
        broker_transport_options={"visibility_timeout": 3600, "global_keyprefix": stack.key_prefix},
    )
    app.close()
    app.amqp._producer_pool = None


def _worker(stack: Stack, name: str) -> None:
    stack._spawn(
        name,
        [str(BIN / "celery"), "-A", "config", "worker", "-n", f"{name}@%h", "--concurrency", "2", "--loglevel", "info"],
    )


def _counts(campaign_id: int) -> Counter:
    return Counter(
        dict(
            CampaignSend.objects.filter(campaign_id=campaign_id).order_by().values_list("state").annotate(n=Count("pk"))
        )
    )


def _mails(folder: Path) -> Counter:
    recipients: Counter = Counter()
    for path in folder.glob("*.log"):
        # The file backend appends each message of a connection, separated by a line of 79 dashes.
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                recipients[message_from_bytes(chunk.strip()).get("To", "")] += 1
    return recipients


def run(size: int = 10_000, kill_at: float = 0.3, timeout: float = 3600.0) -> dict:
    if connection.vendor != "postgresql":
        raise SystemExit("The campaign scenario needs PostgreSQL: set DATABASE_URL=postgres://.../mca_bench_...")
    for stale in stop_stale():
        print(stale.line(), flush=True)
    from bss.services import campaigns

    seed_demo_data()
    seed_simulator()
    tag = f"{int(time.time()):x}"
    ids = _accounts(size, tag)
    actor = get_user_model().objects.get(username="bss")
    out = Path(tempfile.mkdtemp(prefix="mca-bench-campaign-"))
    mail_dir = out / "mail"
    mail_dir.mkdir()
    stack = Stack(
        database_url=os.environ["DATABASE_URL"],
        redis_url=REDIS_URL,
        log_dir=out,
        extra_env={
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
            "CAMPAIGN_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
            "CAMPAIGN_RETRY_SECONDS": "10",
            "MCA_CHECKPOINT_AFTER_COMMIT": "false",
            "CONN_MAX_AGE": "3600",
        },
    )
    stack.flow = "enhanced"
    os.environ["PARTNER_CENTER_BASE_URL"] = stack.simulator_url
    figures: dict = {}
    with stop_on_exit(stack):
        try:
            stack.create_database()  # the kept bench database: only the run's Redis keys are cleared
            stack.start_simulator()
            simulator = Simulator(stack.simulator_url)
            simulator.reset_calls()
            _use_stack_broker(stack)
            load_before = os.getloadavg()
            _worker(stack, "worker-1")
            _worker(stack, "worker-2")
            started = time.monotonic()
            added = campaigns.start_campaign(
                actor=actor, name=f"Bench {tag}", authority_confirmed=True, account_ids=ids, sender="Bench CSP"
            )
            published = time.monotonic() - started
            campaign_id = added.campaign.pk
            killed_at = None
            last_sweep = time.monotonic()
            deadline = started + timeout
            while time.monotonic() < deadline:
                time.sleep(1.0)
                counts = _counts(campaign_id)
                done = size - counts[CampaignSendState.QUEUED] - counts[CampaignSendState.SENDING]
                if killed_at is None and done >= kill_at * size:
                    stack.processes["worker-1"].send_signal(signal.SIGKILL)
                    killed_at = (time.monotonic() - started, done)
                    print(f"campaign: killed worker-1 (SIGKILL) at {done} of {size} settled", flush=True)
                if time.monotonic() - last_sweep >= SWEEP_EVERY:
                    campaigns.sweep()
                    last_sweep = time.monotonic()
                if done >= size:
                    break
            elapsed = time.monotonic() - started
            load_after = os.getloadavg()
            calls = simulator.calls()
        finally:
            connections.close_all()
    counts = _counts(campaign_id)
    emails = set(Contact.objects.filter(account_id__in=ids).values_list("email", flat=True))
    links = Counter(
        dict(SimAttestation.objects.filter(email__in=emails).order_by().values_list("email").annotate(n=Count("pk")))
    )
    mails = _mails(mail_dir)
    link_sent = AcceptanceRecord.objects.filter(account_id__in=ids, event=RecordEvent.LINK_SENT).count()
    resumed = CampaignSend.objects.filter(campaign_id=campaign_id, attempts__gt=1).count()
    figures = {
        "size": size,
        "sent": counts[CampaignSendState.SENT],
        "other_states": {state: n for state, n in counts.items() if state != CampaignSendState.SENT},
        "links_at_simulator": sum(links.values()),
        "accounts_with_two_links": sum(1 for n in links.values() if n > 1),
        "create_attestation_calls": calls.get("create_enhanced_attestation", 0),
        "emails": sum(mails[address] for address in emails),
        "accounts_with_two_emails": sum(1 for address in emails if mails[address] > 1),
        "link_sent_records": link_sent,
        "resumed_rows": resumed,
        "elapsed": elapsed,
        "published": published,
    }
    ok = (
        figures["sent"] == size
        and figures["links_at_simulator"] == size
        and figures["emails"] == size
        and figures["link_sent_records"] == size
    )
    print(f"\n## campaign ({size} accounts; 2 Celery workers x 2 processes; worker-1 SIGKILLed mid-way)")
    print(f"started (rows + {size} tasks published) in {published:.1f} s; all settled in {elapsed:.0f} s")
    print(f"rate: {size / elapsed:.1f} sends/s")
    if killed_at:
        print(f"worker-1 killed at {killed_at[0]:.0f} s with {killed_at[1]} settled; rows resumed: {resumed}")
    print(f"send rows sent: {figures['sent']} (other states: {figures['other_states'] or 'none'})")
    print(
        f"links at the simulator: {figures['links_at_simulator']} for {size} signatories "
        f"({figures['accounts_with_two_links']} with two); create-attestation calls: "
        f"{figures['create_attestation_calls']}"
    )
    print(f"e-mails: {figures['emails']} ({figures['accounts_with_two_emails']} signatories with two)")
    print(f"'link sent' log records: {link_sent}")
    print(
        f"machine: {os.cpu_count()} CPU(s), shared; load average (1/5/15 min) "
        f"{'/'.join(f'{v:.1f}' for v in load_before)} before, {'/'.join(f'{v:.1f}' for v in load_after)} at the end"
    )
    print(f"each link sent once: {'yes' if ok else 'NO'} (logs in {out})")
    sys.stdout.flush()
    figures["ok"] = ok
    return figures
