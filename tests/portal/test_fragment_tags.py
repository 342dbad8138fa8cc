"""`{% hole %}` inside a `{% fragment %}` (portal/templatetags/portal_tags.py): filled on every response from the
page's context, so a hole that reads what the fragment binds around it (a loop's item, a `with`) is refused."""

import uuid

import pytest
from django.conf import settings
from django.template import TemplateSyntaxError, engines

from portal.fragments import Fragments

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="fragments are kept in Redis: set REDIS_URL")


def _render(source: str, fragments: Fragments, **context: object) -> str:
    template = engines["django"].from_string("{% load portal_tags %}" + source)
    return template.render({"fragments": fragments, **context}).strip()


def _fragments() -> Fragments:
    return Fragments(page=f"test.{uuid.uuid4().hex}", versions={"part": ("v1", 60)})


def test_a_hole_in_a_loop_reading_the_pages_context_is_filled_on_every_response() -> None:
    source = (
        '{% fragment fragments "part" %}{% for item in items %}{{ item }}'
        '{% if item == "b" %}[{% hole "live" %}{{ live }}{% endhole %}]{% endif %}{% endfor %}{% endfragment %}'
    )
    fragments = _fragments()
    assert _render(source, fragments, items=["a", "b"], live="one") == "ab[one]"
    assert _render(source, fragments, items=["cached, not read"], live="two") == "ab[two]"


@pytest.mark.parametrize(
    "source",
    [
        '{% fragment fragments "part" %}{% for item in items %}{% hole "item" %}{{ item }}{% endhole %}{% endfor %}'
        "{% endfragment %}",
        '{% fragment fragments "part" %}{% for item in items %}{% hole "counter" %}{{ forloop.counter }}{% endhole %}'
        "{% endfor %}{% endfragment %}",
        '{% fragment fragments "part" %}{% with first=items.0 %}{% hole "first" %}{{ first }}{% endhole %}{% endwith %}'
        "{% endfragment %}",
    ],
    ids=["loop-item", "forloop", "with"],
)
def test_a_hole_reading_what_its_fragment_binds_is_refused(source: str) -> None:
    with pytest.raises(TemplateSyntaxError, match="reads what its fragment binds around it"):
        _render(source, _fragments(), items=["a", "b"])


def test_a_hole_in_a_fragment_nested_in_another_is_checked_against_the_outermost() -> None:
    outer = Fragments(page=f"test.{uuid.uuid4().hex}", versions={"outer": ("v1", 60), "part": ("v1", 60)})
    source = (
        '{% fragment fragments "outer" %}{% with name="bound" %}{% fragment fragments "part" %}'
        '{% hole "name" %}{{ name }}{% endhole %}{% endfragment %}{% endwith %}{% endfragment %}'
    )
    with pytest.raises(TemplateSyntaxError, match="'name' reads what its fragment binds"):
        _render(source, outer, name="page")
