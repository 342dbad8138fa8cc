"""Gift-card codes are encrypted at rest (Fernet: AES-128-CBC with HMAC-SHA256)."""

import base64
import hashlib

from cryptography.fernet import Fernet
from django.conf import settings


def _fernet() -> Fernet:
    # A dedicated key when configured; otherwise one derived from SECRET_KEY (rotating it makes old codes unreadable).
    key = (
        settings.CODES_ENCRYPTION_KEY
        or base64.urlsafe_b64encode(hashlib.sha256(f"tierline-codes:{settings.SECRET_KEY}".encode()).digest()).decode()
    )
    return Fernet(key)


def code_encrypt(code: str) -> str:
    return _fernet().encrypt(code.encode()).decode()


def code_decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
