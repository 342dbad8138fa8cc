"""The portal's own tags: `{% when %}` (a list's date), `{% fragment %}` (a part cached with its page's others) and
the `memo_shown` filter (a ledger memo in the reader's language when it is a system text: loyalty/reasons.py)."""

from datetime import date, datetime

from django import template
from django.template.base import FilterExpression, Node, NodeList, Parser, Token
from django.template.context import Context
from django.template.defaultfilters import date as date_filter
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.timezone import template_localtime
from django.utils.translation import gettext

from loyalty.reasons import memo_shown

register = template.Library()
register.filter("memo_shown", memo_shown)


@register.simple_tag
def when(sorted: datetime | date | None, dated: datetime | date | None = None, format: str = "") -> SafeString:  # noqa: A002 - the template's names
    """A list's date: `sorted` (what the list is ordered by, shown first) and, when it falls on another day,
    `dated` (the day the row is about: an activity's or invoice's date). `format` defaults to
    SHORT_DATETIME_FORMAT.

    A tag rather than an included template: it runs once per row of long lists (the statement), where an
    `{% include %}` costs a context push and a template lookup each time.
    """
    sorted, dated = template_localtime(sorted), template_localtime(dated)
    shown = format_html(
        '<time datetime="{}">{}</time>',
        date_filter(sorted, "c"),
        date_filter(sorted, format or "SHORT_DATETIME_FORMAT"),
    )
    if dated and date_filter(dated, "Y-m-d") != date_filter(sorted, "Y-m-d"):
        shown += format_html(
            ' <small class="muted dated">{} <time datetime="{}">{}</time></small>',
            gettext("dated"),
            date_filter(dated, "c"),
            date_filter(dated, "SHORT_DATE_FORMAT"),
        )
    return shown


class FragmentNode(Node):
    def __init__(self, nodelist: NodeList, fragments: FilterExpression, name: FilterExpression) -> None:
        self.nodelist, self.fragments, self.name = nodelist, fragments, name

    def render(self, context: Context) -> str:
        fragments = self.fragments.resolve(context)
        if not fragments:  # a page that caches nothing renders the block each time
            return self.nodelist.render(context)
        return fragments.text(self.name.resolve(context), lambda: self.nodelist.render(context))


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
