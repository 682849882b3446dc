"""Structured logs: one JSON object per line, with the trace and span ids of the span current when it was logged.

Each line holds ``time`` (UTC, ISO 8601, milliseconds), ``level``, ``logger``, ``message``,
``trace_id`` and ``span_id`` when a span is current, ``run_id`` and ``step_key`` for a record
Dagster logged in a run (from its ``dagster_meta``; ``dagster_event`` names an event's type),
``error`` for a failed step's exception, ``model_version`` and any other value passed as
``extra=``, and ``exception`` with the traceback when there is one.

``OPENCLAW_LOG_FORMAT`` picks the format of a process's log stream: ``json``, ``text``, or
``auto`` (the default): text on a terminal, for people, and JSON anywhere else (a log file, a
container's output). The gateway logs through ``configure``; Dagster runs write every line
they log into ``$OPENCLAW_HOME/logs/pipeline.jsonl`` through the handler that ``dagster.yaml``
names (``pipeline_handler``), while the console stays Dagster's own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from openclaw_assets.kernel.settings import SettingError, openclaw_home
from openclaw_assets.observability import tracing

FORMAT_VARIABLE = "OPENCLAW_LOG_FORMAT"
FORMATS = ("auto", "json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
PIPELINE_LOG = "pipeline.jsonl"
"""The Dagster runs' JSON lines, under ``$OPENCLAW_HOME/logs/``."""

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
"""Attributes every record has; any other one came from ``extra=`` (or from Dagster)."""
_DAGSTER = ("dagster_meta", "dagster_event", "dagster_event_batch_metadata")


def log_format(value: str | None = None) -> str:
    """``json``, ``text`` or ``auto`` exactly (``OPENCLAW_LOG_FORMAT`` when ``value`` is None; unset means auto)."""
    raw = os.environ.get(FORMAT_VARIABLE, "") if value is None else value
    chosen = raw.strip().lower() or "auto"
    if chosen not in FORMATS:
        raise SettingError(f"{FORMAT_VARIABLE} must be one of {', '.join(FORMATS)}, not {raw!r}")
    return chosen


class JsonFormatter(logging.Formatter):
    """A record as one JSON object on one line (see the module's docstring for its fields)."""

    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None)
        message = meta.get("orig_message") if isinstance(meta, dict) else None
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage() if message is None else message,
        }
        ids = tracing.current_ids()  # never imports OpenTelemetry: no tracing, no span
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if isinstance(meta, dict):
            for key in ("run_id", "job_name", "step_key"):
                if meta.get(key):
                    line[key] = meta[key]
            event = meta.get("dagster_event")
            if event is not None:
                line["dagster_event"] = getattr(event, "event_type_value", str(event))
                error = getattr(getattr(event, "event_specific_data", None), "error", None)
                if error is not None:  # a failed step's exception, which Dagster keeps out of the message
                    line["error"] = f"{getattr(error, 'cls_name', None) or 'Error'}: {getattr(error, 'message', error)}"
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in _DAGSTER and key not in line:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


def resolve(chosen: str, stream: IO[str]) -> str:
    """``json`` or ``text`` for ``stream`` under format ``chosen`` (``auto``: text on a terminal, JSON elsewhere)."""
    if chosen != "auto":
        return chosen
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def configure(level: int = logging.INFO, stream: IO[str] | None = None, value: str | None = None) -> str:
    """Log the process's records to ``stream`` (stderr) in the format ``OPENCLAW_LOG_FORMAT`` picks; which one.

    Replaces ``logging.basicConfig``: one handler on the root logger (any previous ones removed).
    Raises ``SettingError`` for an unknown format, before anything changes.
    """
    stream = sys.stderr if stream is None else stream
    chosen = resolve(log_format(value), stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # a library's warning is a record too, not raw text between the lines
    return chosen


class JsonLinesHandler(logging.Handler):
    """Appends records as JSON lines to a file, created (with its folder) on the first record.

    Each line goes out in one ``write(2)`` on an ``O_APPEND`` descriptor (as the prediction log's do), so
    that the lines of processes appending to the same file at once (two runs) never interleave or tear,
    however long a line is: buffered text I/O would split one over its buffer size into several writes.
    The file is not rotated.
    """

    def __init__(self, path: str | os.PathLike[str], level: int | str = logging.INFO) -> None:
        super().__init__(level)
        self.baseFilename = os.path.abspath(os.fspath(path))
        self.setFormatter(JsonFormatter())
        self._fd: int | None = None

    def _descriptor(self) -> int:
        if self._fd is None:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode("utf-8")
            with self.lock or contextlib.nullcontext():  # the descriptor, opened once by one thread
                fd = self._descriptor()
            view = memoryview(data)
            while view:  # one write for a regular file; the loop only if the kernel took part of it (a full disk)
                view = view[os.write(fd, view) :]
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with self.lock or contextlib.nullcontext():
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        super().close()


def pipeline_log(home: Path | None = None) -> Path:
    """Where Dagster runs write their JSON lines: ``$OPENCLAW_HOME/logs/pipeline.jsonl``."""
    return (home or openclaw_home()) / "logs" / PIPELINE_LOG


def pipeline_handler(path: str | None = None, level: int | str = logging.INFO) -> JsonLinesHandler:
    """The handler ``dagster.yaml`` names under ``python_logs.dagster_handler_config`` (``"()"``): every
    record a run logs, Dagster's own included, as a JSON line in ``path`` (default ``pipeline_log()``)."""
    return JsonLinesHandler(path or pipeline_log(), level)


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON lines log (a torn last line, from a process that died mid-write, is skipped)."""
    from openclaw_assets.kernel.atomic import json_objects

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return json_objects(text.splitlines())
