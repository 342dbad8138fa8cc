"""Gift-card codes are encrypted at rest (loyalty/encryption.py) and found by a keyed digest."""

from loyalty.encryption import decrypt, encrypt, keyed_digest


def code_encrypt(code: str) -> str:
    return encrypt(code)


def code_decrypt(token: str) -> str:
    return decrypt(token)


def code_digest(code: str) -> str:
    """A keyed hash of a code: spots a code already in a pool without decrypting anything."""
    return keyed_digest(code)
