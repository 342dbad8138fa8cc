"""Each test here leaves the thread in the default language, as it found it."""

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _default_language_after() -> Iterator[None]:
    """A request by a Spanish reader activates Spanish in this thread (MembershipMiddleware) and nothing resets it
    after the response: without this, the next test's error messages would come out in Spanish."""
    yield
    translation.deactivate()
