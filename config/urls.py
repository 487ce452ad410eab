"""The site's URLs. Each app's pages are included under their prefix; the API's routes live in api/urls.py."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from config import views
from config.mfa_views import mfa
from mca import views as mca_views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/mfa/", mfa, name="mfa"),
    path("admin/", admin.site.urls),
    path("mca/agreements/<str:template_id>/document/", mca_views.agreement_document, name="agreement-document"),
    path(".well-known/mca-log/", mca_views.log_publication, name="mca-log"),
    path(".well-known/mca-log/checkpoints/", mca_views.log_checkpoints, name="mca-log-checkpoints"),
    path(".well-known/mca-log/checkpoints/<str:name>", mca_views.log_checkpoint, name="mca-log-checkpoint"),
    path(".well-known/mca-log/links/", mca_views.log_links, name="mca-log-links"),
    path("store/", include("storefront.urls")),
    path("bss/", include("bss.urls")),
    path("api/v1/", include("api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from a URL of its own: no inline script for the CSP.
    # Swagger UI sets inline styles at run time: its page alone (with ReDoc's) allows them.
    path(
        "api/docs/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    # Our template: drf-spectacular's loads Google Fonts, and the docs must load nothing from a third party.
    # ReDoc's bundle (styled-components) adds <style> elements at run time, which take no nonce from outside the
    # bundle: this page and Swagger UI's allow inline styles (every other page only its nonce; docs/security.md).
    path(
        "api/redoc/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(
            SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")
        ),
        name="api-redoc",
    ),
]

# The Partner Center simulator is routed exactly where it is installed: local and test settings, or a
# production-settings deployment that chose PARTNER_CENTER_MODE=simulator. Live production answers 404.
if apps.is_installed("partner_center.simulator"):
    urlpatterns.append(path("simulator/partner-center/", include("partner_center.simulator.urls")))

# Styled error pages with the links each role can use (and a white-label store's brand inside its store).
handler403 = "storefront.errors.permission_denied"
handler404 = "storefront.errors.page_not_found"
