"""Writes of the API app: creating and revoking keys, marking use, and claiming and settling idempotency keys."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from api.models import SCOPES, ApiKey, IdempotencyRecord
from loyalty.tenancy.context import current_tenant, platform_context
from loyalty.tenancy.models import User

KEY_PREFIX = "tl"
# Marking a key as used is a write; once a minute per key is precise enough and keeps reads cheap.
LAST_USED_PRECISION = timedelta(minutes=1)
IDEMPOTENCY_RETENTION = timedelta(hours=24)
# A claim still in flight after this long belongs to a request that died: another request may take it over.
IDEMPOTENCY_STALE_AFTER = timedelta(minutes=5)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    token: str  # the full key: shown once, never stored


def validate_scopes(scopes: list[str]) -> list[str]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationError({"scopes": _("Unknown scopes: %(scopes)s.") % {"scopes": ", ".join(unknown)}})
    if not scopes:
        raise ValidationError({"scopes": _("Give the key at least one scope.")})
    return sorted(set(scopes))


def api_key_create(
    *, name: str, scopes: list[str], created_by: User | None, expires_at: datetime | None = None
) -> CreatedApiKey:
    """A new key of the current tenant; the returned token is the only time the secret exists in clear."""
    if not name.strip():
        raise ValidationError({"name": _("Name the key after what uses it.")})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    clean_scopes = validate_scopes(list(scopes))
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        name=name.strip(),
        prefix=prefix,
        secret_hash=secret_digest(secret),
        scopes=clean_scopes,
        created_by=created_by,
        expires_at=expires_at,
    )
    return CreatedApiKey(api_key=api_key, token=f"{KEY_PREFIX}_{prefix}_{secret}")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke a key at once; revoking it again keeps the first revocation time."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_touch(*, api_key: ApiKey, now: datetime) -> bool:
    """Record that the key was used, at most once a minute per key (one UPDATE, no read-modify-write); whether it
    was due. The cached keys' generation stays (`ApiKey.uncached_fields`)."""
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_PRECISION:
        return False
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_PRECISION)
    ).update(last_used_at=now)
    api_key.last_used_at = now
    return True


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming an Idempotency-Key: go ahead (`record` is ours), replay, or refuse."""

    record: IdempotencyRecord
    outcome: str  # "claimed", "replay", "in_flight", "mismatch"


def idempotency_claim(*, key: str, api_key: ApiKey, fingerprint: str) -> Claim:
    """Claim `key` for this request before any work starts: one autocommitted `INSERT … ON CONFLICT DO NOTHING`.

    The insert either wins the unique constraint (the request goes ahead) or finds the earlier request:
    finished with the same fingerprint → replay; still in flight → in_flight; another request → mismatch.
    """
    while True:
        record = _idempotency_insert(key=key, api_key=api_key, fingerprint=fingerprint)
        if record is not None:
            return Claim(record, "claimed")
        record = IdempotencyRecord.objects.filter(key=key).first()
        if record is not None:
            break
        # The holder released the key between our insert and our read: try again.
    if record.fingerprint != fingerprint:
        return Claim(record, "mismatch")
    if not record.is_in_flight:
        return Claim(record, "replay")
    taken_over = IdempotencyRecord.objects.filter(
        pk=record.pk, completed_at__isnull=True, created_at__lt=timezone.now() - IDEMPOTENCY_STALE_AFTER
    ).update(created_at=timezone.now())
    return Claim(record, "claimed" if taken_over else "in_flight")


def _idempotency_insert(*, key: str, api_key: ApiKey, fingerprint: str) -> IdempotencyRecord | None:
    """The new record, or None when the key is taken.

    One statement, which a request runs in autocommit (its own commit, before the work): a lost race on the unique
    constraint is a row not inserted, not an error to roll back.
    """
    tenant = current_tenant()
    record = IdempotencyRecord(tenant=tenant, key=key, api_key=api_key, fingerprint=fingerprint)
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (tenant_id, key, api_key_id, fingerprint, created_at)"  # noqa: S608 - the model's
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING id",
            [tenant.pk, key, api_key.pk, fingerprint, record.created_at],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    record.pk = row[0]
    record._state.adding = False
    return record


def idempotency_settle(*, record: IdempotencyRecord, status: int, body: Any) -> None:
    """Store the finished request's response: later requests with the key get it back."""
    record.response_status, record.response_body, record.completed_at = status, body, timezone.now()
    record.save(update_fields=["response_status", "response_body", "completed_at"])


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Give the key back after a failure that produced no lasting result (a server error), so a retry may run."""
    IdempotencyRecord.objects.filter(pk=record.pk, completed_at__isnull=True).delete()


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Platform job: forget idempotency records older than the retention period, across every tenant."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_RETENTION
    with platform_context():
        deleted, _by_model = IdempotencyRecord.all_tenants.filter(created_at__lt=cutoff).delete()
    return deleted
