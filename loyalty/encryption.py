"""Secrets at rest (Fernet: AES-128-CBC with HMAC-SHA256): gift-card codes (rewards/codes.py) and what a program
types that Tierline must send on (an identity provider's client secret, `EncryptedTextField`). A database dump or
a backup then holds none of them usable without the keys, which live in the environment.

Keys, tried in this order to read, the first one to write:
- `TIERLINE_ENCRYPTION_KEYS`: comma-separated Fernet keys (`Fernet.generate_key()`). A key is rotated by putting
  the new one first: values are written with it from then on, and the old one still reads what it wrote;
- `TIERLINE_CODES_ENCRYPTION_KEY`, the older single key (gift-card codes only, before secrets were shared);
- else a key derived from DJANGO_SECRET_KEY, and for reading from each of DJANGO_SECRET_KEY_FALLBACKS, so
  rotating the secret key as Django documents keeps every value readable.
docs/security.md, "Secrets at rest".
"""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


def derived_key(secret: str) -> str:
    """A Fernet key from a secret key (the derivation gift-card codes have always used: old codes stay readable)."""
    return base64.urlsafe_b64encode(hashlib.sha256(f"tierline-codes:{secret}".encode()).digest()).decode()


def keys() -> list[str]:
    configured = [*settings.ENCRYPTION_KEYS, *filter(None, [settings.CODES_ENCRYPTION_KEY])]
    derived = [derived_key(secret) for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)]
    return configured + derived  # the derived ones read what was written before keys were configured


def fernet() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys()])
    except ValueError as error:
        raise ImproperlyConfigured(f"TIERLINE_ENCRYPTION_KEYS: not a Fernet key ({error}).") from error


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a token; one that no configured key opens is a configuration error, said in words."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ImproperlyConfigured(
            "A value encrypted at rest cannot be read with the configured keys: restore the key it was written "
            "with to TIERLINE_ENCRYPTION_KEYS (or the old secret key to DJANGO_SECRET_KEY_FALLBACKS)."
        ) from error


def keyed_digest(value: str) -> str:
    """A keyed hash (HMAC-SHA256) that finds a value without decrypting anything. Its key does not rotate with
    TIERLINE_ENCRYPTION_KEYS (it is TIERLINE_CODES_ENCRYPTION_KEY, else the secret key's), so digests stay
    comparable."""
    key = settings.CODES_ENCRYPTION_KEY or derived_key(settings.SECRET_KEY)
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


# Marks an encrypted field value: a value without it is plaintext saved before the field was encrypted (read as it
# is, encrypted at its next save).
PREFIX = "fernet:"


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; reads give the plaintext. Not for lookups: equal values encrypt apart."""

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        return decrypt(value.removeprefix(PREFIX)) if value and value.startswith(PREFIX) else value

    def get_prep_value(self, value: object) -> object:
        value = super().get_prep_value(value)
        return PREFIX + encrypt(value) if value else value
