"""Where things live and which storage profile serves them. Everything resolves at call time.

The profile is one typed setting: ``OPENCLAW_PROFILE`` (``embedded`` by default), or the
``profile`` field of the ``warehouse`` resource, which every store resource depends on. A
value that is not exactly one of the profiles is an error, never a silent default.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

DEFAULT_HOME = ".openclaw"
PROFILE_VARIABLE = "OPENCLAW_PROFILE"


class Profile(StrEnum):
    """The storage profiles: one machine with no servers, or PostgreSQL, Redis and S3."""

    EMBEDDED = "embedded"
    SCALEOUT = "scaleout"


class SettingError(ValueError):
    """A setting with a value the project does not know."""


def parse_profile(value: str | Profile | None, source: str = PROFILE_VARIABLE) -> Profile:
    """``embedded`` or ``scaleout`` exactly; None means the embedded default."""
    if value is None or value == "":
        return Profile.EMBEDDED
    try:
        return Profile(value)
    except ValueError:
        known = ", ".join(p.value for p in Profile)
        raise SettingError(f"{source} must be one of {known}, not {value!r}") from None


def profile() -> Profile:
    """The profile named by ``OPENCLAW_PROFILE`` (``embedded`` when unset)."""
    return parse_profile(os.environ.get(PROFILE_VARIABLE))


def openclaw_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The root of everything the pipeline writes: ``explicit``, ``$OPENCLAW_HOME`` or ``./.openclaw``."""
    value = explicit or os.environ.get("OPENCLAW_HOME") or DEFAULT_HOME
    return Path(value).expanduser().resolve()


def dagster_home(home: Path | None = None) -> Path:
    """``$DAGSTER_HOME`` if set, else ``<home>/dagster``."""
    value = os.environ.get("DAGSTER_HOME")
    if value:
        return Path(value).expanduser().resolve()
    return (home or openclaw_home()) / "dagster"
