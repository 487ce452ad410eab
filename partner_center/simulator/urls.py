"""Partner Center's real paths under the simulator root, plus `_control/` for tests and drills.

Mounted by config/urls.py at /simulator/partner-center/ where the simulator app is installed.
"""

from django.urls import path

from partner_center.simulator import views

app_name = "pc_simulator"

urlpatterns = [
    path("", views.root, name="root"),
    path("v1/agreements", views.agreements, name="agreements"),
    path(
        "v1/agreementtemplates/<str:template_id>/document",
        views.agreement_document,
        name="agreement-document",
    ),
    path("v1/attestations/enhanced", views.enhanced_attestations, name="enhanced-attestations"),
    path(
        "v1/attestations/enhanced/<str:attestation_id>",
        views.enhanced_attestation,
        name="enhanced-attestation",
    ),
    # The agreement document itself (Microsoft's document host in real life): display and expiring download links.
    path(
        "agreements/<str:template_id>/<str:country>/<str:language>",
        views.agreement_document_page,
        name="agreement-document-page",
    ),
    path(
        "agreements/<str:template_id>/<str:country>/<str:language>/download",
        views.agreement_document_page,
        {"download": True},
        name="agreement-document-download",
    ),
    # The hosted page a signatory opens (Microsoft's page in real life): no bearer token, no login.
    path("attestations/<str:attestation_id>/accept", views.attestation_accept_page, name="attestation-accept"),
    path("v1/customers", views.customers, name="customers"),
    path("v1/customers/<str:tenant_id>/agreements", views.customer_agreements, name="customer-agreements"),
    path(
        "v1/customers/<str:tenant_id>/directSignedMicrosoftCustomerAgreementStatus",
        views.direct_signed_status,
        name="direct-signed-status",
    ),
    path("v1/customers/<str:tenant_id>/orders", views.orders, name="orders"),
    path(
        "v1/customers/<str:tenant_id>/subscriptions/<str:subscription_id>",
        views.subscription,
        name="subscription",
    ),
    # Entra ID's token endpoint (login.microsoftonline.com in real life), for the token readiness check.
    path("login/<str:tenant_id>/oauth2/v2.0/token", views.token, name="token"),
    path("_control/tokens", views.control_tokens, name="control-tokens"),
    path("_control/faults", views.control_faults, name="control-faults"),
    path("_control/calls", views.control_calls, name="control-calls"),
    path("_control/templates", views.control_templates, name="control-templates"),
    path("_control/customers", views.control_customers, name="control-customers"),
    path(
        "_control/customers/<str:tenant_id>/direct-signed",
        views.control_direct_signed,
        name="control-direct-signed",
    ),
    path("_control/attestations", views.control_attestations, name="control-attestations"),
    path(
        "_control/attestations/<str:attestation_id>/accept",
        views.control_attestation_accept,
        name="control-attestation-accept",
    ),
    path(
        "_control/attestations/<str:attestation_id>/expire",
        views.control_attestation_expire,
        name="control-attestation-expire",
    ),
]
