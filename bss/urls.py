from django.urls import path

from bss import views

app_name = "bss"
urlpatterns = [
    path("", views.index, name="index"),
]
