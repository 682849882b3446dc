"""Waiting for a condition in tests: poll it, return its value, or fail saying what never happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    interval: float = 0.5,
    message: str | Callable[[], str] = "the condition",
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns something truthy, and return that.

    After ``timeout`` seconds, fail the test with ``message`` (a string, or a function called
    then, e.g. to add a log's tail) and the last value seen. The condition is always tried
    once more at the deadline, so a slow poll does not lose a success.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    what = message() if callable(message) else message
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last value: {value!r})")
