"""Account.objects.visible_to: the one place that decides which accounts a user sees, for every role."""

import pytest
from django.contrib.auth.models import AnonymousUser

from bss.choices import Role
from bss.models import Account
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ALL = {
    "Northwind Traders",
    "Adventure Works",
    "Litware",
    "Wide World Importers",
    "Tailspin Toys",
    "Alpine Ski House",
    "Coho Winery",
    "Fourth Coffee",
    "Blue Yonder Airlines",
    "Proseware",
    "Woodgrove Bank",
    "Trey Research",
    "Lucerne Publishing",
}


def names(user) -> list[str]:
    return sorted(Account.objects.visible_to(user).values_list("name", flat=True))


@pytest.mark.parametrize("username", ["admin", "bss"])
def test_csp_staff_see_every_account(demo_user, username):
    assert set(names(demo_user(username))) == ALL
    assert len(names(demo_user(username))) == len(ALL) + 1  # Alpine Ski House is two accounts


def test_reseller_user_sees_only_its_customers(demo_user):
    assert names(demo_user("reseller")) == [
        "Adventure Works",
        "Alpine Ski House",
        "Litware",
        "Proseware",
        "Wide World Importers",
    ]


def test_white_label_staff_see_only_their_resellers_customers(demo_user):
    assert names(demo_user("wl-bss")) == ["Alpine Ski House", "Tailspin Toys", "Trey Research"]


def test_customer_sees_only_its_own_account(demo_user):
    assert names(demo_user("customer")) == ["Northwind Traders"]
    assert names(demo_user("wl-customer")) == ["Tailspin Toys"]


def test_two_resellers_accounts_of_one_tenant_stay_separate(demo, demo_user):
    contoso = Account.objects.visible_to(demo_user("reseller")).get(name="Alpine Ski House")
    fabrikam = Account.objects.visible_to(demo_user("wl-bss")).get(name="Alpine Ski House")
    assert contoso.pk != fabrikam.pk
    assert contoso.partner_center_tenant_id == fabrikam.partner_center_tenant_id


def test_anonymous_user_without_role_and_inactive_user_see_nothing(demo, demo_user):
    assert names(AnonymousUser()) == []
    nobody = UserFactory()
    nobody.save()
    assert names(nobody) == []
    customer = demo_user("customer")
    customer.is_active = False
    assert names(customer) == []


def test_role_change_changes_scope(demo, demo_user):
    from bss.roles import grant_role

    user = demo_user("reseller")
    grant_role(user, Role.CUSTOMER, account=demo["litware"])
    user.refresh_from_db()
    user = type(user).objects.get(pk=user.pk)
    assert names(user) == ["Litware"]
    assert not user.is_staff
