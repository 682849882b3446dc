"""How ``openclaw run`` talks to a person: one line per stage with its figures, then the gates.

While the run executes in this process, everything the libraries print (progress bars,
warnings, Dagster's own log lines) goes to ``$OPENCLAW_HOME/logs/run-<run id>.log``, whose path
the summary names. A watcher thread reads the run's events from the instance and prints a
line for each finished step with the figures its materializations reported, and a line for a
step that waits for a concurrency pool another run holds (Dagster's own step-blocked event).
Failures are printed in full at the end.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

FIGURES = (
    ("dagster/row_count", "{:,} rows"),
    ("holdout_auc", "AUC {:.4f}"),
    ("model_version", "v{}"),
    ("p99_ms", "p99 {:.1f} ms"),
    ("champion_version", "champion v{}"),
    ("materialized", "online {}"),
)
"""Metadata shown on a stage's line, in this order, when a materialization reports it."""


def _figures(metadata: dict[str, Any]) -> list[str]:
    shown = []
    for key, text in FIGURES:
        value = metadata.get(key)
        raw = getattr(value, "value", value)
        if raw is None or raw == "":
            continue
        with contextlib.suppress(TypeError, ValueError):
            shown.append(text.format(raw))
    return shown


def _shown(assets: dict[str, tuple[int, dict[str, Any], list[int]]]) -> dict[str, tuple[int, list[str]]]:
    """Each asset's figures: a range's, recorded alike in every partition, once; rows of months that each
    report their own (per-month assets run over a range) summed."""
    out = {}
    for asset, (count, metadata, rows) in assets.items():
        if len(set(rows)) > 1:
            metadata = {**metadata, "dagster/row_count": sum(rows)}
        out[asset] = (count, _figures(metadata))
    return out


def blocked_pool(event: Any) -> str | None:
    """The pool a step-blocked event names (Dagster's engine event for a step waiting on a pool's slot)."""
    data = event.dagster_event.event_specific_data if event.dagster_event else None
    value = (getattr(data, "metadata", None) or {}).get("pool")
    pool = getattr(value, "value", value)
    return pool if isinstance(pool, str) and event.step_key else None


@dataclass
class StageLines:
    """Turns a run's events into one line per finished step, and one per step that waits for a pool.

    ``holder(pool)`` says who holds a pool's slot ("run 1a2b3c4d, step online_features"), or None.
    """

    holder: Callable[[str], str | None] = lambda pool: None
    started: dict[str, float] = field(default_factory=dict)
    blocked: dict[str, tuple[str, float]] = field(default_factory=dict)
    waited: dict[str, str] = field(default_factory=dict)
    assets: dict[str, dict[str, tuple[int, dict[str, Any], list[int]]]] = field(default_factory=dict)

    def line(self, event: Any) -> str | None:
        kind = event.dagster_event_type.value if event.dagster_event_type else None
        step = event.step_key or ""
        if kind == "ENGINE_EVENT" and (pool := blocked_pool(event)) is not None:
            if step in self.blocked:
                return None  # Dagster repeats the event while the step still waits: say it once
            self.blocked[step] = (pool, event.timestamp)
            held = self.holder(pool)
            return f"  waiting {step:<20} for pool '{pool}'" + (f" (held by {held})" if held else "")
        if kind == "STEP_START":
            self.started[step] = event.timestamp
            if step in self.blocked:
                pool, since = self.blocked.pop(step)
                self.waited[step] = f"waited {event.timestamp - since:.1f}s for pool '{pool}'"
        elif kind == "ASSET_MATERIALIZATION":
            # a range of months in one run records the same figures once per partition: show them once
            materialization = event.dagster_event.event_specific_data.materialization
            asset = materialization.asset_key.to_user_string()
            metadata = dict(materialization.metadata)
            seen = self.assets.setdefault(step, {})
            count, first, rows = seen.get(asset, (0, metadata, []))
            row_count = getattr(metadata.get("dagster/row_count"), "value", metadata.get("dagster/row_count"))
            seen[asset] = (count + 1, first, [*rows, row_count] if isinstance(row_count, int) else rows)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"):
            seconds = event.timestamp - self.started.get(step, event.timestamp)
            mark = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "skipped"}[kind]
            parts = [
                asset + (f" {', '.join(shown)}" if shown else "") + (f" ({count} months)" if count > 1 else "")
                for asset, (count, shown) in _shown(self.assets.pop(step, {})).items()
            ]
            detail = "; ".join(parts[:3]) + (f"; +{len(parts) - 3} more" if len(parts) > 3 else "")
            if step in self.waited:
                detail += f" ({self.waited.pop(step)})"
            return f"  {mark:<7} {step:<20} {seconds:6.1f}s  {detail}".rstrip()
        return None


class QuietRun:
    """Library output to a log file, stage lines to the terminal, for the length of a ``with`` block."""

    def __init__(self, home: Path, instance: Any, run_id: str, interval: float = 0.5) -> None:
        self.log_path = home / "logs" / f"run-{run_id}.log"
        self.instance, self.run_id, self.interval = instance, run_id, interval
        self.stages = StageLines(holder=self._holder)
        self._stop = threading.Event()
        self._cursor: str | None = None
        self._thread: threading.Thread | None = None
        self._saved: tuple[int, int] | None = None
        self.terminal: IO[str] = sys.stdout

    def __enter__(self) -> QuietRun:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        sys.stdout.flush()
        sys.stderr.flush()
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._saved = (os.dup(1), os.dup(2))
        self.terminal = os.fdopen(os.dup(self._saved[0]), "w", buffering=1, encoding="utf-8")
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        self._thread = threading.Thread(target=self._watch, name="openclaw-stages", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._drain()
        sys.stdout.flush()
        sys.stderr.flush()
        if self._saved is not None:
            os.dup2(self._saved[0], 1)
            os.dup2(self._saved[1], 2)
            for fd in self._saved:
                os.close(fd)
        self.terminal.close()

    def _holder(self, pool: str) -> str | None:
        """Which other run's step holds ``pool``'s slot (or has it assigned, about to claim it), from the instance."""
        try:
            info = self.instance.event_log_storage.get_concurrency_info(pool)
        except Exception:  # an instance without pool tables: the line says only what waits
            return None
        holders = [(slot.run_id, slot.step_key) for slot in info.claimed_slots]
        holders += [(step.run_id, step.step_key) for step in info.pending_steps if step.assigned_timestamp is not None]
        others = list(dict.fromkeys((run, step) for run, step in holders if run != self.run_id))
        return ", ".join(f"run {run[:8]}, step {step}" for run, step in others) or None

    def _drain(self) -> None:
        """Print the lines of the events recorded since the last call (a cursor, not a re-read)."""
        while True:
            try:
                found = self.instance.get_records_for_run(self.run_id, cursor=self._cursor)
            except Exception:  # the run's storage may not exist yet; the next poll sees it
                return
            for record in found.records:
                line = self.stages.line(record.event_log_entry)
                if line:
                    print(line, file=self.terminal, flush=True)
            self._cursor = found.cursor
            if not found.has_more:
                return

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._drain()


@contextlib.contextmanager
def quiet(home: Path, instance: Any, run_id: str, enabled: bool = True) -> Iterator[QuietRun | None]:
    """``QuietRun`` when ``enabled`` (a terminal user), else nothing changes (``--verbose``)."""
    if not enabled:
        yield None
        return
    with QuietRun(home, instance, run_id) as run:
        yield run
