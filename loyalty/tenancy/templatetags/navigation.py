"""`{% navigation_links %}`: the header's links for a member's role, rendered once per process and reused."""

from django import template
from django.conf import settings
from django.template.context import Context
from django.template.loader import get_template
from django.urls import get_script_prefix, get_urlconf
from django.utils import translation
from django.utils.safestring import SafeString

register = template.Library()

# The links depend only on the role, on whether the member belongs to a partner, on the language and on the URLs
# (the host's URL set and the script prefix): a handful of keys per process, each rendered once. Templates,
# translations and URLs change only with a deploy, which starts new processes.
_RENDERED: dict[tuple, SafeString] = {}


@register.simple_tag(takes_context=True)
def navigation_links(context: Context) -> SafeString:
    """The same text as including `includes/navigation_links.html` with the context's `membership`."""
    membership = context.get("membership")
    urls = get_urlconf() or settings.ROOT_URLCONF
    key = (
        bool(membership),
        getattr(membership, "role", None),
        bool(getattr(membership, "partner_id", None)),
        translation.get_language(),
        urls,
        get_script_prefix(),
    )
    text = _RENDERED.get(key)
    if text is None:
        text = _RENDERED[key] = get_template("includes/navigation_links.html").render({"membership": membership})
    return text
