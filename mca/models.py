"""The acceptance domain: what is known per Microsoft customer, the immutable acceptance log, its delivery."""

from __future__ import annotations

from typing import Any

import pgtrigger
from django.db import models
from django.db.models import Q
from django.utils import timezone

from bss.choices import Channel, Operation, Role
from mca.choices import AcceptanceKind, AttestationState, DeliveryState, EvidenceClass, RecordEvent

GENESIS_HASH = "0" * 64


class ImmutableRecordError(Exception):
    """Acceptance log records are append-only: they are never changed or deleted."""


class CustomerKnowledge(models.Model):
    """What is known about one Microsoft customer's MCA acceptance.

    Keyed by the Partner Center tenant ("tenant:<id>"), so that every account of one tenant — e.g. the same
    company managed by two resellers — shares it (R2); an account without a tenant id has its own key
    ("account:<pk>") until provisioning gives it one, when the knowledge moves to the tenant key.
    """

    key = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=20, choices=AcceptanceKind.choices)
    accepted_at = models.DateTimeField(help_text="When the customer accepted (the date agreed).")
    template_id = models.CharField(max_length=64, blank=True)
    template_version_rank = models.IntegerField(null=True, blank=True)
    # A snapshot for the reason sentence, so the gate needs no join: "J. Smith (Reseller user)".
    confirmed_by = models.CharField(max_length=300, blank=True)
    record = models.ForeignKey("AcceptanceRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When Partner Center last confirmed this (empty: known only here)."
    )
    updated_at = models.DateTimeField(auto_now=True)
    # The seal (mca.seal): an HMAC over the row with a key outside the database; a row that does not verify
    # counts as unknown.
    mac_key_id = models.CharField(max_length=32, blank=True)
    mac = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = "customer acceptance knowledge"
        verbose_name_plural = "customer acceptance knowledge"

    def __str__(self) -> str:
        return f"{self.key}: {self.get_kind_display()}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        from mca.seal import seal_knowledge

        seal_knowledge(self)  # every write through the application seals the row it writes
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "mac_key_id", "mac"}
        super().save(*args, **kwargs)


