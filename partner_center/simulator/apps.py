from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "partner_center.simulator"
    label = "pc_simulator"
    verbose_name = "Partner Center simulator"
