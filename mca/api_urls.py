from django.urls import path

from bss import api

urlpatterns = [
    path("accounts/", api.AccountList.as_view(), name="api-account-list"),
]
