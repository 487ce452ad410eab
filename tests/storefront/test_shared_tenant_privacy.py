"""Issue 17, item 8: Alpine Ski House is one Microsoft customer managed by Contoso (indirect) and Fabrikam
(white-label). When Contoso's reseller user confirms, Fabrikam's customer learns that the agreement is accepted,
but not the name of another partner's user."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from bss.choices import Operation, Role
from bss.roles import grant_role
from mca import gate
from mca.attestation.legacy import confirm_acceptance
from tests.mca.helpers import context, form_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def confirmed_by_contoso(demo, demo_user):
    """Rita, Contoso's reseller user, confirms for Contoso's Alpine Ski House account."""
    confirm_acceptance(actor=demo_user("reseller"), account=demo["alpine-contoso"], data=form_data(), context=context())


@pytest.fixture
def fabrikam_customer(demo):
    user = get_user_model().objects.create_user("alpine-buyer", first_name="Anna", last_name="Lidman")
    grant_role(user, Role.CUSTOMER, account=demo["alpine-fabrikam"])
    return user


def test_the_reason_names_no_partner_user(demo, confirmed_by_contoso):
    decision = gate.check(demo["alpine-fabrikam"], [Operation.NEW_PURCHASE])
    assert not decision.needed
    assert "Rita" not in decision.reason and "Reseller user" in decision.reason


def test_fabrikams_customer_does_not_see_contosos_user_in_the_checkout(
    client, demo, confirmed_by_contoso, fabrikam_customer, add_to_cart
):
    client.force_login(fabrikam_customer)
    add_to_cart(store="/store/fabrikam/")
    client.get("/store/fabrikam/checkout/")
    page = client.get("/store/fabrikam/checkout/service-details/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "ccepted" in text and "Rita" not in text and "Reseller" in text


def test_the_customers_own_confirmation_still_names_the_customer(demo, demo_user):
    confirm_acceptance(actor=demo_user("customer"), account=demo["northwind"], data=form_data(), context=context())
    decision = gate.check(demo["northwind"], [Operation.NEW_PURCHASE])
    assert "Nancy Davolio" in decision.reason
