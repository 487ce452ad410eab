"""Customer accounts: the one way a channel creates one (the storefront's "new customer" step today)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction

from bss.choices import Role
from bss.models import Account, Membership

# Who creates customers, and whose they are: a reseller's users (indirect or white-label) their reseller's; CSP
# staff and administrators the CSP's direct customers. A customer user creates none.
RESELLER_ROLES = frozenset({Role.RESELLER, Role.WHITE_LABEL_BSS})
CSP_ROLES = frozenset({Role.CSP_BSS, Role.ADMIN})


def create_customer(*, actor: AbstractBaseUser, name: str, country: str, language: str) -> Account:
    """A new customer account of the actor's organisation (a reseller's customer, or a CSP direct customer). Not
    synced with Partner Center until its first Microsoft order is provisioned. Raises PermissionDenied for a user
    who may not create customers, and then writes nothing."""
    membership = Membership.of(actor)
    if membership is None or membership.role not in RESELLER_ROLES | CSP_ROLES:
        raise PermissionDenied("You may not create customers.")
    reseller = membership.reseller if membership.role in RESELLER_ROLES else None
    with transaction.atomic():
        return Account.objects.create(name=name, reseller=reseller, country=country, language=language)
