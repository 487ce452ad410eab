from django.apps import AppConfig


class BssConfig(AppConfig):
    name = "bss"
    verbose_name = "BSS"

    def ready(self) -> None:
        from bss.services.execution import release_on_acceptance
        from mca.signals import acceptance_known

        # Orders held in "awaiting acceptance" go on once Microsoft reports the customer's acceptance.
        acceptance_known.connect(release_on_acceptance, dispatch_uid="bss.release_held_orders")
