from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class TenancyConfig(AppConfig):
    name = "loyalty.tenancy"
    label = "tenancy"
    verbose_name = _("Tenancy and identities")

    def ready(self) -> None:
        from loyalty.tenancy import caching, rls, signals

        # Row-level security on PostgreSQL (docs/tenancy.md): policies after migrate, the context on every connection.
        post_migrate.connect(rls.policies_install, sender=self, dispatch_uid="tierline_rls_policies")
        connection_created.connect(rls.context_setter_install, dispatch_uid="tierline_rls_context")
        signals.connect()
        caching.deletes_connect()  # cascades and SET_NULL bump the cached rows' families (caching.py)
