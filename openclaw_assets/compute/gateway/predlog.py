"""The prediction log: one JSON line per prediction, appended before the answer is sent.

Files live at ``$OPENCLAW_HOME/predictions/log/<UTC date>/gateway-<pid>.jsonl``: one writer
per file, so lines never interleave. Each request's lines go out in one ``write(2)`` on an
``O_APPEND`` descriptor before the response is returned: once the client has its answer the
lines are in the kernel, and a crash of the gateway process loses none of them. With
``fsync=True`` (``OPENCLAW_PREDICTION_LOG_FSYNC=1``) they are also on disk before the answer,
which survives a power cut at about a millisecond per request. A crash in the middle of a
write can leave one unterminated last line; readers skip it and count it.

The gateway writes from the thread that scored the request (never on the event loop), and
answers only once the write has returned.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path


def log_root(home: Path, override: Path | None = None) -> Path:
    """``$OPENCLAW_HOME/predictions/log``, or ``override`` (a staging gateway keeps its own)."""
    return override if override is not None else home / "predictions" / "log"


class PredictionLog:
    def __init__(self, root: Path, fsync: bool = False) -> None:
        self.root = root
        self.fsync = fsync
        self._lock = threading.Lock()
        self._day: str | None = None
        self._fd: int | None = None

    def _descriptor(self, day: str) -> int:
        if self._fd is None or day != self._day:
            if self._fd is not None:
                os.close(self._fd)
            folder = self.root / day
            folder.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(folder / f"gateway-{os.getpid()}.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._day = day
        return self._fd

    def append(self, records: list[dict]) -> None:
        if not records:
            return
        data = "".join(json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records).encode()
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self._lock:
            fd = self._descriptor(day)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.fsync:
                os.fdatasync(fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_log(home: Path, root: Path | None = None) -> tuple[list[dict], int]:
    """Every complete line under the log root, and how many torn or unreadable lines were skipped."""
    rows: list[dict] = []
    skipped = 0
    for path in sorted(log_root(home, root).glob("*/*.jsonl")):
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        skipped += int(end < len(data))  # an unterminated last line: a write cut short
        for line in data[:end].split(b"\n"):
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except ValueError:
                skipped += 1
    return rows, skipped
