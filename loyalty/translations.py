"""Program content in every language: what staff type (tier, criterion, reward names, benefits) and its translations.

Staff write a program's content in the program's language (`Tenant.language`); that text stays in the model's own
column, where forms edit it and exports and webhooks read it. A translation into each other language of the
product is optional and lives beside it in `translations` (``{"es": {"name": "Oro"}}``); a reader sees the
translation of their language, and the program's text where there is none (issue 17, item 16).

Templates and wording read `obj.i18n.name`; `str(obj)` is the reader's too. Scores and forecasts store tier and
criterion names as they were when computed: `names_translated` gives the reader's names for their ids.
"""

from collections.abc import Iterable
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from loyalty.inputs import NUL, nul_message


def reader_language() -> str:
    """The active language's code without its region ("es" for "es-ar")."""
    return (get_language() or settings.LANGUAGE_CODE).split("-")[0]


def language_names() -> dict[str, str]:
    return dict(settings.LANGUAGES)


class Translated:
    """`obj.i18n.name`: a translatable field in the reader's language, falling back to the program's text."""

    __slots__ = ("_obj",)

    def __init__(self, obj: "Translatable") -> None:
        self._obj = obj

    def __getattr__(self, field: str) -> str:
        if field not in type(self._obj).TRANSLATED_FIELDS:
            raise AttributeError(field)
        return self._obj.translated(field)


class Translatable(models.Model):
    """Abstract base of models whose text fields (`TRANSLATED_FIELDS`) staff type and partners read."""

    TRANSLATED_FIELDS: ClassVar[tuple[str, ...]] = ()

    translations = models.JSONField(
        default=dict,
        blank=True,
        help_text=gettext_lazy("The texts in other languages, by language code; empty falls back to the program's."),
        verbose_name=gettext_lazy("translations"),
    )

    class Meta:
        abstract = True

    def translated(self, field: str, language: str | None = None) -> str:
        """`field` in `language` (default: the reader's), or the program's text where it has no translation."""
        text = (self.translations or {}).get(language or reader_language(), {}).get(field, "")
        return text or getattr(self, field)

    @property
    def i18n(self) -> Translated:
        return Translated(self)

    def clean_translations(self) -> None:
        """Refuse translations of unknown languages or fields, longer than the field allows, or with NUL."""
        self.translations = translations_cleaned(type(self), self.translations)

    def clean(self) -> None:
        super().clean()
        self.clean_translations()


def translations_cleaned(model: type[Translatable], value: Any) -> dict[str, dict[str, str]]:
    """`value` as stored: known languages and fields only, stripped, empty ones dropped; a ValidationError else."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"translations": _('Give the translations by language code, e.g. {"es": {…}}.')})
    languages = language_names()
    cleaned: dict[str, dict[str, str]] = {}
    for language, fields in value.items():
        if language not in languages or not isinstance(fields, dict):
            raise ValidationError(
                {"translations": _("%(language)s is not a language of the product.") % {"language": str(language)[:20]}}
            )
        for field, text in fields.items():
            if field not in model.TRANSLATED_FIELDS or not isinstance(text, str):
                raise ValidationError(
                    {"translations": _("%(field)s cannot be translated.") % {"field": str(field)[:40]}}
                )
            if NUL in text:
                raise ValidationError({"translations": nul_message()})
            limit = model._meta.get_field(field).max_length
            if limit and len(text.strip()) > limit:
                raise ValidationError(
                    {"translations": _("A translation has at most %(limit)s characters.") % {"limit": limit}}
                )
            if text.strip():
                cleaned.setdefault(language, {})[field] = text.strip()
    return cleaned


def translations_by_text(rows: Iterable[Translatable], *, owner: str, field: str) -> dict[tuple[Any, str], dict]:
    """The translations of rows about to be replaced, by (owner id, program text): a translation follows its text.

    Used where a save deletes and recreates rows (a draft's benefits and gates): a row whose text is unchanged keeps
    its translations; a changed text needs translating again.
    """
    return {(getattr(row, owner), getattr(row, field)): row.translations for row in rows if row.translations}


def names_translated(rows: Iterable[tuple[int, str, dict]], field: str) -> dict[int, str]:
    """{id: `field` in the reader's language} for (id, program text, translations) rows."""
    language = reader_language()
    return {pk: ((translations or {}).get(language, {}).get(field) or text) for pk, text, translations in rows}


def names_replaced(data: Any, names: dict[int, str], *, id_key: str = "id", name_key: str = "name") -> Any:
    """A copy of stored JSON (a score's gaps, a forecast) with each {id_key: n, name_key: …} named by `names`."""
    if isinstance(data, list):
        return [names_replaced(item, names, id_key=id_key, name_key=name_key) for item in data]
    if not isinstance(data, dict):
        return data
    copy = {key: names_replaced(value, names, id_key=id_key, name_key=name_key) for key, value in data.items()}
    if name_key in copy and copy.get(id_key) in names:
        copy[name_key] = names[copy[id_key]]
    return copy


def context_translations(field: str = "name", **objects: Translatable | None) -> dict[str, dict[str, str]]:
    """{language: {key: text}} for a stored context (a notification's), so it can be read later in any language
    without looking the objects up: `context_translations(to_tier=gold)` → {"es": {"to_tier": "Oro"}}."""
    found: dict[str, dict[str, str]] = {}
    for key, obj in objects.items():
        for language, fields in ((obj.translations or {}) if obj is not None else {}).items():
            if fields.get(field):
                found.setdefault(language, {})[key] = fields[field]
    return found


def translations_without(translations: dict | None, field: str) -> dict[str, dict[str, str]]:
    """`translations` less every language's `field`: its program text changed, so it is translated anew."""
    kept = {
        code: {name: text for name, text in fields.items() if name != field}
        for code, fields in (translations or {}).items()
    }
    return {code: fields for code, fields in kept.items() if fields}


def _version_key(tenant_id: int) -> str:
    return f"tierline:program-content:{tenant_id}"


def content_version_key(tenant_id: int) -> str:
    """The cache key of `content_version` (for a page that reads it with others in one round trip)."""
    return _version_key(tenant_id)


def content_version(tenant_id: int, *, found: dict | None = None) -> str:
    """A token that changes whenever the program's translations do: part of every cached fragment's key. `found`:
    the cache's answer for `content_version_key` read ahead with others (absent there: not in the cache)."""
    key = _version_key(tenant_id)
    return str((found if found is not None else {key: cache.get(key, 0)}).get(key, 0))


def content_changed(tenant_id: int) -> None:
    """Bump the token (after the change commits), so no cached page keeps the old words."""
    try:
        cache.incr(_version_key(tenant_id))
    except ValueError:  # not in the cache yet (or evicted): any new value differs from what fragments used
        cache.set(_version_key(tenant_id), int(timezone.now().timestamp() * 1000), None)
