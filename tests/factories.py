"""factory_boy factories. Tenant-owned factories create their rows inside their tenant's context."""

import time
from datetime import timedelta
from typing import Any

import factory
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from allauth.mfa.utils import decrypt
from django.utils import timezone

from loyalty.ledger.models import EntryKind, LedgerEntry, PointsAccount
from loyalty.tenancy.context import current_tenant, tenant_context
from loyalty.tenancy.models import PROGRAM_ROLES, Domain, Invitation, Membership, Role, Tenant, User
from partners.models import Partner, PartnerType

PASSWORD = "correct-horse-battery-staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"vendor{n}")
    name = factory.LazyAttribute(lambda tenant: f"{tenant.slug.title()} Program")


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain

    tenant = factory.SubFactory(TenantFactory)
    domain = factory.Sequence(lambda n: f"partners{n}.vendor.test")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["email"]
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified_email(user: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            user.save()
            EmailAddress.objects.get_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )


class TenantOwnedFactory(factory.django.DjangoModelFactory):
    class Meta:
        abstract = True

    tenant = factory.LazyFunction(current_tenant)

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        with tenant_context(kwargs["tenant"]):
            return super()._create(model_class, *args, **kwargs)


class PartnerTypeFactory(TenantOwnedFactory):
    class Meta:
        model = PartnerType

    code = factory.Sequence(lambda n: f"type{n}")
    name = factory.LazyAttribute(lambda partner_type: partner_type.code.title())


class PartnerFactory(TenantOwnedFactory):
    class Meta:
        model = Partner

    external_id = factory.Sequence(lambda n: f"CRM-{n:05d}")
    name = factory.Faker("company")
    partner_type = factory.SubFactory(PartnerTypeFactory, tenant=factory.SelfAttribute("..tenant"))
    region = "EMEA"


class MembershipFactory(TenantOwnedFactory):
    class Meta:
        model = Membership
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    role = Role.PARTNER_USER
    partner = factory.Maybe(
        factory.LazyAttribute(lambda membership: membership.role in {Role.PARTNER_USER, Role.PARTNER_ADMIN}),
        yes_declaration=factory.SubFactory(PartnerFactory, tenant=factory.SelfAttribute("..tenant")),
        no_declaration=None,
    )

    @factory.post_generation
    def totp(membership: Membership, create: bool, extracted: bool | None, **kwargs: Any) -> None:
        """Owners and program managers must have TOTP (settings.MFA_REQUIRED): they get it unless `totp=False`."""
        wanted = membership.role in PROGRAM_ROLES if extracted is None else extracted
        if (
            create
            and wanted
            and not Authenticator.objects.filter(user=membership.user, type=Authenticator.Type.TOTP).exists()
        ):
            TOTP.activate(membership.user, generate_totp_secret())


def totp_secret(user: User) -> str:
    """The base32 secret of `user`'s TOTP authenticator, to compute codes as their phone would."""
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    return decrypt(authenticator.data["secret"])


def totp_now(secret: str) -> str:
    """The code an authenticator app shows for `secret` right now."""
    return format_hotp_value(hotp_value(secret, int(time.time()) // mfa_settings.TOTP_PERIOD))


class InvitationFactory(TenantOwnedFactory):
    class Meta:
        model = Invitation

    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.PROGRAM_MANAGER
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


def unposted_entry(
    *,
    account: PointsAccount,
    idempotency_key: str,
    tenant: Tenant | None = None,
    kind: str = EntryKind.ADJUST,
    points: int = 1,
    balance_after: int = 1,
    **fields: Any,
) -> LedgerEntry:
    """A ledger entry built past the posting service, for `bulk_create` (as a bulk writer would): in the account's
    tenant unless another is given, outside the hash chain (`ledger_verify` would flag it; the pages never re-check
    the chain)."""
    return LedgerEntry(
        tenant_id=tenant.pk if tenant else account.tenant_id,
        account=account,
        kind=kind,
        points=points,
        balance_after=balance_after,
        idempotency_key=idempotency_key,
        entry_hash="0" * 64,
        **fields,
    )
