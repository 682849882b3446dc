"""The deployment history: every change of what serves, why, and what it leaves to go back to.

Which version serves is said by the MLflow aliases alone: ``champion`` and ``challenger``.
Nothing here repeats them as state. What aliases cannot say comes from one append-only file,
``$OPENCLAW_HOME/deployment/history.jsonl``, one JSON line per change:

- ``promote``: ``champion`` is the version promoted, ``previous_champion`` the one it replaced,
  with the evidence (each gate's state and run) that allowed it;
- ``ab``: the champion stays, ``challenger`` gets ``challenger_share`` of live traffic;
- ``rollback``: ``champion`` is the version gone back to, ``rolled_back`` the one taken off,
  with the reason and the live signals.

Two things are derived from it, never stored apart:

- the rollback target (:func:`previous_champion`): the version the serving champion replaced,
  as told by the latest line that changed the champion, if that line names the serving
  champion. After a rollback there is none, so a second breach cannot flap back to the bad
  version; an alias moved by hand, which left no line, has none either.
- the A/B split (:func:`read_current`): the latest line's, if it is an ``ab`` line; any
  promotion or rollback ends a split. The gateway gives the share only to the version the
  ``challenger`` alias names, so a challenger trained since gets no traffic.

A version taken off by a rollback also carries the registry tag ``deployment.rolled_back``
(the deployment step and the rollout sensor refuse it). ``current.json``, written by earlier
versions of this module, is no longer written or read; their history lines read the same way.

Lines are appended with one ``write(2)`` on an ``O_APPEND`` descriptor and fsynced. Readers
skip a line that is not whole JSON (a write cut short), and a writer starts a new line after one.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openclaw_assets.kernel.atomic import json_objects

PROMOTE = "promote"
AB = "ab"
ROLLBACK = "rollback"
CHAMPION_CHANGES = (PROMOTE, ROLLBACK)
_TAIL_BYTES = 1 << 16


def deployment_dir(home: Path) -> Path:
    return home / "deployment"


def history_path(home: Path) -> Path:
    return deployment_dir(home) / "history.jsonl"


def read_history(home: Path) -> list[dict[str, Any]]:
    """Every change, oldest first."""
    try:
        data = history_path(home).read_bytes()
    except FileNotFoundError:
        return []
    return json_objects(data.split(b"\n"))


def last_change(home: Path) -> dict[str, Any] | None:
    """The latest change, reading only the end of the file (the gateway asks every poll)."""
    try:
        with open(history_path(home), "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _TAIL_BYTES))
            tail = handle.read()
    except FileNotFoundError:
        return None
    lines = tail.split(b"\n")
    if size > _TAIL_BYTES:
        lines = lines[1:]  # the first may be the end of a longer line
    entries = json_objects(lines)
    if entries:
        return entries[-1]
    history = read_history(home) if size > _TAIL_BYTES else []
    return history[-1] if history else None


def read_current(home: Path) -> dict[str, Any] | None:
    """The live A/B split: ``challenger`` and its ``challenger_share`` (None: no change recorded yet).

    The split of the latest change if that was an ``ab`` line, else no challenger and a share
    of 0. ``action`` and ``at`` say which change set it. Who is champion is the alias's to say.
    """
    latest = last_change(home)
    if latest is None:
        return None
    split = latest.get("action") == AB
    return {
        "action": latest.get("action"),
        "at": latest.get("at"),
        "challenger": latest.get("challenger") if split else None,
        "challenger_share": float(latest.get("challenger_share") or 0.0) if split else 0.0,
    }


def previous_champion(history: list[dict[str, Any]], champion: str | None) -> str | None:
    """The rollback target for the serving ``champion`` (see the module's docstring)."""
    if champion is None:
        return None
    for entry in reversed(history):
        if entry.get("action") not in CHAMPION_CHANGES:
            continue
        if str(entry.get("champion")) != champion or entry["action"] == ROLLBACK:
            return None
        previous = entry.get("previous_champion")
        return str(previous) if previous is not None and str(previous) != champion else None
    return None


def append(home: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Stamp ``entry`` with the time and append it as one fsynced line; return what was written."""
    if entry.get("action") not in (PROMOTE, AB, ROLLBACK):
        raise ValueError(f"not a deployment change: {entry.get('action')!r}")
    entry = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **entry}
    folder = deployment_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(history_path(home), os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # after a cut-short line, start a new one
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry
