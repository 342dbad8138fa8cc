"""Client secrets at rest (loyalty/encryption.py): the column holds no usable secret, reads give it back, keys
rotate, and a secret no configured key opens is said in words."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from loyalty.encryption import PREFIX, derived_key
from loyalty.tenancy.context import tenant_context
from loyalty.tenancy.models import Role
from sso.models import IdentityProvider
from tests.conftest import World

pytestmark = pytest.mark.django_db

SECRET = "s3cret-of-the-program"
KEY_A, KEY_B = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def provider_saved(world: World, name: str = "Okta") -> IdentityProvider:
    with tenant_context(world.tenant):
        provider = IdentityProvider(
            name=name, protocol=IdentityProvider.Protocol.OIDC, issuer="https://idp.example.com",
            client_id="tierline", client_secret=SECRET, allowed_domains="acme.test", default_role=Role.PARTNER_USER,
            default_partner=world.partner,
        )  # fmt: skip
        provider.full_clean()
        provider.save()
    return provider


def stored(world: World, provider: IdentityProvider) -> str:
    """The column as the database holds it (what a dump or a backup would show)."""
    with tenant_context(world.tenant), connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM sso_identityprovider WHERE id = %s", [provider.pk])
        return cursor.fetchone()[0]


def reread(world: World, provider: IdentityProvider) -> str:
    with tenant_context(world.tenant):
        return IdentityProvider.objects.get(pk=provider.pk).client_secret


def test_the_column_holds_no_usable_secret_and_reads_give_it_back(acme: World) -> None:
    provider = provider_saved(acme)
    column = stored(acme, provider)
    assert column.startswith(PREFIX)
    assert SECRET not in column
    assert reread(acme, provider) == SECRET
    # Equal secrets encrypt apart: nothing in the column says two programs share one.
    assert stored(acme, provider_saved(acme, "Okta 2")) != column


def test_a_secret_saved_before_encryption_is_read_and_encrypted_at_its_next_save(acme: World) -> None:
    provider = provider_saved(acme)
    with tenant_context(acme.tenant), connection.cursor() as cursor:
        cursor.execute("UPDATE sso_identityprovider SET client_secret = %s WHERE id = %s", ["plain-old", provider.pk])
    assert reread(acme, provider) == "plain-old"
    with tenant_context(acme.tenant):
        IdentityProvider.objects.get(pk=provider.pk).save()
    assert stored(acme, provider).startswith(PREFIX)
    assert reread(acme, provider) == "plain-old"


def test_keys_rotate_and_a_secret_no_key_opens_is_a_clear_error(acme: World, settings) -> None:
    settings.ENCRYPTION_KEYS = [KEY_A]
    provider = provider_saved(acme)
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]  # the new key first: the old one still reads
    assert reread(acme, provider) == SECRET
    with tenant_context(acme.tenant):
        IdentityProvider.objects.get(pk=provider.pk).save()  # written again, with the new key
    settings.ENCRYPTION_KEYS = [KEY_B]
    assert reread(acme, provider) == SECRET
    settings.ENCRYPTION_KEYS = [KEY_A]
    with pytest.raises(ImproperlyConfigured, match="cannot be read with the configured keys"):
        reread(acme, provider)
    settings.ENCRYPTION_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="not a Fernet key"):
        provider_saved(acme)


def test_rotating_the_secret_key_keeps_secrets_readable_through_the_fallbacks(acme: World, settings) -> None:
    settings.ENCRYPTION_KEYS = []
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-old-secret-key" * 3, []
    provider = provider_saved(acme)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-new-secret-key" * 3, ["the-old-secret-key" * 3]
    assert reread(acme, provider) == SECRET
    settings.SECRET_KEY_FALLBACKS = []
    with pytest.raises(ImproperlyConfigured):
        reread(acme, provider)
    assert derived_key("a") != derived_key("b")
