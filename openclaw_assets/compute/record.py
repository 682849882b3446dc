"""The deployment record: which version is champion, which was before, and the A/B split.

``$OPENCLAW_HOME/deployment/current.json`` is replaced atomically on every change and
``deployment/history.jsonl`` gains one line per change. The deployment asset and the rollback
sensor write it; the gateway reads the split from it. Aliases in the MLflow registry remain
the truth for which version serves; the record says why and what to go back to.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def deployment_dir(home: Path) -> Path:
    return home / "deployment"


def current_path(home: Path) -> Path:
    return deployment_dir(home) / "current.json"


def read_current(home: Path) -> dict[str, Any] | None:
    path = current_path(home)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def read_history(home: Path) -> list[dict[str, Any]]:
    path = deployment_dir(home) / "history.jsonl"
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    return [json.loads(line) for line in lines if line.strip().endswith(b"}")]


def write_record(home: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Stamp, append to the history (fsynced), then replace current.json atomically."""
    from openclaw_assets.kernel.atomic import write_bytes_atomic

    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **record}
    folder = deployment_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(folder / "history.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    write_bytes_atomic(current_path(home), json.dumps(record, indent=2, sort_keys=True, default=str).encode())
    return record
