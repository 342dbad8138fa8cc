"""Reads of tenants, hosts and memberships."""

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core import signing
from django.db.models import Exists, OuterRef

from loyalty.tenancy.caching import cached, host_key
from loyalty.tenancy.context import current_tenant, platform_context, tenant_left
from loyalty.tenancy.models import Invitation, Membership, Tenant, User

INVITATION_SALT = "tierline.invitation"


def is_platform_host(*, host: str) -> bool:
    """The bare base domain (and loopback addresses, for probes) serve the platform, not a tenant."""
    return host in {settings.BASE_DOMAIN, "127.0.0.1", "[::1]"}


def tenant_for_host(*, host: str) -> Tenant | None:
    """The active tenant that serves `host` (`<slug>.<BASE_DOMAIN>` or a custom domain), or None.

    Cached for a minute, or until a tenant, domain, membership or partner changes (loyalty/tenancy/caching.py).
    """
    host = host.lower().rstrip(".")
    suffix = f".{settings.BASE_DOMAIN}"
    if host.endswith(suffix):
        label = host[: -len(suffix)]
        if "." in label:
            return None
        tenant = cached(f"host:{host_key(host)}", lambda: Tenant.objects.filter(slug=label, is_active=True).first())
        if tenant is not None and tenant.slug != label:  # a key's collision, however unlikely: never another's
            tenant = Tenant.objects.filter(slug=label, is_active=True).first()
        return tenant
    return cached(f"host:{host_key(host)}", lambda: Tenant.objects.filter(domains__domain=host, is_active=True).first())


def tenant_base_url(*, tenant: Tenant) -> str:
    """The absolute URL of a tenant's site, for links in emails and tasks."""
    port = f":{settings.PUBLIC_PORT}" if settings.PUBLIC_PORT else ""
    return f"{settings.PUBLIC_SCHEME}://{tenant.slug}.{settings.BASE_DOMAIN}{port}"


def membership_for_user(*, user: User) -> Membership | None:
    """The user's active membership in the current tenant, with its partner; `has_totp` is always live.

    Cached for a minute, or until a tenant, domain, membership or partner changes (loyalty/tenancy/caching.py).
    """
    if not user.is_authenticated:
        return None
    tenant = current_tenant()

    def read() -> Membership | None:
        # `has_totp` rides along on a read from the database; pickling drops it, so a cached copy reads it anew.
        totp = Authenticator.objects.filter(user=OuterRef("user"), type=Authenticator.Type.TOTP)
        memberships = Membership.objects.filter(user=user, is_active=True).select_related("partner")
        return memberships.annotate(has_totp=Exists(totp)).first()

    membership = cached(f"membership:{tenant.pk}:{user.pk}", read)
    if membership is not None and (membership.tenant_id != tenant.pk or membership.user_id != user.pk):
        membership = read()  # never another tenant's or person's row, whatever the cache held
    return membership


def invitation_token(*, invitation: Invitation) -> str:
    return signing.dumps({"invitation": invitation.pk, "tenant": invitation.tenant_id}, salt=INVITATION_SALT)


def invitation_from_token(*, token: str) -> Invitation | None:
    """The current tenant's invitation a token names, or None when the token is forged, expired or foreign."""
    max_age = settings.INVITATION_VALID_DAYS * 24 * 3600
    try:
        payload = signing.loads(token, salt=INVITATION_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    return Invitation.objects.filter(pk=payload.get("invitation")).select_related("partner").first()


def memberships_everywhere(*, user: User) -> list[Membership]:
    """Every active membership of the person in every active program, with its tenant and partner (platform read).

    The platform host's "My programs" lists them; each program's own data is read later inside its tenant. A
    program's host counts them at sign-in (the header's program switch), hence the step out of its tenant.
    """
    with tenant_left(), platform_context():
        return list(
            Membership.all_tenants.filter(user=user, is_active=True, tenant__is_active=True)
            .select_related("tenant", "partner")
            .order_by("tenant__name")
        )
