"""Partners: the companies in a tenant's program, and the per-tenant list of partner types."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.tenancy.context import current_tenant
from loyalty.tenancy.models import Role, TenantOwnedModel


def account_manager_choices() -> Q:
    """Users who are active account managers of the current tenant (choices for Partner.account_manager)."""
    return Q(
        memberships__tenant=current_tenant(),
        memberships__role=Role.ACCOUNT_MANAGER,
        memberships__is_active=True,
    )


class PartnerType(TenantOwnedModel):
    """A kind of partner (distributor, reseller, installer, agent…), configurable per tenant."""

    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "code"], name="partner_type_code_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class Partner(TenantOwnedModel):
    """A company in the program."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        LEFT = "left", _("Left")

    external_id = models.CharField(max_length=100, help_text=_("The partner's id in the vendor's CRM."))
    name = models.CharField(max_length=200)
    partner_type = models.ForeignKey(PartnerType, on_delete=models.PROTECT, related_name="partners")
    region = models.CharField(max_length=100, blank=True)
    segment = models.CharField(max_length=100, blank=True)
    account_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_partners",
        limit_choices_to=account_manager_choices,
    )
    joined_at = models.DateField(default=timezone.localdate)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "external_id"], name="partner_external_id_unique_per_tenant")
        ]
        indexes = [
            models.Index(fields=["tenant", "account_manager"], name="partner_tenant_account_manager"),
            models.Index(fields=["tenant", "status"], name="partner_tenant_status"),
        ]

    def __str__(self) -> str:
        return self.name
