"""Gift-card codes are encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256) and found by a keyed digest."""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet
from django.conf import settings


def _key() -> str:
    # A dedicated key when configured; otherwise one derived from SECRET_KEY (rotating it makes old codes unreadable).
    return (
        settings.CODES_ENCRYPTION_KEY
        or base64.urlsafe_b64encode(hashlib.sha256(f"tierline-codes:{settings.SECRET_KEY}".encode()).digest()).decode()
    )


def code_encrypt(code: str) -> str:
    return Fernet(_key()).encrypt(code.encode()).decode()


def code_decrypt(token: str) -> str:
    return Fernet(_key()).decrypt(token.encode()).decode()


def code_digest(code: str) -> str:
    """A keyed hash of a code: spots a code already in a pool without decrypting anything."""
    return hmac.new(_key().encode(), code.encode(), hashlib.sha256).hexdigest()
