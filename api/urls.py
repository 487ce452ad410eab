"""/api/v1/: every flow machine to machine (the schema is at /api/schema/, the docs at /api/docs/)."""

from django.urls import path, re_path

from api import views

app_name = "api"

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("accounts/", views.AccountList.as_view(), name="account-list"),
    path("accounts/<int:pk>/", views.AccountDetail.as_view(), name="account-detail"),
    path("accounts/<int:pk>/mca/", views.AccountMcaView.as_view(), name="account-mca"),
    path("accounts/<int:pk>/mca/acceptances/", views.AcceptanceCreateView.as_view(), name="account-mca-acceptances"),
    path("accounts/<int:pk>/mca/resend-link/", views.ResendLinkView.as_view(), name="account-mca-resend-link"),
    path("mca/acceptances/", views.AcceptanceLogList.as_view(), name="acceptance-list"),
    path("mca/acceptances/<int:pk>/", views.AcceptanceLogDetail.as_view(), name="acceptance-detail"),
    path("products/", views.ProductList.as_view(), name="product-list"),
    path("orders/", views.OrderListCreate.as_view(), name="order-list"),
    path("orders/<int:pk>/", views.OrderDetail.as_view(), name="order-detail"),
    path("orders/<int:pk>/execute/", views.OrderExecute.as_view(), name="order-execute"),
    path("subscriptions/", views.SubscriptionList.as_view(), name="subscription-list"),
    path("subscriptions/<int:pk>/", views.SubscriptionDetail.as_view(), name="subscription-detail"),
    # Anything else under /api/v1/ (an unknown path, an id that is not a number) is a problem, not an HTML page.
    re_path(r"^.*$", views.not_found, name="not-found"),
]
