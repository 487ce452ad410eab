from django.urls import path

from storefront import views

app_name = "storefront"
urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("<slug:reseller_slug>/", views.catalog, name="reseller-catalog"),
]
