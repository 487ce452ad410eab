"""Reads of the acceptance domain that channels share (R12): what a user may see of the log and its progress.

Scoping is `Account.objects.visible_to(user)`'s: a customer sees its own account's records, a reseller user its
customers', white-label staff their reseller's customers', CSP staff everything.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from bss.models import Account
from mca.choices import AttestationState
from mca.models import AcceptanceRecord, Attestation


def records_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AcceptanceRecord]:
    """The acceptance log records `user` may read, newest first, with their delivery state joined."""
    visible = Account.objects.visible_to(user)
    return AcceptanceRecord.objects.filter(account__in=visible).select_related("delivery").order_by("-sequence")


def records_for_account(account: Account) -> QuerySet[AcceptanceRecord]:
    """One customer's whole story (every record, oldest first); scope the account with `visible_to` first."""
    return AcceptanceRecord.objects.filter(account=account).select_related("delivery").order_by("sequence")


def open_attestations_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Attestation]:
    """Acceptance links out with signatories (or expired and not replaced), for the accounts `user` may see."""
    visible = Account.objects.visible_to(user)
    return (
        Attestation.objects.filter(account__in=visible)
        .exclude(state__in=[AttestationState.SUPERSEDED, AttestationState.ACCEPTED])
        .select_related("account")
        .order_by("-created_at")
    )
