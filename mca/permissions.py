"""R6, who may confirm acceptance for whom: one function that every channel calls."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied

from bss.models import Account

CONFIRM_PERMISSION = "bss.confirm_mca_acceptance"


def can_confirm_for(user: AbstractBaseUser | AnonymousUser, account: Account) -> bool:
    """A customer only for its own account, a reseller user only for its customers, BSS staff only within
    their organisation — and each only with the confirm permission. Scoping is `visible_to`'s, so every
    channel draws the same line."""
    if not user.is_authenticated or not user.has_perm(CONFIRM_PERMISSION):
        return False
    return Account.objects.visible_to(user).filter(pk=account.pk).exists()


def ensure_can_confirm(user: AbstractBaseUser | AnonymousUser, account: Account) -> None:
    if not can_confirm_for(user, account):
        raise PermissionDenied("You may not confirm the Microsoft Customer Agreement for this customer.")
