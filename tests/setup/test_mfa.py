"""Issue 17, attack 7: a second factor for the people who confirm on a customer's behalf, and for admins. With
MCA_REQUIRE_MFA on, such a user signed in with a password alone cannot confirm, execute, enter the admin or get an
API token; after enrolling an authenticator app and proving a code, they can."""

from __future__ import annotations

import base64

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.mfa import mfa_required_for
from demo.accounts import DEMO_PASSWORD
from mca.models import AcceptanceRecord

pytestmark = pytest.mark.django_db

MFA = "/accounts/mfa/"


@pytest.fixture
def mfa_on(settings):
    settings.MCA_REQUIRE_MFA = True


def code_for(device: TOTPDevice, shift: int = 0) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=shift):06d}"


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


@pytest.mark.parametrize(
    ("username", "needed"),
    [
        ("admin", True),
        ("bss", True),
        ("wl-bss", True),
        ("reseller", True),
        ("customer", False),
        ("wl-customer", False),
    ],
)
def test_who_needs_a_second_factor(demo_user, mfa_on, username, needed):
    assert mfa_required_for(demo_user(username)) is needed


def test_nobody_needs_it_when_the_setting_is_off(demo_user, settings):
    settings.MCA_REQUIRE_MFA = False
    assert not mfa_required_for(demo_user("admin"))


def test_a_reseller_without_a_verified_device_cannot_confirm(client, demo, demo_user, mfa_on):
    client.force_login(demo_user("reseller"))
    records = AcceptanceRecord.objects.count()
    response = client.get("/store/checkout/service-details/")
    assert response.status_code == 302 and response.url.startswith(f"{MFA}?next=")
    api = client.post(
        f"/api/v1/accounts/{demo['litware'].pk}/mca/acceptances/",
        {"first_name": "Rita", "accepted": True},
        content_type="application/json",
    )
    assert api.status_code == 403 and api.json()["code"] == "mfa_required"
    assert AcceptanceRecord.objects.count() == records


def test_a_bss_user_without_a_verified_device_cannot_execute(client, demo, demo_user, mfa_on):
    client.force_login(demo_user("bss"))
    records = AcceptanceRecord.objects.count()
    for path in ("/bss/", "/bss/orders/SO-DEMO-0001/execute/"):
        response = client.post(path, {"accepted": "on"})
        assert response.status_code == 302 and response.url.startswith(MFA), path
    assert AcceptanceRecord.objects.count() == records


def test_an_admin_without_a_verified_device_cannot_enter_the_admin(client, demo_user, mfa_on):
    client.force_login(demo_user("admin"))
    response = client.get("/admin/")
    assert response.status_code == 302 and response.url == f"{MFA}?next=%2Fadmin%2F"


def test_a_customer_is_not_asked(client, demo_user, mfa_on):
    client.force_login(demo_user("customer"))
    assert client.get("/store/").status_code == 200


def test_enrol_then_confirm_then_the_store_opens(client, demo_user, mfa_on):
    user = demo_user("reseller")
    client.force_login(user)
    page = client.get(f"{MFA}?next=/store/")
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    assert page.status_code == 200 and secret in page.content.decode()
    assert secret in client.get(f"{MFA}?next=/store/").content.decode()  # the same key until confirmed
    assert TOTPDevice.objects.filter(user=user).count() == 1
    wrong = client.post(MFA, {"code": "000000" if code_for(device) != "000000" else "111111", "next": "/store/"})
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    assert client.get("/store/").status_code == 302
    device.refresh_from_db()
    device.throttle_reset()  # the wrong try above delays the next one (django-otp's throttling)
    response = client.post(MFA, {"code": code_for(device), "next": "/store/"})
    assert response.status_code == 302 and response.url == "/store/"
    assert TOTPDevice.objects.get(user=user).confirmed
    assert client.get("/store/").status_code == 200


def test_a_user_with_a_device_enters_its_code(client, demo_user, mfa_on):
    user = demo_user("admin")
    device = confirmed_device(user)
    client.force_login(user)
    assert "Add this account to your app" not in client.get(MFA).content.decode()
    response = client.post(MFA, {"code": code_for(device), "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_the_next_page_stays_on_this_site(client, demo_user, mfa_on):
    user = demo_user("admin")
    device = confirmed_device(user)
    client.force_login(user)
    response = client.post(MFA, {"code": code_for(device), "next": "https://evil.example/"})
    assert response.url == "/"


def basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{DEMO_PASSWORD}".encode()).decode()


def test_the_api_token_needs_the_code_too(client, demo_user, mfa_on):
    device = confirmed_device(demo_user("reseller"))
    url = "/api/v1/auth/token/"
    refused = client.post(url, HTTP_AUTHORIZATION=basic("reseller"), content_type="application/json")
    assert refused.status_code == 403 and refused.json()["code"] == "mfa_required"
    wrong = client.post(
        url, HTTP_AUTHORIZATION=basic("reseller"), HTTP_X_OTP_TOKEN="12345x", content_type="application/json"
    )
    assert wrong.status_code == 403
    device.refresh_from_db()
    device.throttle_reset()
    given = client.post(
        url, HTTP_AUTHORIZATION=basic("reseller"), HTTP_X_OTP_TOKEN=code_for(device), content_type="application/json"
    )
    assert given.status_code == 201 and given.json()["token"]


def test_a_customer_gets_a_token_with_the_password_alone(client, demo_user, mfa_on):
    response = client.post("/api/v1/auth/token/", HTTP_AUTHORIZATION=basic("customer"), content_type="application/json")
    assert response.status_code == 201
