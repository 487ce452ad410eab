"""Storefront URLs: the CSP's store at /store/, a white-label reseller's at /store/<slug>/ (or at /store/ on its
own host). Every page exists in both; `Store.url` reverses in the current store."""

from django.urls import include, path

from storefront import views

store_patterns = [
    path("", views.CatalogView.as_view(), name="catalog"),
    path("cart/", views.CartView.as_view(), name="cart"),
    path("sign-in/", views.StoreSignInView.as_view(), name="sign-in"),
    path("sign-out/", views.StoreSignOutView.as_view(), name="sign-out"),
    path("checkout/", views.AccountStepView.as_view(), name="checkout-account"),
    path("checkout/service-details/", views.ServiceDetailsView.as_view(), name="checkout-service-details"),
    path("checkout/mca-status.json", views.McaStatusView.as_view(), name="checkout-mca-status"),
    path("checkout/review/", views.ReviewView.as_view(), name="checkout-review"),
    path("checkout/place-order/", views.PlaceOrderView.as_view(), name="checkout-place-order"),
    path("orders/", views.OrdersView.as_view(), name="orders"),
    path("orders/<str:number>/", views.OrderView.as_view(), name="order"),
    path("orders/<str:number>/status.json", views.OrderStatusView.as_view(), name="order-status"),
    path("subscriptions/", views.SubscriptionsView.as_view(), name="subscriptions"),
    path("agreements/", views.AgreementsView.as_view(), name="agreements"),
    path("agreements/status.json", views.AgreementsStatusView.as_view(), name="agreements-status"),
    path("agreements/<int:account_id>/signatory/", views.AgreementSignatoryView.as_view(), name="agreement-signatory"),
]

app_name = "storefront"
urlpatterns = [
    path("", include(store_patterns)),
    path("<slug:reseller_slug>/", include(store_patterns)),
]
