from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from mca import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("mca/agreements/<str:template_id>/document/", views.agreement_document, name="agreement-document"),
    path("store/", include("storefront.urls")),
    path("bss/", include("bss.urls")),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
]

# The Partner Center simulator exists only in simulator mode; production (live) never routes to it.
if settings.PARTNER_CENTER_SIMULATOR_ENABLED:
    urlpatterns.append(path("simulator/partner-center/", include("partner_center.simulator.urls")))
