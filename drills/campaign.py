"""The `campaign` drill (issue 19): an acceptance campaign started over HTTP by the `bss` user (the form at
/bss/campaigns/new/), sent by the stack's Celery worker through Redis, the worker SIGKILLed while links are being
issued (Partner Center slow), then restarted; the beat's campaign sweep resumes what the dead worker held.

Passes only if every account's link went out exactly once, counted three ways on the drill's own accounts: links at
Microsoft (attestations at the simulator, per signatory address), the campaign's send rows ("sent", one e-mail
each) and "link sent" log records, and the e-mails the stack wrote (the file backend, per recipient); and no account
was lost (one row per account, none left queued, sending or failed)."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path

from django.db.models import Count

# Only the stack's module here: the runner reads STACK_ENV before Django is set up (the rest is imported in the drill).
from drills.stack import LOG_DIR, Stack, wait_until

MAIL_DIR = LOG_DIR / "mail"
LEASE_SECONDS = 20  # a dead worker's hold on a send row; the sweep resumes the row after it
# What the stack runs with for this drill (every drill's stack: these only touch campaigns and e-mail).
STACK_ENV = {
    "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
    "EMAIL_FILE_PATH": str(MAIL_DIR),
    "CAMPAIGN_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
    "CAMPAIGN_RETRY_SECONDS": "5",
    "CAMPAIGN_SWEEP_SECONDS": "2",
}
ISSUE_PATH = "v1/attestations/enhanced"  # where the simulator issues Microsoft's links


def _accounts(count: int, tag: str) -> list[int]:
    """`count` new customers (their MCA required), each with a primary contact of its own address."""
    from bss.models import Account, Contact

    ids = []
    for n in range(count):
        account = Account.objects.create(name=f"Drill campaign {tag} {n:03d}", language=("en-US", "de-DE")[n % 2])
        Contact.objects.create(
            account=account,
            first_name="Sig",
            last_name="Natory-" + "".join("abcdefghij"[int(digit)] for digit in str(n)),  # names have no digits
            email=f"s{n}.{tag}@campaign.drill",
            is_primary=True,
        )
        ids.append(account.pk)
    return ids


def _mails(folder: Path) -> Counter:
    """Messages per recipient in the file backend's folder (one file per connection, messages separated by a line
    of 79 dashes)."""
    recipients: Counter = Counter()
    for path in folder.glob("*.log"):
        for chunk in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
            if chunk.strip():
                recipients[message_from_bytes(chunk.strip()).get("To", "")] += 1
    return recipients


def campaign_worker_killed(stack: Stack, count: int = 40, latency_ms: int = 1500) -> str:
    from bss.choices import CampaignSendState
    from bss.models import Campaign, CampaignSend, Contact
    from drills.cases import check
    from drills.http import Simulator
    from drills.web import Browser
    from mca.choices import RecordEvent
    from mca.models import AcceptanceRecord
    from partner_center.simulator.models import SimAttestation

    check(stack.env().get("EMAIL_FILE_PATH") == str(MAIL_DIR), "the stack does not write e-mails to the drill's folder")
    sim = Simulator(stack.simulator_url)
    tag = f"{int(time.time()):x}"
    ids = _accounts(count, tag)
    emails = set(Contact.objects.filter(account_id__in=ids).values_list("email", flat=True))
    sim.set_fault(mode="slow", latency_ms=latency_ms, paths=ISSUE_PATH)
    sim.reset_calls()
    staff = Browser(stack.base_url, "bss")
    check(staff.form_on("/bss/campaigns/new/", "authority_confirmed"), "no campaign form at /bss/campaigns/new/")
    started = time.monotonic()
    answer = staff.post(
        "/bss/campaigns/new/",
        [
            ("name", f"Drill campaign {tag}"),
            ("accounts", ",".join(str(pk) for pk in ids)),
            *(("states", state) for state in ("required", "stale", "expired")),
            ("authority_confirmed", "on"),
        ],
    )
    location = answer.headers.get("Location", "")
    found = re.search(r"/bss/campaigns/(\d+)/", location)
    check(answer.status_code == 302 and found is not None, f"starting the campaign: HTTP {answer.status_code}")
    campaign = Campaign.objects.get(pk=int(found.group(1)))
    rows = CampaignSend.objects.filter(campaign=campaign)
    check(rows.count() == count, f"{rows.count()} send rows for {count} accounts")

    def settled() -> int:
        return rows.exclude(state__in=[CampaignSendState.QUEUED, CampaignSendState.SENDING]).count()

    def sending() -> int:
        return rows.filter(state=CampaignSendState.SENDING).count()

    # Mid-way: a few sent, links being issued right now (the worker holds them, Microsoft is slow).
    ready = wait_until(lambda: settled() >= count // 5 and sending() >= 2, timeout=180, interval=0.2)
    check(ready, f"never mid-way: {settled()} settled, {sending()} sending")
    held = sending()
    settled_at_kill = settled()
    stack.kill("worker", signal.SIGKILL)
    killed = time.monotonic()
    sim.clear_faults()
    stack.start_worker()
    done = wait_until(lambda: settled() == count, timeout=LEASE_SECONDS + 240, interval=1)
    check(done, f"not all settled {time.monotonic() - killed:.0f} s after the kill: {dict(_states(rows))}")
    after_kill, total = time.monotonic() - killed, time.monotonic() - started
    time.sleep(3)  # anything sent twice would have arrived by now: the sweep runs every 2 s

    states = _states(rows)
    errors = sorted(set(rows.exclude(last_error="").values_list("last_error", flat=True)))[:3]
    check(states == {CampaignSendState.SENT: count}, f"send rows: {dict(states)}, not all sent; errors: {errors}")
    per_row = Counter(rows.values_list("emails", flat=True))
    check(per_row == {1: count}, f"e-mails recorded per row: {dict(per_row)}")
    check(rows.values("account").distinct().count() == count, "an account lost its row")
    links = Counter(
        dict(SimAttestation.objects.filter(email__in=emails).order_by().values_list("email").annotate(n=Count("pk")))
    )
    check(
        set(links) == emails and set(links.values()) == {1},
        f"links at Microsoft: {sum(links.values())} for {count} signatories "
        f"({sum(1 for n in links.values() if n > 1)} with two, {len(emails - set(links))} with none)",
    )
    mails = _mails(MAIL_DIR)
    ours = {address: mails[address] for address in emails}
    check(
        set(ours.values()) == {1},
        f"e-mails: {sum(ours.values())} for {count} signatories "
        f"({sum(1 for n in ours.values() if n > 1)} with two, {sum(1 for n in ours.values() if n == 0)} with none)",
    )
    link_sent = AcceptanceRecord.objects.filter(account_id__in=ids, event=RecordEvent.LINK_SENT).count()
    check(link_sent == count, f"{link_sent} 'link sent' log records for {count} accounts")
    resumed = rows.filter(attempts__gt=1).count()
    calls = sim.calls().get("create_enhanced_attestation", 0)  # a figure: replays carry the same MS-RequestId
    return (
        f"{count} accounts over the form; worker SIGKILLed with {held} sends in flight and {settled_at_kill} settled "
        f"(Partner Center {latency_ms} ms a link), restarted; {resumed} rows resumed by the sweep; all sent "
        f"{after_kill:.0f} s after the kill ({total:.0f} s in all); 1 link each at Microsoft "
        f"({sum(links.values())}; {calls} create-link calls), 1 e-mail each ({sum(ours.values())}), "
        f"{link_sent} 'link sent' records; 0 lost"
    )


def _states(rows) -> Counter:
    return Counter(dict(rows.order_by().values_list("state").annotate(n=Count("pk"))))
