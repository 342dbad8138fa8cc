"""Template filters of engagement: a message's text in the reader's language."""

from django import template

from engagement.models import text_in

register = template.Library()


@register.filter
def in_language(texts: dict, key: str) -> object:
    """`{{ texts|in_language:"title" }}`: one text of a message in the active language (else the first written)."""
    return text_in(texts or {}).get(key, "")
