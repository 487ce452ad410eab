"""Site pages that belong to no single app."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bss.models import Reseller


def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "home.html",
        {
            "white_label_resellers": Reseller.objects.filter(is_white_label=True),
            "simulator_enabled": settings.PARTNER_CENTER_SIMULATOR_ENABLED,
        },
    )
