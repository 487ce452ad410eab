"""Roles and the Django permissions that come with them.

Each role is a Django group holding its permissions, so an operator can read and adjust them in the admin;
`grant_role` is the one way code gives a user a role.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db import transaction

from bss.choices import Role
from bss.models import Account, Membership, Reseller

# "app_label.codename" per role. Permissions of apps not installed yet are skipped, not invented.
_BSS_STAFF = (
    "bss.confirm_mca_acceptance",
    "bss.execute_order",
    "bss.view_account",
    "bss.view_order",
    "bss.view_subscription",
    "mca.view_acceptancerecord",
    "mca.export_acceptancerecord",
    # The setup area: deliveries (with "Retry now") and signatories' acceptance links, scoped like the records.
    "mca.view_acceptancedelivery",
    "mca.retry_delivery",
    "mca.view_attestation",
)
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    Role.CUSTOMER: ("bss.confirm_mca_acceptance",),
    Role.RESELLER: ("bss.confirm_mca_acceptance",),
    # Verifying the whole chain reads every customer's records: CSP staff only.
    Role.CSP_BSS: (*_BSS_STAFF, "mca.verify_acceptance_log"),
    Role.WHITE_LABEL_BSS: _BSS_STAFF,
    Role.ADMIN: (),
}
STAFF_ROLES = frozenset({Role.CSP_BSS, Role.WHITE_LABEL_BSS, Role.ADMIN})
GROUP_NAMES = {role: f"Role: {role.label}" for role in Role}


def role_group(role: Role) -> Group:
    """The group for a role, created with its permissions on first use."""
    group, _ = Group.objects.get_or_create(name=GROUP_NAMES[role])
    wanted = ROLE_PERMISSIONS[role]
    perms = []
    for dotted in wanted:
        app_label, codename = dotted.split(".", 1)
        perms.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
    group.permissions.set(perms)
    return group


@transaction.atomic
def grant_role(
    user: AbstractUser, role: Role, *, account: Account | None = None, reseller: Reseller | None = None
) -> Membership:
    """Give a user its one role in one organisation (replacing any previous one)."""
    membership, _ = Membership.objects.update_or_create(
        user=user, defaults={"role": role, "account": account, "reseller": reseller}
    )
    membership.full_clean()
    user.groups.remove(*Group.objects.filter(name__in=GROUP_NAMES.values()))
    user.groups.add(role_group(role))
    user.is_staff = role in STAFF_ROLES or user.is_superuser
    if role == Role.ADMIN:
        user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return membership
