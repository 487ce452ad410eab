"""Token readiness (partner_center.readiness): `partner_center_check` and the BSS banner, against the simulator's
token endpoint issuing tokens with or without MFA, or refusing."""

import io

import pytest
import requests
from django.core.management import CommandError, call_command
from django.urls import reverse

from partner_center.readiness import cached_readiness, check_tokens, simulator_token_url, token_claims


def set_tokens(simulator, **modes) -> None:
    answer = requests.post(f"{simulator.base_url}/_control/tokens", json=modes, timeout=10)
    assert answer.status_code == 200, answer.text


def run_check() -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("partner_center_check", stdout=out)
    except CommandError as error:
        return out.getvalue(), error
    return out.getvalue(), None


def test_ok_both_tokens_obtained_with_mfa(pc_simulator):
    text, error = run_check()
    assert error is None
    assert "App-only token: obtained" in text
    assert "App+User token: obtained, carries MFA" in text
    assert "Tokens ready." in text
    assert cached_readiness().ok


def test_app_user_token_without_mfa_fails_the_check(pc_simulator):
    set_tokens(pc_simulator, app_user="no_mfa")
    text, error = run_check()
    assert error is not None and "not ready" in str(error)
    assert "App+User token: obtained, WITHOUT MFA" in text and "partner_center_login" in text
    assert "App-only token: obtained" in text


def test_refused_tokens_name_entra_ids_error(pc_simulator):
    set_tokens(pc_simulator, app_only="fail", app_user="fail")
    text, error = run_check()
    assert error is not None
    assert "App-only token: NOT obtained" in text and "invalid_client (AADSTS 7000215)" in text
    assert "App+User token: NOT obtained" in text and "invalid_grant (AADSTS 700082)" in text
    assert "simulator-refresh-token" not in text  # the refresh token is a secret: redacted or absent


def test_unreachable_token_endpoint_is_a_failure_not_a_crash(settings):
    settings.PARTNER_CENTER_BASE_URL = "http://127.0.0.1:9/simulator/partner-center"  # nothing listens there
    readiness = check_tokens()
    assert not readiness.ok
    assert all(not check.obtained for check in readiness.checks)


def test_the_simulator_issues_the_amr_claim_chosen(pc_simulator):
    set_tokens(pc_simulator, app_user="no_mfa")
    form = {"grant_type": "refresh_token", "refresh_token": "x", "scope": "s"}
    answer = requests.post(simulator_token_url(), data=form, timeout=10).json()
    assert token_claims(answer["access_token"])["amr"] == ["pwd"]
    bad = requests.post(f"{pc_simulator.base_url}/_control/tokens", json={"app_user": "maybe"}, timeout=10)
    assert bad.status_code == 400


@pytest.mark.django_db
def test_banner_is_shown_to_bss_staff_from_the_cache(client, demo_user, settings, pc_simulator):
    set_tokens(pc_simulator, app_user="no_mfa")
    check_tokens()
    settings.PARTNER_CENTER_BASE_URL = "http://127.0.0.1:9/nothing"  # a page view must not ask for a token
    for username in ("bss", "wl-bss"):
        client.force_login(demo_user(username))
        page = client.get(reverse("bss:index")).content.decode()
        assert "Partner Center tokens not ready" in page and "WITHOUT MFA" in page, username


@pytest.mark.django_db
def test_banner_says_not_checked_yet_without_a_check(client, demo_user):
    client.force_login(demo_user("bss"))
    page = client.get(reverse("bss:index")).content.decode()
    assert "Partner Center tokens: not checked yet" in page


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["customer", "reseller", "wl-customer"])
def test_banner_is_not_shown_outside_the_bss_staff(client, demo_user, username, pc_simulator):
    check_tokens()
    client.force_login(demo_user(username))
    assert client.get(reverse("bss:index")).status_code == 403
    home = client.get("/").content.decode()
    assert "Partner Center tokens" not in home