class AcceptanceRecordQuerySet(models.QuerySet["AcceptanceRecord"]):
    def update(self, **kwargs: Any) -> int:
        raise ImmutableRecordError("Acceptance records cannot be updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError("Acceptance records cannot be deleted.")


class AcceptanceRecord(models.Model):
    """One confirmation of a customer's MCA acceptance (R7, R8): append-only and hash-chained.

    The database refuses UPDATE, DELETE and TRUNCATE on this table (PostgreSQL triggers from pgtrigger, SQLite
    triggers in migration 0002); the model refuses them too. Each row carries its sequence number, the previous
    row's hash, its own hash and (version 3) a MAC with a key kept outside the database — see `mca.chain`.
    """

    # Version 2 added the event fields (enhanced attestation); version 3 hashes the content apart from the link
    # and seals each record with a keyed MAC. Older records keep verifying with their own version.
    HASH_VERSION = 3

    sequence = models.PositiveBigIntegerField(unique=True)
    hash_version = models.PositiveSmallIntegerField(default=HASH_VERSION)
    prev_hash = models.CharField(max_length=64)
    # Not unique in the database: no query looks a record up by its hash, and two records cannot share one (the
    # hashed content includes the sequence, which is unique); `verify_chain` recomputes every hash anyway.
    entry_hash = models.CharField(max_length=64)
    # Version 3: HMAC-SHA256 of entry_hash with the key named here (MCA_LOG_HMAC_KEYS, kept outside the database),
    # so a row written or rewritten by someone without the key does not verify.
    key_id = models.CharField(max_length=32, blank=True)
    mac = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(db_index=True, help_text="Server time (UTC) of the confirmation.")
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)

    # Who confirmed: a snapshot, so the record stays true when the user or its role changes later.
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150)
    actor_display_name = models.CharField(max_length=300)
    actor_role = models.CharField(max_length=20, choices=Role.choices)
    actor_organisation = models.CharField(max_length=200)

    # For whom.
    account = models.ForeignKey("bss.Account", on_delete=models.PROTECT, related_name="acceptance_records")
    account_name = models.CharField(max_length=200)
    reseller = models.ForeignKey(
        "bss.Reseller", null=True, blank=True, on_delete=models.PROTECT, related_name="acceptance_records"
    )
    reseller_name = models.CharField(max_length=200, blank=True)
    tenant_id = models.CharField(max_length=36, blank=True, help_text="Partner Center tenant, if known then.")

    # Where.
    channel = models.CharField(max_length=30, choices=Channel.choices)
    host = models.CharField(max_length=253, blank=True)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)

    # What was shown.
    agreement_type = models.CharField(max_length=50, default="MicrosoftCustomerAgreement")
    template_id = models.CharField(max_length=64, blank=True)
    template_version_rank = models.IntegerField(null=True, blank=True)
    document_link = models.URLField(max_length=500, blank=True)
    language = models.CharField(max_length=10)
    country = models.CharField(max_length=2)

    # The form: exactly as entered (JSON text), and normalised for search and delivery.
    form_data = models.TextField(help_text="The submitted form fields as entered, as JSON.")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    email = models.EmailField()
    phone = models.CharField(max_length=20, blank=True, help_text="E.164 (optional for a signatory)")
    date_agreed = models.DateField(null=True, blank=True, help_text="Legacy confirmation: the day stated.")

    # The event this record stands for, and the enhanced attestation it belongs to (hash version 2).
    event = models.CharField(max_length=30, choices=RecordEvent.choices, default=RecordEvent.LEGACY_CONFIRMATION)
    attestation_id = models.CharField(max_length=64, blank=True, help_text="Microsoft's attestation id.")
    signatory_company = models.CharField(max_length=200, blank=True)
    authority_declared = models.BooleanField(
        null=True, blank=True, help_text="The submitter declared the signatory's authority to accept."
    )
    link_expires_at = models.DateTimeField(null=True, blank=True)
    microsoft_answer = models.TextField(blank=True, help_text="Microsoft's answer for this step, as JSON.")

    # What triggered it.
    order_number = models.CharField(max_length=20, blank=True)
    subscription_ref = models.CharField(max_length=64, blank=True)
    operation = models.CharField(max_length=20, choices=Operation.choices, blank=True)

    evidence_class = models.CharField(max_length=30, choices=EvidenceClass.choices)
    log_sufficient_as_proof = models.BooleanField(
        help_text="First-party acceptances: the log alone proves it (see the FAQ's proof answer)."
    )

    objects = AcceptanceRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-sequence"]
        get_latest_by = "sequence"
        permissions = [
            ("export_acceptancerecord", "Can export acceptance records"),
            ("verify_acceptance_log", "Can verify the acceptance log chain"),
        ]
        # Each index serves a query (docs/benchmarks.md, "Storage per record, and the index each query uses";
        # `python -m benchmarks indexes` shows the plans at 1M records). Also indexed: sequence (every list's order,
        # verification), created_at (date ranges), idempotency_key (the replay check), account and reseller (their
        # filters and scoping); the search columns have trigram indexes (migration 0003). Lists are ordered by
        # sequence, so the filters' indexes need no second column: they serve the admin's counts, as index-only
        # scans.
        indexes = [
            models.Index(fields=["channel"], name="mca_record_channel"),
            models.Index(fields=["evidence_class"], name="mca_record_evidence"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
            pgtrigger.Trigger(
                name="no_truncate",
                operation=pgtrigger.Truncate,
                level=pgtrigger.Statement,
                when=pgtrigger.Before,
                func="RAISE EXCEPTION 'mca: acceptance records cannot be truncated'; RETURN NULL;",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.account_name} ({self.created_at:%Y-%m-%d %H:%M})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError("Acceptance records cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError("Acceptance records cannot be deleted.")

    @property
    def confirmer(self) -> str:
        """Who, with the role in brackets when there is one (a system step such as "Partner Center" has none)."""
        role = self.get_actor_role_display()
        return f"{self.actor_display_name} ({role})" if role else self.actor_display_name


class ChainHead(models.Model):
    """The end of the hash chain; appends lock this one row, so the chain stays linear under concurrency."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="chainhead_singleton")]

    def __str__(self) -> str:
        return f"chain head at #{self.last_sequence}"


class AcceptanceDelivery(models.Model):
    """Delivery of one record to Partner Center (R10): an outbox row, outside the immutable table."""

    record = models.OneToOneField(AcceptanceRecord, on_delete=models.PROTECT, related_name="delivery")
    account = models.ForeignKey("bss.Account", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=10, choices=DeliveryState.choices)
    # Microsoft's idempotency key: the same value on every retry of this delivery.
    request_id = models.UUIDField(unique=True)
    tenant_id = models.CharField(max_length=36, blank=True, help_text="The tenant it was sent to.")
    template_id = models.CharField(max_length=64, blank=True, help_text="The template it was sent with.")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    already_confirmed = models.BooleanField(
        default=False, help_text="Partner Center answered 600061: an identical confirmation already existed."
    )
    response = models.JSONField(null=True, blank=True, help_text="Partner Center's answer, as received.")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "acceptance deliveries"
        permissions = [("retry_delivery", "Can retry a failing delivery now")]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="mca_delivery_due")]

    def __str__(self) -> str:
        return f"delivery of #{self.record_id}: {self.get_state_display()}"


class AttestationQuerySet(models.QuerySet):
    """The one definition of which attestations are "the customer's current one" (gate, selectors, lists)."""

    def open(self) -> AttestationQuerySet:
        """Links still out with a signatory (being created, or waiting), whatever their expiry."""
        return self.filter(state__in=[AttestationState.CREATING, AttestationState.PENDING])

    def unsettled(self) -> AttestationQuerySet:
        """Neither replaced by a newer link nor accepted: open, or expired and not re-issued yet."""
        return self.exclude(state__in=[AttestationState.SUPERSEDED, AttestationState.ACCEPTED])

    def current_for(self, key: str) -> Attestation | None:
        """The customer's current attestation (knowledge key `key`, R2): its newest one, unless that one was
        replaced, withdrawn (signatory changed, link cancelled) or accepted — then None: an older link never comes
        back as the customer's current one."""
        latest = self.filter(key=key).order_by("-created_at", "-pk").first()
        if latest is None or latest.state in (AttestationState.SUPERSEDED, AttestationState.ACCEPTED):
            return None
        return latest


class Attestation(models.Model):
    """One enhanced attestation's progress (mutable state, outside the log): the link Microsoft issued for the
    customer's signatory, until the signatory accepts or the link expires. Each step also writes a log record."""

    account = models.ForeignKey("bss.Account", on_delete=models.PROTECT, related_name="attestations")
    # The knowledge key (R2) it settles: moved to the tenant key with the account's knowledge.
    key = models.CharField(max_length=64, db_index=True)
    # The form submission it answers; a re-issued link is a new attestation for the same submission.
    form_record = models.ForeignKey(AcceptanceRecord, on_delete=models.PROTECT, related_name="attestations")
    state = models.CharField(max_length=10, choices=AttestationState.choices, default=AttestationState.CREATING)
    # Microsoft's idempotency key for creating it: the same on every retry.
    request_id = models.UUIDField(unique=True)
    attestation_id = models.CharField(max_length=64, blank=True, db_index=True)
    acceptance_url = models.URLField(max_length=1000, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    signatory_name = models.CharField(max_length=201)
    signatory_email = models.EmailField()
    attempts = models.PositiveIntegerField(default=0)
    next_check_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AttestationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_check_at"], name="mca_attestation_due")]

    def __str__(self) -> str:
        return f"attestation for {self.signatory_name}: {self.get_state_display()}"

    @property
    def is_open(self) -> bool:
        return self.state in (AttestationState.CREATING, AttestationState.PENDING)

    @property
    def effective_state(self) -> AttestationState:
        """The state as of now: a pending link past its expiry is expired already (Microsoft says so at the next
        poll). The one place link expiry is judged."""
        state = AttestationState(self.state)
        if state == AttestationState.PENDING and self.expires_at is not None and self.expires_at <= timezone.now():
            return AttestationState.EXPIRED
        return state

    @property
    def is_waiting(self) -> bool:
        """Out with the signatory and still usable: orders wait for it."""
        return self.effective_state in (AttestationState.CREATING, AttestationState.PENDING)


class KnownTemplate(models.Model):
    """The last agreement template and document Partner Center named per type, country and language, so a record
    written while Partner Center is down still names what the person was shown (mutable, a cache in the database)."""

    agreement_type = models.CharField(max_length=50)
    country = models.CharField(max_length=2)
    language = models.CharField(max_length=10)
    template_id = models.CharField(max_length=64)
    version_rank = models.IntegerField(null=True, blank=True)
    document_link = models.URLField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agreement_type", "country", "language"], name="mca_known_template_key")
        ]

    def __str__(self) -> str:
        return f"{self.agreement_type} {self.country}/{self.language}: {self.template_id}"


class RecheckRun(models.Model):
    """One re-check of many customers at Partner Center (mca.recheck): planned once, asked in chunks by any number
    of workers, counted as answers are recorded. `throttled` counts questions put back for later (not final)."""

    source = models.CharField(max_length=20, help_text="What started it: command, beat, reconcile, bss.")
    max_age_days = models.FloatField(
        null=True, blank=True, help_text="Customers verified longer ago were included (empty: only unknown ones)."
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_progress_at = models.DateTimeField(null=True, blank=True)
    planned = models.PositiveIntegerField(default=0)
    asked = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    not_accepted = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    throttled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "re-check run"

    def __str__(self) -> str:
        return f"Re-check {self.pk} ({self.asked}/{self.planned})"

    @property
    def done(self) -> int:
        return self.accepted + self.not_accepted + self.unknown

    @property
    def progress_percent(self) -> int:
        return 100 if not self.planned else int(100 * self.done / self.planned)


class RecheckItem(models.Model):
    """One customer (one account per Partner Center tenant) in a run. Claimed by one worker at a time for
    MCA_RECHECK_CLAIM_SECONDS and answered once: a chunk delivered twice, or resumed after a worker was killed,
    never asks an answered customer again."""

    run = models.ForeignKey(RecheckRun, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey("bss.Account", on_delete=models.CASCADE, related_name="+")
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker claimed it to ask.")
    outcome = models.CharField(max_length=20, blank=True)  # a RecheckOutcome once answered; "" while to ask
    code = models.CharField(max_length=40, blank=True)  # the AcceptanceKind or ReasonCode of the answer
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "account"], name="mca_recheck_item_once_per_run")]
        indexes = [
            models.Index(fields=["run", "id"], condition=Q(outcome=""), name="mca_recheck_item_open"),
        ]

    def __str__(self) -> str:
        return f"Re-check {self.run_id}, account {self.account_id}: {self.outcome or 'to ask'}"


class AccountReadiness(models.Model):
    """The last computed MCA state of one account and what it would refuse (`mca.readiness`): a copy of what
    `states_for` and `predict_refusals` said at `computed_at`, so a portfolio of 100 000 accounts can be counted,
    filtered and paged in SQL. Pages show each listed row's state live; this table only counts and filters."""

    account = models.OneToOneField("bss.Account", on_delete=models.CASCADE, primary_key=True, related_name="readiness")
    state = models.CharField(max_length=10, db_index=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    refusals = models.PositiveIntegerField(default=0, help_text="Planned changes Microsoft would refuse.")
    first_refusal_on = models.DateField(null=True, blank=True, db_index=True)
    computed_at = models.DateTimeField(help_text="When this row last changed (a refresh rewrites changed rows only).")

    class Meta:
        verbose_name = "account readiness"
        verbose_name_plural = "account readiness"
        # The readiness page's "at risk" filter, alone or with a state (7 % of 100 000 accounts): an index-only scan
        # of the accounts at risk instead of reading every row of a state to drop the rest (issue 19).
        indexes = [
            models.Index(fields=["state", "account"], condition=Q(refusals__gt=0), name="readiness_at_risk_by_state")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.state}"
