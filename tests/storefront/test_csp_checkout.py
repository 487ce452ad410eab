"""The checkout frames Microsoft's acceptance page: its Content-Security-Policy allows that page's origin, and only
on the page that embeds it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mca.models import Attestation
from tests.storefront.helpers import signatory_form
from tests.test_csp import policy

DETAILS = "/store/checkout/service-details/"


@pytest.fixture
def live(pc_simulator, demo, enhanced, settings):
    settings.PARTNER_CENTER_RETRY_BUDGET = 1.5
    settings.PARTNER_CENTER_READ_TIMEOUT = 2
    return demo


def test_the_checkout_may_frame_microsofts_page_and_no_other_page_may(client, live, demo_user, add_to_cart):
    client.force_login(demo_user("customer"))
    add_to_cart()
    client.get("/store/checkout/")
    assert policy(client.get(DETAILS))["frame-src"] == ["'self'"]
    client.post(DETAILS, signatory_form())
    response = client.get(DETAILS)
    link = urlsplit(Attestation.objects.get().acceptance_url)
    origin = f"{link.scheme}://{link.netloc}"
    assert f'<iframe src="{link.geturl()}"' in response.content.decode()
    assert origin != "http://testserver"  # another origin than the page's: 'self' alone would block it
    assert policy(response)["frame-src"] == ["'self'", origin]
    assert policy(client.get("/store/"))["frame-src"] == ["'self'"]
