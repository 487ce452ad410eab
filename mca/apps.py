from django.apps import AppConfig


class McaConfig(AppConfig):
    name = "mca"
    verbose_name = "MCA acceptance"
