from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "loyalty.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy and identities"

    def ready(self) -> None:
        from loyalty.tenancy import signals

        signals.connect()
