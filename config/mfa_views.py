"""/accounts/mfa/: enrol an authenticator app (TOTP) or enter its code, then go on to where the user was going."""

from __future__ import annotations

import base64

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "Authenticator app"


class CodeForm(forms.Form):
    code = forms.RegexField(
        regex=r"^\d{6}$",
        label="Code from your authenticator app",
        error_messages={"invalid": "Enter the 6 digits your authenticator app shows."},
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else "/"


@login_required
def mfa(request: HttpRequest) -> HttpResponse:
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    enrolling = device is None
    if enrolling:
        # One pending device per user, kept until a code confirms it (so the secret shown stays the same).
        device, _ = TOTPDevice.objects.get_or_create(user=user, confirmed=False, defaults={"name": DEVICE_NAME})
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            if enrolling:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
            otp_login(request, device)
            return redirect(_next(request))
        form.add_error("code", "That code is not right (or too many tries: wait a moment and use the next code).")
    context = {"form": form, "next": _next(request), "enrolling": enrolling}
    if enrolling:
        context["secret"] = base64.b32encode(device.bin_key).decode("ascii")
        context["config_url"] = device.config_url
    return render(request, "registration/mfa.html", context, status=200 if form.is_bound is False else 400)
