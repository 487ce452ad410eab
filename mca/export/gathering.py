"""What one customer's evidence holds (R14): its records, each record's own chain check, the whole chain's
verification, deliveries, attestations and a README, gathered once for the folder export and the pack."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils import timezone

from bss.models import Account
from mca.chain import (
    HASHED_FIELDS_BY_VERSION,
    KEYED_VERSION,
    VerifyResult,
    _text,
    mac_problem,
    record_hash,
)
from mca.choices import EvidenceClass
from mca.evidence_verify import readme_row
from mca.export.csv import csv_rows, csv_text
from mca.knowledge import known_acceptance, still_counts
from mca.models import GENESIS_HASH, AcceptanceDelivery, AcceptanceRecord, Attestation
from mca.rules import cloud_agreement_counts
from mca.status import confirmed_by_for_everyone
from mca.verify import verify_chain


@dataclass(frozen=True)
class RecordCheck:
    """One record's own chain check: its content against its hash, and its link to the record before it."""

    sequence: int
    hash_ok: bool
    link_ok: bool
    problem: str
    mac_ok: bool = True

    @property
    def ok(self) -> bool:
        return self.hash_ok and self.link_ok and self.mac_ok

    def __str__(self) -> str:
        return (
            f"Record #{self.sequence}: intact (hash, seal and link to the previous record match)"
            if self.ok
            else (f"Record #{self.sequence}: {self.problem}")
        )


def check_record(record: AcceptanceRecord, known_hashes: dict[int, str] | None = None) -> RecordCheck:
    """Recompute the record's hash and check its prev_hash against the previous record's entry_hash.

    The previous hash comes from `known_hashes` (sequence -> entry_hash) when it holds it, else one indexed query.
    """
    problems = []
    try:
        computed = record_hash(record)
    except ValueError as error:
        computed = str(error)
    hash_ok = computed == record.entry_hash
    if not hash_ok:
        problems.append(
            f"content does not match its hash (stored {record.entry_hash[:12]}…, recomputed {computed[:12]}…)"
        )
    mac_ok = True
    if record.hash_version >= KEYED_VERSION:
        problem = mac_problem(record.entry_hash, record.key_id, record.mac)
        if problem:
            mac_ok = False
            problems.append(problem)
    if record.sequence == 1:
        expected = GENESIS_HASH
    elif known_hashes is not None and record.sequence - 1 in known_hashes:
        expected = known_hashes[record.sequence - 1]
    else:
        expected = (
            AcceptanceRecord.objects.filter(sequence=record.sequence - 1).values_list("entry_hash", flat=True).first()
        )
    if expected is None:
        link_ok = False
        problems.append(f"record #{record.sequence - 1} before it is missing")
    else:
        link_ok = record.prev_hash == expected
        if not link_ok:
            problems.append(f"prev_hash does not match record #{record.sequence - 1}'s hash")
    return RecordCheck(record.sequence, hash_ok, link_ok, "; ".join(problems), mac_ok)


RECORD_FIELDS: tuple[str, ...] = tuple(
    field.attname for field in AcceptanceRecord._meta.concrete_fields if field.attname != "id"
)


def customer_accounts(account: Account) -> QuerySet[Account]:
    """The accounts that are the same Microsoft customer: all accounts of its tenant, or the account alone."""
    if account.partner_center_tenant_id is not None:
        return Account.objects.filter(partner_center_tenant_id=account.partner_center_tenant_id).order_by("pk")
    return Account.objects.filter(pk=account.pk)


# The choices whose display names the readable files show (verify.py gets them in proof.json to re-render rows).
LABELLED_FIELDS = ("event", "actor_role", "channel", "evidence_class")


def field_texts(record: AcceptanceRecord) -> dict[str, str | None]:
    """The record's hashed fields as its canonical form writes them (what verify.py decodes from the bytes)."""
    names = HASHED_FIELDS_BY_VERSION[record.hash_version]
    if record.hash_version >= KEYED_VERSION:
        names = tuple(name for name in names if name != "prev_hash")
    return {name: _text(getattr(record, name)) for name in names}


def record_labels() -> dict[str, dict[str, str]]:
    return {
        name: {str(value): str(label) for value, label in AcceptanceRecord._meta.get_field(name).choices}
        for name in LABELLED_FIELDS
    }


def _record_json(record: AcceptanceRecord) -> dict[str, Any]:
    """Every field; times exactly as hashed (microseconds, UTC), so verify.py can compare them with the bytes."""
    data: dict[str, Any] = {"id": record.pk}
    for name in RECORD_FIELDS:
        value = getattr(record, name)
        data[name] = _text(value) if isinstance(value, datetime) else value
    try:
        data["form_data_parsed"] = json.loads(record.form_data)
    except ValueError:
        data["form_data_parsed"] = None
    data["confirmer"] = record.confirmer
    return data


