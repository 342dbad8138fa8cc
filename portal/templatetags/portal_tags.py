"""The portal's own tags: `{% when %}` (a list's date), `{% fragment %}` (a part cached with its page's others, with
`{% hole %}` and `{% fragment_nonce %}` for what stays live in it) and
the `memo_shown` filter (a ledger memo in the reader's language when it is a system text: loyalty/reasons.py)."""

import uuid
from copy import copy
from datetime import date, datetime

from django import template
from django.template.base import FilterExpression, Node, NodeList, Parser, Token
from django.template.context import Context
from django.template.defaultfilters import date as date_filter
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import gettext

from loyalty.ledger.wording import signed_points
from loyalty.reasons import memo_shown

register = template.Library()
register.filter("memo_shown", memo_shown)
register.filter("signed_points", signed_points)  # the statement's "+1,200 / −300", on any page

# The day a row is about, in the style of the row's own date: a long date beside a long one, a short beside a short.
DAY_FORMATS = {"DATETIME_FORMAT": "DATE_FORMAT", "SHORT_DATETIME_FORMAT": "SHORT_DATE_FORMAT"}


@register.simple_tag
def when(sorted: datetime | date | None, dated: datetime | date | None = None, format: str = "") -> SafeString:  # noqa: A002 - the template's names
    """A list's date: `sorted` (what the list is ordered by, shown first) and, when it falls on another day,
    `dated` (the day the row is about: an activity's or invoice's date). `format` defaults to
    SHORT_DATETIME_FORMAT; `dated` takes its date-only counterpart (DATE_FORMAT beside DATE_FORMAT or
    DATETIME_FORMAT, SHORT_DATE_FORMAT beside the short ones), so one line never mixes two styles.

    A tag rather than an included template: it runs once per row of long lists (the statement), where an
    `{% include %}` costs a context push and a template lookup each time.
    """
    sorted, dated = template_localtime(sorted), template_localtime(dated)
    format = format or "SHORT_DATETIME_FORMAT"  # noqa: A001 - the template's name
    shown = format_html('<time datetime="{}">{}</time>', date_filter(sorted, "c"), date_filter(sorted, format))
    if dated and date_filter(dated, "Y-m-d") != date_filter(sorted, "Y-m-d"):
        shown += format_html(
            ' <small class="muted dated">{} <time datetime="{}">{}</time></small>',
            gettext("dated"),
            date_filter(dated, "c"),
            date_filter(dated, DAY_FORMATS.get(format, format)),
        )
    return shown


class HoleNode(Node):
    """A part of a cached fragment rendered afresh on every response (`{% hole %}`)."""

    def __init__(self, nodelist: NodeList, name: str) -> None:
        self.nodelist, self.name = nodelist, name

    def render(self, context: Context) -> str:
        marker = context.get(MARKER)
        if marker:  # inside a fragment being rendered for the cache: a mark, filled on every response
            self._refuse_what_the_fragment_binds(context)
            return f"{marker}.hole.{self.name}"
        return self.nodelist.render(context)

    def _refuse_what_the_fragment_binds(self, context: Context) -> None:
        """A hole is filled from the context its outermost fragment is rendered in, not from the one it sits in: one
        that reads what the fragment binds around it (a `{% for %}`'s item, a `{% with %}`) would come out wrong on
        every response, so it is refused on the first render that shows the difference."""
        outermost = next(index for index, layer in enumerate(context.dicts) if MARKER in layer)
        filled, here = copy(context), copy(context)
        filled.dicts = context.dicts[:outermost]
        here.dicts = [layer for layer in context.dicts if MARKER not in layer]
        if self.nodelist.render(filled) != self.nodelist.render(here):
            raise template.TemplateSyntaxError(
                f"The hole {self.name!r} reads what its fragment binds around it ({{% for %}}, {{% with %}}): a hole "
                "is filled from the page's context. Move it out of that block, or name what it reads in the page's."
            )


MARKER = "fragment_marker"  # the context variable naming the marker of the fragment being rendered


class FragmentNode(Node):
    def __init__(self, nodelist: NodeList, fragments: FilterExpression, name: FilterExpression) -> None:
        self.nodelist, self.fragments, self.name = nodelist, fragments, name
        self.holes = {hole.name: hole for hole in nodelist.get_nodes_by_type(HoleNode)}

    def render(self, context: Context) -> str:
        fragments = self.fragments.resolve(context)
        if not fragments:  # a page that caches nothing renders the block each time
            return self.nodelist.render(context)

        def fresh() -> tuple[str, str]:
            marker = uuid.uuid4().hex
            with context.push({MARKER: marker}):
                return marker, self.nodelist.render(context)

        marker, text = fragments.text(self.name.resolve(context), fresh)
        # Fill the marks: with the enclosing fragment's own marks while it is being rendered, else with this
        # response's nonce and the holes rendered now.
        enclosing = context.get(MARKER)
        text = text.replace(f"{marker}.nonce", f"{enclosing}.nonce" if enclosing else _nonce(context))
        for name, hole in self.holes.items():
            mark = f"{marker}.hole.{name}"
            if mark in text:
                text = text.replace(mark, f"{enclosing}.hole.{name}" if enclosing else hole.nodelist.render(context))
        return mark_safe(text)  # noqa: S308 - rendered by the template engine, autoescaped; the marks are ours


def _nonce(context: Context) -> str:
    request = context.get("request")
    return str(getattr(request, "csp_nonce", "")) if request is not None else ""


@register.simple_tag(takes_context=True)
def fragment_nonce(context: Context) -> str:
    """The CSP nonce inside a `{% fragment %}`: a mark in the cached text, this response's nonce when served."""
    marker = context.get(MARKER)
    return f"{marker}.nonce" if marker else _nonce(context)


@register.tag
def hole(parser: Parser, token: Token) -> HoleNode:
    """`{% hole "name" %}…{% endhole %}` inside a `{% fragment %}`: rendered on every response from the live context
    (the fragment's cached text keeps a mark in its place), so what it shows needs no part in the fragment's key."""
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError(f"'{bits[0]}' takes a name.")
    nodelist = parser.parse(("endhole",))
    parser.delete_first_token()
    return HoleNode(nodelist, bits[1].strip("\"'"))


@register.tag
def fragment(parser: Parser, token: Token) -> FragmentNode:
    """`{% fragment fragments "name" %}…{% endfragment %}`: the block's text, cached under the version the view gave
    `name` in `fragments` (portal/fragments.py), all the page's fragments read in one round trip."""
    bits = token.split_contents()
    if len(bits) != 3:
        raise template.TemplateSyntaxError(f"'{bits[0]}' takes the page's fragments and a fragment's name.")
    nodelist = parser.parse(("endfragment",))
    parser.delete_first_token()
    return FragmentNode(nodelist, parser.compile_filter(bits[1]), parser.compile_filter(bits[2]))
