"""Issue 17, attack 7: brute force on every login path. 150 wrong passwords, then the right one: refused, with a
message that says the user name is locked; staff unlock it and the right password works again."""

from __future__ import annotations

import base64
import io

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.urls import reverse

from demo.accounts import DEMO_PASSWORD

pytestmark = pytest.mark.django_db

WRONG_TRIES = 150
LOCKED_MESSAGE = "Too many failed sign-ins for “{}”"


def page_sign_in(client, url: str, username: str, password: str):
    return client.post(url, {"username": username, "password": password})


def api_sign_in(client, url: str, username: str, password: str, **body):
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return client.post(url, HTTP_AUTHORIZATION=f"Basic {credentials}", content_type="application/json", **body)


def api_sign_in_multipart(client, url: str, username: str, password: str):
    """A body the API cannot parse: once, a failure here answered 415 uncounted while the right password got 201."""
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    return client.post(url, {"x": "1"}, HTTP_AUTHORIZATION=f"Basic {credentials}")


PATHS = {
    "accounts": ("/accounts/login/", page_sign_in, "bss"),
    "admin": ("/admin/login/", page_sign_in, "admin"),
    "store": ("/store/sign-in/", page_sign_in, "customer"),
    "api-token": ("/api/v1/auth/token/", api_sign_in, "reseller"),
    "api-token-multipart": ("/api/v1/auth/token/", api_sign_in_multipart, "reseller"),
}


def signed_in(path: str, response) -> bool:
    if path == "/api/v1/auth/token/":
        return response.status_code in (200, 201)
    return response.status_code == 302  # each login page redirects once the password is accepted


@pytest.mark.parametrize("name", PATHS)
def test_150_wrong_passwords_then_the_right_one_is_refused(client, demo, name):
    url, sign_in, username = PATHS[name]
    for _ in range(WRONG_TRIES):
        sign_in(client, url, username, "wrong password")
    response = sign_in(client, url, username, DEMO_PASSWORD)
    assert not signed_in(url, response)
    assert response.status_code == 429
    text = response.json()["detail"] if url.startswith("/api/") else response.content.decode()
    assert LOCKED_MESSAGE.format(username) in text and "locked for 1 hour" in text
    if url.startswith("/api/"):
        assert response.json()["code"] == "account_locked"
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("name", PATHS)
def test_a_few_wrong_passwords_do_not_lock(client, demo, settings, name):
    url, sign_in, username = PATHS[name]
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(client, url, username, "wrong password")
    assert signed_in(url, sign_in(client, url, username, DEMO_PASSWORD))


def test_the_lock_is_per_user_name_not_for_everyone(client, demo, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page_sign_in(client, "/accounts/login/", "bss", "wrong password")
    assert page_sign_in(client, "/accounts/login/", "reseller", DEMO_PASSWORD).status_code == 302


def test_staff_unlock_with_the_command_and_the_right_password_works_again(client, demo, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page_sign_in(client, "/accounts/login/", "bss", "wrong password")
    assert page_sign_in(client, "/accounts/login/", "bss", DEMO_PASSWORD).status_code == 429
    call_command("axes_reset_username", "bss", stdout=io.StringIO())
    assert page_sign_in(client, "/accounts/login/", "bss", DEMO_PASSWORD).status_code == 302


def test_staff_unlock_in_the_setup_area(client, demo, demo_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        api_sign_in(client, "/api/v1/auth/token/", "reseller", "wrong password")
    [attempt] = AccessAttempt.objects.filter(username="reseller")
    admin = client.__class__()
    admin.force_login(demo_user("admin"))
    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200 and "reseller" in listing.content.decode()
    response = admin.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 302 and not AccessAttempt.objects.filter(username="reseller").exists()
    assert signed_in("/api/v1/auth/token/", api_sign_in(client, "/api/v1/auth/token/", "reseller", DEMO_PASSWORD))
