"""Domain events: the domain says what happened, `settings.TIERLINE_EVENT_HANDLERS` says who hears it.

The domain layer (partners, tiers, rewards…) may not import the integrations above it (notifications,
webhooks). A domain service calls `event_emit("tier.changed", changes=…)` inside its transaction; each handler
listed for that event runs there and then, in the listed order, in the same transaction, so a webhook's outbox
row or a notification commits or rolls back with the change that caused it. No signals and nothing registered
at import time: the whole wiring is one dictionary in settings.py, and tests/test_layers.py checks each path.
"""

from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string


@cache
def event_handlers(name: str) -> tuple[Callable[..., object], ...]:
    """The handlers wired to an event; an event nobody wired is a programming error, not silence."""
    try:
        paths = settings.TIERLINE_EVENT_HANDLERS[name]
    except KeyError:
        raise LookupError(f"No handlers are wired for the event {name!r} in TIERLINE_EVENT_HANDLERS.") from None
    return tuple(import_string(path) for path in paths)


def event_emit(name: str, /, **payload: object) -> None:
    """Call every handler of `name` with the payload, in order, in the caller's transaction."""
    for handler in event_handlers(name):
        handler(**payload)
