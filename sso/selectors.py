"""Reads of the current program's identity providers."""

from sso.models import PROVIDER_ID_PREFIX, IdentityProvider


def identity_providers_active() -> list[IdentityProvider]:
    """The current tenant's active identity providers, by name."""
    return list(IdentityProvider.objects.filter(is_active=True))


def identity_provider_for(*, provider_id: str) -> IdentityProvider | None:
    """The current tenant's active provider behind allauth's `provider_id` ("sso-12"); None for another tenant's."""
    number = provider_id.removeprefix(PROVIDER_ID_PREFIX)
    if not provider_id.startswith(PROVIDER_ID_PREFIX) or not number.isdigit():
        return None
    return IdentityProvider.objects.filter(pk=int(number), is_active=True).first()


def sso_required_for_staff() -> bool:
    """Whether the current program lets its staff in only through one of its identity providers."""
    return IdentityProvider.objects.filter(is_active=True, required_for_staff=True).exists()
