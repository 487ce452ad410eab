from django.apps import AppConfig


class BssConfig(AppConfig):
    name = "bss"
    verbose_name = "BSS"
