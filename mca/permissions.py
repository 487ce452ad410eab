"""R6, who may confirm acceptance for whom: one function that every channel calls."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import connections, router

from bss.models import ALL_ACCOUNTS, NO_ACCOUNT, OWN_ACCOUNT, RESELLER_ACCOUNTS, Account, account_scope

CONFIRM_PERMISSION = "bss.confirm_mca_acceptance"


def can_confirm_for(user: AbstractBaseUser | AnonymousUser, account: Account) -> bool:
    """A customer only for its own account, a reseller user only for its customers, BSS staff only within
    their organisation — and each only with the confirm permission. Scoping is `account_scope`'s (which
    `visible_to` applies), so every channel draws the same line."""
    if not user.is_authenticated or not user.has_perm(CONFIRM_PERMISSION):
        return False
    scope = account_scope(user)
    if scope.kind == NO_ACCOUNT or account.pk is None:
        return False
    # The same line as `visible_to(user).filter(pk=account.pk).exists()`, one fixed statement per scope (building
    # that query through the ORM was about a tenth of a confirmation's client CPU, issue 20).
    connection = connections[router.db_for_read(Account)]
    with connection.cursor() as cursor:
        if scope.kind == ALL_ACCOUNTS:
            cursor.execute(_EXISTS_SQL, [account.pk])
        else:
            cursor.execute(_EXISTS_IN_SCOPE_SQL[scope.kind], [account.pk, scope.value])
        return cursor.fetchone() is not None


_TABLE, _PK = Account._meta.db_table, Account._meta.pk.column
_RESELLER = Account._meta.get_field("reseller").column
_EXISTS_SQL = f"SELECT 1 FROM {_TABLE} WHERE {_PK} = %s LIMIT 1"  # noqa: S608 - the model's names
_EXISTS_IN_SCOPE_SQL = {
    RESELLER_ACCOUNTS: f"SELECT 1 FROM {_TABLE} WHERE {_PK} = %s AND {_RESELLER} = %s LIMIT 1",  # noqa: S608
    OWN_ACCOUNT: f"SELECT 1 FROM {_TABLE} WHERE {_PK} = %s AND {_PK} = %s LIMIT 1",  # noqa: S608
}


def ensure_can_confirm(user: AbstractBaseUser | AnonymousUser, account: Account) -> None:
    if not can_confirm_for(user, account):
        raise PermissionDenied("You may not confirm the Microsoft Customer Agreement for this customer.")
