"""Cached parts of a page, read from the cache in one round trip (`{% fragment %}`, portal/templatetags/portal_tags.py).

Django's `{% cache %}` reads each fragment on its own when the template reaches it: five fragments, five round
trips to Redis. Here the page names its fragments and their versions up front; the first one the template (or the
view) asks for reads them all with one `get_many`, and only those missed are rendered and written back. A fragment
holds rendered text, or data that a view keeps beside its fragments (the tier's benefits); the version names
everything it depends on, so a change gives a new key and never a stale text.

A rendered fragment is kept with a *marker* (random, made when it is rendered) that stands in its text for what
differs per response or must stay live: the CSP nonce (`{% fragment_nonce %}`) and holes (`{% hole %}`), parts
rendered afresh on every response from the live context (portal/templatetags/portal_tags.py). A fragment inside
another being rendered hands its marks on to the outer one, so they stay live in the outer text too.
"""

import hashlib
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone, translation

from loyalty.tenancy.caching import generation
from loyalty.translations import content_version

T = TypeVar("T")
_MISSING = object()


class Fragments:
    """The fragments of one page: each name with its version (None: not cached) and how long it is kept."""

    def __init__(self, *, page: str, versions: dict[str, tuple[str | None, int]]) -> None:
        # "fragment2": texts are kept with their marker (an older release kept bare text under "fragment").
        prefix = f"fragment2.{connection.settings_dict['NAME']}.{page}"  # deployments and tests may share one Redis
        self._keys = {
            name: f"{prefix}.{name}.{hashlib.md5(version.encode(), usedforsecurity=False).hexdigest()}"
            for name, (version, _seconds) in versions.items()
            if version is not None
        }
        self._seconds = {name: seconds for name, (_version, seconds) in versions.items()}
        self._found: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any]:
        if self._found is None:
            by_key = cache.get_many(list(self._keys.values())) if self._keys else {}
            self._found = {name: by_key[key] for name, key in self._keys.items() if key in by_key}
        return self._found

    def get(self, name: str) -> Any:
        """The cached value of `name`, or `_MISSING`."""
        return self._read().get(name, _MISSING) if name in self._keys else _MISSING

    def set(self, name: str, value: Any) -> None:
        if name in self._keys:
            self._read()[name] = value
            cache.set(self._keys[name], value, self._seconds[name])

    def value(self, name: str, compute: Callable[[], T]) -> T:
        """The cached value of `name`, else `compute()` (then kept)."""
        found = self.get(name)
        if found is _MISSING:
            found = compute()
            self.set(name, found)
        return found

    def text(self, name: str, render: Callable[[], str]) -> str:
        """A fragment's cached text, else `render()` (then kept)."""
        return self.value(name, render)


def sql_columns(model: Any, fields: tuple[str, ...], *, alias: str = "") -> str:
    """`fields` of `model` as a plain-SQL column list (each `alias.column`): for the pages' versions queries."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{model._meta.get_field(name).column}" for name in fields)


# A member's cached page lives this long at most: the names it shows that carry no version of their own (a reward
# rule's or an actor's, an activity's details) are at most a minute old, as on the dashboard.
PAGE_SECONDS = 60


def member_page_setting(request: HttpRequest, *, found: dict) -> str | None:
    """What a member's cached page depends on besides its data: tenant, language, time zone, date, partner (name
    and status), the program's words and the tenancy cache's generation (members' and partners' rows). None: not
    cacheable now (no shared cache, or this request wrote: loyalty/tenancy/caching.py)."""
    memberships = generation()
    if memberships is None:
        return None
    partner = request.membership.partner
    return ".".join(
        [
            str(request.tenant.pk),
            str(partner.pk),
            partner.name,
            partner.status,
            translation.get_language() or "",
            timezone.get_current_timezone_name(),
            timezone.localdate().isoformat(),
            content_version(request.tenant.pk, found=found),
            memberships,
        ]
    )
