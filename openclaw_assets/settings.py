"""Where things live. Every function resolves at call time, never at import time."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".openclaw"
PROFILES = ("embedded", "scaleout")


def openclaw_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The root of everything the pipeline writes: ``$OPENCLAW_HOME`` or ``./.openclaw``."""
    value = explicit or os.environ.get("OPENCLAW_HOME") or DEFAULT_HOME
    return Path(value).expanduser().resolve()


def dagster_home(home: Path | None = None) -> Path:
    """``$DAGSTER_HOME`` if set, else ``$OPENCLAW_HOME/dagster``."""
    value = os.environ.get("DAGSTER_HOME")
    if value:
        return Path(value).expanduser().resolve()
    return (home or openclaw_home()) / "dagster"


def profile() -> str:
    """The storage profile picked by ``OPENCLAW_PROFILE`` (``embedded`` by default)."""
    value = os.environ.get("OPENCLAW_PROFILE", "embedded").strip().lower()
    if value not in PROFILES:
        raise ValueError(f"OPENCLAW_PROFILE must be one of {', '.join(PROFILES)}, not {value!r}")
    return value
