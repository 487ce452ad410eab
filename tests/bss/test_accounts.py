"""Creating customers (bss.services.accounts): whose they are follows who creates them; others may not."""

import pytest
from django.core.exceptions import PermissionDenied

from bss.models import Account
from bss.services.accounts import create_customer

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("username", "reseller"), [("reseller", "contoso"), ("wl-bss", "fabrikam"), ("bss", None)])
def test_a_new_customer_belongs_to_its_creators_organisation(demo, demo_user, username, reseller):
    account = create_customer(actor=demo_user(username), name="Graphic Design Institute", country="US", language="en")
    assert (account.reseller.slug if account.reseller else None) == reseller
    assert not account.is_synced


def test_a_customer_user_may_not_create_customers_and_nothing_is_written(demo, demo_user):
    before = Account.objects.count()
    with pytest.raises(PermissionDenied):
        create_customer(actor=demo_user("customer"), name="Sneaky Ltd", country="US", language="en")
    assert Account.objects.count() == before
