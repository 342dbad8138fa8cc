"""Setting up a program's identity provider and signing in through it, for the single sign-on tests."""

from urllib.parse import urlsplit

from django.test import Client

from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import AuditEntry, Role
from sso.models import IdentityProvider
from tests.conftest import World
from tests.sso.idp import OidcProvider


def oidc_provider_for(world: World, idp: OidcProvider, *, host: str | None = None, **fields) -> IdentityProvider:
    """`world`'s program connected to the test provider (registered there as a client with our callback)."""
    slug = world.tenant.slug
    values = {
        "name": f"{slug.title()} Okta",
        "protocol": IdentityProvider.Protocol.OIDC,
        "issuer": idp.issuer,
        "client_id": f"tierline-{slug}",
        "client_secret": f"secret-of-{slug}",
        "allowed_domains": f"{slug}.test, partner.{slug}.test",
        "default_role": Role.PARTNER_USER,
        "default_partner": world.partner,
        **fields,
    }
    with tenant_context(world.tenant):
        provider = IdentityProvider(**values)
        provider.full_clean()
        provider.save()
    callback = f"/accounts/oidc/{provider.provider_id}/login/callback/"
    hosts = {world.host, host} - {None}
    idp.register_client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        redirect_uris=[f"http://{name}{callback}" for name in sorted(hosts)],
    )
    return provider


def oidc_start(client: Client, provider: IdentityProvider):
    """Press "Sign in with …": allauth redirects to the provider's authorization endpoint."""
    return client.post(f"/accounts/oidc/{provider.provider_id}/login/")


def oidc_sign_in(world: World, provider: IdentityProvider, idp: OidcProvider, email: str, **claims) -> tuple:
    """The whole round trip on `world`'s host: start, sign in at the provider, return to the callback."""
    client = Client(HTTP_HOST=world.host)
    response = oidc_start(client, provider)
    assert response.status_code == 302, response.content[:500]
    assert response["Location"].startswith(f"{idp.issuer}/authorize/")
    callback = urlsplit(idp.authorize(response["Location"], email=email, **claims))
    assert callback.hostname == world.host
    return client, client.get(f"{callback.path}?{callback.query}")


def security_log(world: World) -> list[str]:
    with tenant_context(world.tenant):
        return list(
            AuditEntry.objects.filter(category__in=[AuditEntry.Category.SIGN_IN, AuditEntry.Category.ROLES])
            .order_by("pk")
            .values_list("summary", flat=True)
        )
