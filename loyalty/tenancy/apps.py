from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "loyalty.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy and identities"