def _delivery_json(record: AcceptanceRecord) -> dict[str, Any]:
    try:
        delivery = record.delivery
    except AcceptanceDelivery.DoesNotExist:
        return {"record_sequence": record.sequence, "record_id": record.pk, "state": None}
    return {
        "record_sequence": record.sequence,
        "record_id": record.pk,
        "state": delivery.state,
        "state_display": delivery.get_state_display(),
        "request_id": str(delivery.request_id),
        "tenant_id": delivery.tenant_id,
        "template_id": delivery.template_id,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_error": delivery.last_error,
        "last_status_code": delivery.last_status_code,
        "already_confirmed": delivery.already_confirmed,
        "partner_center_answer": delivery.response,
        "sent_at": delivery.sent_at,
    }


def _how_known(account: Account) -> str:
    """How the customer's acceptance is known now, from what is stored here (Partner Center is not asked)."""
    knowledge = known_acceptance(account)
    if knowledge is not None:
        text = f"{knowledge.get_kind_display()}, accepted {knowledge.accepted_at:%Y-%m-%d}"
        # The records name who confirmed; this line may be another partner's confirmation (a shared tenant).
        text += confirmed_by_for_everyone(knowledge.confirmed_by)
        text += (
            f"; last verified at Partner Center {knowledge.verified_at:%Y-%m-%d %H:%M} UTC"
            if (knowledge.verified_at)
            else "; known here only (not verified at Partner Center)"
        )
        if not still_counts(knowledge):
            text += ". It no longer counts (a partner confirmation from before the MCA refresh): acceptance needed"
        return text + "."
    if cloud_agreement_counts(account.cloud_agreement_accepted_at):
        return (
            f"Microsoft Cloud Agreement accepted {account.cloud_agreement_accepted_at:%Y-%m-%d} (before the cut-over)."
        )
    return "Nothing is known here: acceptance would be asked for" + (
        " (Partner Center is asked at the next check)." if account.is_synced else "."
    )


@dataclass
class Evidence:
    """What one customer's evidence holds, gathered once for the folder export and the pack."""

    account: Account
    accounts: list[Account]
    records: list[AcceptanceRecord]
    checks: list[RecordCheck]
    chain: VerifyResult
    now: datetime
    files: dict[str, str]


def gather_evidence(
    account: Account, *, now: datetime | None = None, within: QuerySet[Account] | None = None
) -> Evidence:
    """records.json / records.csv: every record of the customer (all accounts of its Partner Center tenant, or the
    account if not synced), every field, the form as entered. chain.json: the whole chain's verification (records,
    head and checkpoints) and, per record, its own hash, seal and link check. deliveries.json: what Partner Center
    was sent and answered. attestations.json: the enhanced attestations' progress. README.md: a summary.
    `within` (e.g. `Account.objects.visible_to(user)`) limits it to the accounts a user may see: white-label staff
    get their own account's records, not another reseller's of the same tenant."""
    customers = customer_accounts(account)
    accounts = list(customers if within is None else customers.filter(pk__in=within))
    records = list(
        AcceptanceRecord.objects.filter(account__in=[a.pk for a in accounts])
        .select_related("delivery")
        .order_by("sequence")
    )
    now = now or timezone.now()
    chain = verify_chain()
    known = {r.sequence: r.entry_hash for r in records}
    checks = [check_record(record, known) for record in records]
    files: dict[str, str] = {
        "records.json": _dumps([_record_json(record) for record in records]),
        "records.csv": csv_text(
            csv_rows(AcceptanceRecord.objects.filter(pk__in=[r.pk for r in records]).order_by("sequence"))
        ),
        "chain.json": _dumps(
            {
                "verified_at": now,
                "whole_chain": {
                    "intact": chain.ok,
                    "records_checked": chain.checked,
                    "last_sequence": chain.last_sequence,
                    "first_break": str(chain.first_break) if chain.first_break else None,
                },
                "breaks": [{"kind": b.kind, "sequence": b.sequence, "text": str(b)} for b in chain.breaks],
                "checkpoints_checked": chain.checkpoints_checked,
                "records": [
                    {
                        "sequence": check.sequence,
                        "entry_hash": record.entry_hash,
                        "prev_hash": record.prev_hash,
                        "hash_ok": check.hash_ok,
                        "prev_link_ok": check.link_ok,
                        "mac_ok": check.mac_ok,
                        "problem": check.problem or None,
                    }
                    for record, check in zip(records, checks, strict=True)
                ],
                "hash_format": "see mca/chain.py: SHA-256 over the length-prefixed canonical form of each record's "
                "hash_version (1: the legacy confirmation's fields; 2: plus the event fields; 3: the content "
                "without prev_hash, then SHA-256 of prefix + prev_hash + content digest, sealed with an HMAC)",
            }
        ),
        "deliveries.json": _dumps([_delivery_json(record) for record in records]),
        "attestations.json": _dumps(_attestations_json(accounts)),
    }
    files["README.md"] = _readme(account, accounts, records, checks, chain, now)
    return Evidence(account, accounts, records, checks, chain, now, files)


