"""Every word a partner reads in the portal, its error pages and its emails is marked for translation."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.template.base import Lexer, TokenType

TEMPLATES = Path(settings.BASE_DIR) / "templates"
CHECKED = sorted(
    [
        *(TEMPLATES / "portal").rglob("*.html"),
        *(TEMPLATES / "notifications").rglob("*"),
        *(TEMPLATES / "tenancy").rglob("*.*"),
        TEMPLATES / "account" / "login.html",
        TEMPLATES / "account" / "messages" / "logged_in.txt",
        *(TEMPLATES / name for name in ("base.html", "standalone.html", "403.html", "404.html", "500.html")),
    ]
)
# Text that is the same in every language.
ALLOWED = {
    "Tierline",  # the product's name, in the page title and the header of pages without a program
}
# Attributes that screen readers speak or browsers show as text.
SPOKEN_ATTRIBUTES = {"title", "aria-label", "alt", "placeholder", "data-label"}
LETTER = re.compile(r"[^\W\d_]")
HIDDEN = "\x00"  # stands for template tags, variables and translated text


def literal_text(source: str) -> str:
    """The template with every tag, variable, comment and translated block replaced by HIDDEN: what remains is
    the markup and the literal text a reader would see untranslated."""
    parts, in_blocktranslate, in_comment = [], False, False
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents else ""
            if name in ("blocktranslate", "blocktrans"):
                in_blocktranslate = True
            elif name in ("endblocktranslate", "endblocktrans"):
                in_blocktranslate = False
            elif name in ("comment", "endcomment"):
                in_comment = name == "comment"
            parts.append(HIDDEN)
        elif token.token_type == TokenType.TEXT and not (in_blocktranslate or in_comment):
            parts.append(token.contents)
        else:
            parts.append(HIDDEN)
    return "".join(parts)


class _UntranslatedText(HTMLParser):
    """Collects text nodes and spoken attribute values that contain letters, outside <style> and <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._raw: list[str] = []

    def _report(self, text: str) -> None:
        for part in text.split(HIDDEN):
            words = part.strip(" \n·")
            if LETTER.search(words) and words not in ALLOWED:
                self.found.append((self.getpos()[0], words))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._raw.append(tag)
        for name, value in attrs:
            if name in SPOKEN_ATTRIBUTES and value:
                self._report(value)

    def handle_endtag(self, tag: str) -> None:
        if self._raw and self._raw[-1] == tag:
            self._raw.pop()

    def handle_data(self, data: str) -> None:
        if not self._raw:
            self._report(data)


def untranslated(source: str) -> list[tuple[int, str]]:
    parser = _UntranslatedText()
    parser.feed(literal_text(source))
    parser.close()
    return parser.found


def test_the_check_finds_unmarked_text_and_spoken_attributes() -> None:
    source = (
        "{% load i18n %}<h1>{% translate 'Rewards' %}</h1>\n"
        "<p>{% blocktranslate %}Hello {{ name }}{% endblocktranslate %} Points left</p>\n"
        "<a href='{% url \"x\" %}' title='Open it' class='button primary'>{{ label }}</a>\n"
        "<style>a { color: red; }</style>{% comment %}Not shown{% endcomment %}<b>Tierline</b>"
    )
    assert untranslated(source) == [(2, "Points left"), (3, "Open it")]


@pytest.mark.parametrize("path", CHECKED, ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_template_has_no_untranslated_text(path: Path) -> None:
    assert untranslated(path.read_text()) == []


def test_the_check_covers_every_portal_and_email_template() -> None:
    assert len([path for path in CHECKED if "portal" in path.parts]) >= 20  # a guard against a broken glob
    assert TEMPLATES / "notifications" / "email.html" in CHECKED
    assert TEMPLATES / "notifications" / "messages.html" in CHECKED
