"""Demo single sign-on: each program's partner company has an identity provider set up, but switched off (the demo
has no identity provider to talk to), so staff see in the admin what a configured one looks like."""

from loyalty.tenancy.models import Role
from partners.models import Partner
from sso.models import IdentityProvider


def seed_identity_provider(*, partner: Partner, domain: str) -> None:
    IdentityProvider.objects.get_or_create(
        name=f"{partner.name} (Okta)",
        defaults={
            "protocol": IdentityProvider.Protocol.OIDC,
            "is_active": False,
            "issuer": f"https://login.{domain}/oauth2/default",
            "client_id": "tierline-demo",
            "client_secret": "demo-secret-not-used",
            "allowed_domains": domain,
            "default_role": Role.PARTNER_USER,
            "default_partner": partner,
            "role_claim": "tierline_role",
            "role_values": {"channel-admin": Role.PARTNER_ADMIN, "channel-sales": Role.PARTNER_USER},
        },
    )