def export_evidence(account: Account, out_dir: Path | str, *, within: QuerySet[Account] | None = None) -> Path:
    """Write the evidence for one Microsoft customer (R14) into a new folder under `out_dir`; returns the folder.

    The files of `gather_evidence`, and SHA256SUMS: the files' digests, so the hand-over can be checked. The
    evidence pack (`export_evidence_pack`) holds the same and what a third party needs to verify it alone.
    """
    evidence = gather_evidence(account, within=within)
    folder = Path(out_dir) / f"mca-evidence-account-{account.pk}-{evidence.now:%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True, exist_ok=False)
    for name, text in evidence.files.items():
        (folder / name).write_text(text, encoding="utf-8")
    sums = "".join(f"{hashlib.sha256(text.encode()).hexdigest()}  {name}\n" for name, text in evidence.files.items())
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    return folder


def _attestations_json(accounts: list[Account]) -> list[dict[str, Any]]:
    """Each enhanced attestation's progress (mutable, outside the log): its link, expiry and state."""
    rows = Attestation.objects.filter(account__in=[a.pk for a in accounts]).select_related("form_record")
    return [
        {
            "form_record_sequence": attestation.form_record.sequence,
            "state": attestation.state,
            "state_display": attestation.get_state_display(),
            "microsoft_attestation_id": attestation.attestation_id,
            "signatory": attestation.signatory_name,
            "signatory_email": attestation.signatory_email,
            "link_expires_at": attestation.expires_at,
            "accepted_at": attestation.accepted_at,
            "created_at": attestation.created_at,
            "last_error": attestation.last_error,
        }
        for attestation in rows.order_by("created_at")
    ]


def _dumps(value: Any) -> str:
    return json.dumps(value, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False) + "\n"


def _readme(account, accounts, records, checks, chain, now) -> str:
    first_party = [r for r in records if r.evidence_class == EvidenceClass.FIRST_PARTY]
    by_class = Counter(r.evidence_class for r in records)
    by_state = Counter(_delivery_json(r)["state"] or "none" for r in records)
    lines = [
        f"# MCA acceptance evidence: {account.name}",
        "",
        f"Exported {now:%Y-%m-%d %H:%M:%S} UTC.",
        "",
        "## Customer",
        "",
        f"- Account: {account.name} (id {account.pk}), {account.owner_name}",
        f"- Partner Center tenant: {account.partner_center_tenant_id or 'none yet (not synced)'}",
    ]
    if len(accounts) > 1:
        others = ", ".join(f"{a.name} (id {a.pk}, {a.owner_name})" for a in accounts if a.pk != account.pk)
        lines.append(f"- The same Microsoft customer in other accounts (records included): {others}")
    lines += [
        f"- Acceptance known now: {_how_known(account)}",
        "",
        "## Records",
        "",
        f"{len(records)} acceptance log record(s): {by_class[EvidenceClass.FIRST_PARTY]} first-party, "
        f"{by_class[EvidenceClass.ATTESTATION]} attestation(s) on the customer's behalf, "
        f"{by_class[EvidenceClass.SIGNATORY_AT_MICROSOFT]} accepted at Microsoft by the signatory.",
        "",
    ]
    if records:
        lines += [
            "| # | created (UTC) | step | account | by | channel | evidence | proven by | delivery |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        labels = record_labels()
        for record in records:
            delivery = _delivery_json(record).get("state_display", "none")
            lines.append(readme_row(field_texts(record), labels, delivery))
        lines.append("")
    lines.append(
        'A record proven by "this record" (the customer\'s own user accepted, or Microsoft reported the '
        "signatory's acceptance) is sufficient proof on its own. "
        "An attestation (a reseller or BSS user confirmed on the customer's behalf) is backed by Partner Center's "
        "record of the confirmation: see deliveries.json."
        if first_party
        else "No first-party record: the proof is the attestation together with Partner Center's answer "
        "(deliveries.json)."
    )
    broken = [c for c in checks if not c.ok]
    lines += [
        "",
        "## Chain",
        "",
        f"- Whole log: {'intact' if chain.ok else 'NOT intact'}, {chain.checked} record(s) verified"
        + (f"; first break: {chain.first_break}" if chain.first_break else ""),
        f"- This customer's records: {len(checks) - len(broken)} of {len(checks)} match their hash and link"
        + ("" if not broken else "; " + "; ".join(str(c) for c in broken)),
        "",
        "## Delivery to Partner Center",
        "",
    ]
    lines += [f"- {state}: {count}" for state, count in sorted(by_state.items())] or ["- no records"]
    lines += [
        "",
        "## Files",
        "",
        "- records.json, records.csv: every record, every field, the form exactly as entered",
        "- chain.json: the whole-chain verification and each record's own check",
        "- deliveries.json: each record's delivery state and Partner Center's answer",
        "- attestations.json: each enhanced attestation's link, expiry and progress (the signatory's story)",
        "- SHA256SUMS: digests of the files above (`sha256sum -c SHA256SUMS`)",
        "",
    ]
    return "\n".join(lines)
