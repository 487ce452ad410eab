"""Issue 17, item 8: a company name that passes for another ("Lіtware" with a Cyrillic і) is refused at the store's
checkout, with the same check as the acceptance form's names (mca.forms.look_alike_problem), and nothing is written."""

from __future__ import annotations

import pytest

from bss.models import Account
from mca.models import AcceptanceRecord, Attestation
from tests.storefront.helpers import signatory_form

pytestmark = pytest.mark.django_db

LOOK_ALIKE = "L\u0456tware"  # Cyrillic і (U+0456) in a Latin word
STYLED = "\U0001d40b\U0001d422\U0001d42d\U0001d430\U0001d41a\U0001d42b\U0001d41e"  # 𝐋𝐢𝐭𝐰𝐚𝐫𝐞


@pytest.mark.parametrize("name", [LOOK_ALIKE, STYLED])
def test_a_new_customer_with_a_look_alike_name_is_refused(client, demo, demo_user, add_to_cart, name):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    before = Account.objects.count()
    response = client.post("/store/checkout/", {"action": "create", "name": name, "country": "US", "language": "en-US"})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="id_name_errors"' in body and ("mixes Cyrillic and Latin letters" in body or "Use plain letters" in body)
    assert Account.objects.count() == before


def test_plain_names_in_other_scripts_still_pass(client, demo, demo_user, add_to_cart):
    client.force_login(demo_user("reseller"))
    add_to_cart()
    data = {"action": "create", "name": "Литвар Ltd", "country": "BG", "language": "en-US"}
    assert client.post("/store/checkout/", data).status_code == 302
    assert Account.objects.filter(name="Литвар Ltd").exists()


def test_a_look_alike_signatory_company_is_refused(client, demo, demo_user, enhanced, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    records = AcceptanceRecord.objects.count()
    response = client.post("/store/checkout/service-details/", signatory_form(company_name="N\u043erthwind Traders"))
    assert response.status_code == 400 and "mixes Cyrillic and Latin letters" in response.content.decode()
    assert AcceptanceRecord.objects.count() == records and not Attestation.objects.exists()
