"""Outages of a service this process depends on (Redis as cache, Redis as broker): one log line when it goes, one
when it is back, and a pause between tries so that a dead service costs requests nothing but a timeout per pause."""

import logging
import threading
import time


class Outage:
    """Whether `service` is known to be down in this process, and when to try it again."""

    retry_seconds = 5.0

    def __init__(self, *, service: str, while_down: str, when_back: str, logger: logging.Logger) -> None:
        self.service, self.while_down, self.when_back, self.logger = service, while_down, when_back, logger
        self._lock = threading.Lock()
        self.is_down = False
        self.retry_at = 0.0

    def skip(self) -> bool:
        """True while down and the pause is not over: answer without trying the service."""
        return self.is_down and time.monotonic() < self.retry_at

    def began(self, error: Exception) -> None:
        """A try failed: log it if it is news, and pause."""
        with self._lock:
            if not self.is_down:
                self.logger.warning("%s unreachable (%s): %s.", self.service, error, self.while_down)
            self.is_down, self.retry_at = True, time.monotonic() + self.retry_seconds

    def ended(self) -> None:
        """A try succeeded: log it if the service was down."""
        if self.is_down:
            with self._lock:
                if self.is_down:
                    self.logger.warning("%s reachable again: %s.", self.service, self.when_back)
                self.is_down = False
