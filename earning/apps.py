from django.apps import AppConfig


class EarningConfig(AppConfig):
    name = "earning"
    label = "earning"
    verbose_name = "Earning rules"
