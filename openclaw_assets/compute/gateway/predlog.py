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

A file is a *segment*: it is closed when the UTC day changes, after ``segment_lines`` lines
(``gateway-<pid>.<n>.jsonl`` follows ``gateway-<pid>.jsonl``) and when the gateway stops. A closed
segment is never written again, and ``on_close`` (the gateway records it in the provenance ledger:
its SHA-256, lines and the model versions that answered) is called with its path.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

SEGMENT_LINES = 100_000


def log_root(home: Path, override: Path | None = None) -> Path:
    """``$OPENCLAW_HOME/predictions/log``, or ``override`` (a staging gateway keeps its own)."""
    return override if override is not None else home / "predictions" / "log"


class PredictionLog:
    def __init__(
        self,
        root: Path,
        fsync: bool = False,
        segment_lines: int = SEGMENT_LINES,
        on_close: Callable[[Path, int], None] | None = None,
    ) -> None:
        self.root = root
        self.fsync = fsync
        self.segment_lines = segment_lines
        self.on_close = on_close
        self._lock = threading.Lock()
        self._day: str | None = None
        self._fd: int | None = None
        self._path: Path | None = None
        self._lines = 0
        self._segments = 0
        self._closers: list[threading.Thread] = []

    def _close_segment(self) -> None:
        """Close the open file; ``on_close`` runs in a thread of its own, so no request waits for it."""
        if self._fd is None:
            return
        os.close(self._fd)
        path, lines = self._path, self._lines
        self._fd, self._path, self._lines = None, None, 0
        if self.on_close is not None and path is not None and lines:
            closer = threading.Thread(target=self.on_close, args=(path, lines), name="predlog-seal", daemon=True)
            closer.start()
            self._closers = [t for t in self._closers if t.is_alive()] + [closer]

    def _descriptor(self, day: str) -> int:
        if self._fd is not None and (day != self._day or self._lines >= self.segment_lines):
            self._close_segment()
        if self._fd is None:
            folder = self.root / day
            folder.mkdir(parents=True, exist_ok=True)
            suffix = f".{self._segments}" if self._segments else ""
            self._path = folder / f"gateway-{os.getpid()}{suffix}.jsonl"
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._day = day
            self._segments += 1
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
            self._lines += len(records)

    def close(self, timeout: float = 60.0) -> None:
        """Close the open segment and wait (up to ``timeout`` seconds) until every closed one is recorded."""
        with self._lock:
            self._close_segment()
            closers = list(self._closers)
        for closer in closers:
            closer.join(timeout)


def segment_facts(path: Path) -> dict:
    """A closed segment's lines, first and last request ids and the model versions that answered."""
    versions: set[str] = set()
    first = last = None
    lines = 0
    with open(path, "rb") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            lines += 1
            versions.add(str(record.get("model_version")))
            first = first or record.get("request_id")
            last = record.get("request_id")
    return {"lines": lines, "first_request_id": first, "last_request_id": last, "model_versions": sorted(versions)}


def find_request(home: Path, request_id: str, root: Path | None = None) -> tuple[Path, list[dict]] | None:
    """The segment holding a request's lines, and those lines (None if no segment has it)."""
    needle = f'"request_id":"{request_id}"'.encode()
    for path in sorted(log_root(home, root).glob("*/*.jsonl")):
        data = path.read_bytes()
        if needle not in data:
            continue
        found = [json.loads(line) for line in data.split(b"\n") if needle in line]
        return path, found
    return None


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


def ledger_recorder(home: Path, model_name: Callable[[], str]) -> Callable[[Path, int], None]:
    """``on_close`` for the gateway: record each closed segment in the provenance ledger.

    A ledger that cannot be written is logged, never raised: serving goes on, and the segment is
    still on disk for ``openclaw lineage`` to find.
    """
    import logging

    opened: list = []

    def record(path: Path, lines: int) -> None:
        try:
            from openclaw_assets.control import subjects
            from openclaw_assets.control.ledger import Ledger, ledger_url
            from openclaw_assets.kernel.atomic import sha256_file
            from openclaw_assets.kernel.settings import profile

            facts = segment_facts(path)
            if not opened:
                opened.append(Ledger.open(home, url=ledger_url(profile())))
            ledger = opened[0]
            name = model_name()
            inputs = []
            for version in facts["model_versions"]:
                entry = ledger.latest(subjects.model(name, version))
                if entry is not None:
                    inputs.append(entry.seq)
            relative = subjects.relative(home, path)
            entry = ledger.append(
                "prediction_log",
                f"prediction_log:{relative}",
                digest=sha256_file(path),
                path=relative,
                inputs=inputs,
                facts={**facts, "model_name": name},
            )
            from openclaw_assets.control.openlineage import emit

            emit(home, entry, [ledger.entry(seq).subject for seq in inputs])
        except Exception as exc:  # the ledger is evidence, not a dependency of serving
            logging.getLogger("openclaw.gateway").warning(
                "prediction log segment %s not recorded in the ledger: %s", path, exc
            )

    return record
