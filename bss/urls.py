from django.urls import path

from bss import views

app_name = "bss"
urlpatterns = [
    path("", views.index, name="index"),
    path("orders/", views.order_list, name="order-list"),
    path("orders/<str:number>/", views.order_detail, name="order-detail"),
    path("orders/<str:number>/status.json", views.order_status, name="order-status"),
    path("orders/<str:number>/execute/", views.order_execute, name="order-execute"),
    path("orders/<str:number>/retry/", views.order_retry, name="order-retry"),
    path("orders/<str:number>/hold/", views.order_hold, name="order-hold"),
    path("accounts/", views.account_list, name="account-list"),
    path("accounts/<int:pk>/", views.account_detail, name="account-detail"),
    path("accounts/<int:pk>/status.json", views.account_status, name="account-status"),
    path("accounts/<int:pk>/check-now/", views.account_check_now, name="account-check-now"),
    path("accounts/<int:pk>/direct-link/", views.account_direct_link, name="account-direct-link"),
    path("accounts/<int:pk>/send-link/", views.account_send_link, name="account-send-link"),
    path("accounts/<int:pk>/cancel-link/", views.account_cancel_link, name="account-cancel-link"),
    path("accounts/<int:pk>/signatory/", views.account_signatory, name="account-signatory"),
    path("accounts/<int:pk>/subscriptions/new/", views.subscription_new, name="subscription-new"),
    path("subscriptions/", views.subscription_list, name="subscription-list"),
    path("subscriptions/<int:pk>/", views.subscription_detail, name="subscription-detail"),
    path("subscriptions/<int:pk>/renew/", views.subscription_renew, name="subscription-renew"),
    path("subscriptions/<int:pk>/cancel/", views.subscription_cancel, name="subscription-cancel"),
    path("acceptances/", views.acceptance_list, name="acceptance-list"),
    path("mca/", views.readiness_page, name="readiness"),
    path("mca/export.csv", views.readiness_csv, name="readiness-csv"),
    path("campaigns/", views.campaign_list, name="campaign-list"),
    path("campaigns/new/", views.campaign_new, name="campaign-new"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign-detail"),
    path("campaigns/<int:pk>/extend/", views.campaign_extend, name="campaign-extend"),
    path("campaigns/<int:pk>/bounce/", views.campaign_bounce, name="campaign-bounce"),
    path("campaigns/<int:pk>/check/", views.campaign_check, name="campaign-check"),
]
