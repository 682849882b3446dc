"""The gateway's side of the provenance ledger: read it for the auditor routes, record refused requests.

The ledger (``control.ledger.Ledger``: SQLite under the home, PostgreSQL in scale-out) is opened on
first use, so a gateway whose ledger database is down still serves predictions; the audit routes
then answer 503 and the next call tries again.

Only *denied* access decisions are recorded (kind ``decision``, subject
``decision:gateway_request/v1/admin/status`` and so on): one entry per allowed request would
put a signed ledger append on every prediction. A writer thread takes them from a bounded
queue and appends them in batches (one signed head per batch), so a refusal never waits on the
database; when the queue is full (a flood of bad tokens) further refusals are counted, not
recorded, and the count is logged and exported as a metric.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("openclaw.gateway")
QUEUE_SIZE = 10_000
"""Refusals waiting to be recorded at most; beyond it they are counted as unrecorded."""
BATCH = 200
"""Refusals appended under one signed head at most."""
KIND = "decision"


class LedgerUnavailable(Exception):
    """The ledger cannot be opened or read now; the message says why (served as 503)."""


class GatewayLedger:
    """The ledger, opened on first use, and the thread that records refused requests into it."""

    def __init__(
        self,
        home: Path,
        opener: Callable[[], Any] | None = None,
        on_unrecorded: Callable[[int], None] | None = None,
    ) -> None:
        self.home = home
        self._opener = opener or self._open_default
        self._ledger: Any = None
        self._lock = threading.Lock()
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_SIZE)
        self._writer: threading.Thread | None = None
        self._on_unrecorded = on_unrecorded
        self._count_lock = threading.Lock()
        self.unrecorded = 0
        self.recorded = 0

    def _open_default(self) -> Any:
        from openclaw_assets.control.ledger import Ledger, ledger_url
        from openclaw_assets.kernel.settings import profile

        return Ledger.open(self.home, url=ledger_url(profile()))

    def ledger(self) -> Any:
        """The open ledger; LedgerUnavailable if it cannot be opened (tried again on the next call)."""
        from openclaw_assets.control.ledger import LedgerError

        with self._lock:
            if self._ledger is None:
                try:
                    self._ledger = self._opener()
                except LedgerError as exc:
                    raise LedgerUnavailable(str(exc)) from None
            return self._ledger

    def read(self, function: Callable[[Any], Any]) -> Any:
        """``function(ledger)``, with the ledger's errors as LedgerUnavailable."""
        from openclaw_assets.control.ledger import LedgerError

        ledger = self.ledger()
        try:
            return function(ledger)
        except LedgerError as exc:
            raise LedgerUnavailable(str(exc)) from None

    # ------------------------------------------------------------ recording refusals

    def record_denial(self, decision: Any, method: str, route: str, role: str | None, status: int) -> None:
        """Queue a refused request's decision for the ledger; never blocks, never raises."""
        item = {
            "kind": KIND,
            "subject": f"decision:{decision.point}{route}",
            "digest": decision.input_digest,
            "facts": {**decision.facts(), "method": method, "route": route, "role": role, "status": status},
        }
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._unrecorded(1, "the ledger writer is behind")
            return
        if self._writer is None:
            with self._lock:
                if self._writer is None:
                    self._writer = threading.Thread(target=self._write, name="openclaw-ledger-writer", daemon=True)
                    self._writer.start()

    def _write(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._append(batch)
            if stop:
                return

    def _append(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.read(lambda ledger: ledger.append_many(batch))
            with self._count_lock:
                self.recorded += len(batch)
        except Exception as exc:  # the gateway keeps serving; the refusals are counted as unrecorded
            self._unrecorded(len(batch), str(exc))

    def _unrecorded(self, count: int, why: str) -> None:
        with self._count_lock:
            before, self.unrecorded = self.unrecorded, self.unrecorded + count
        if self._on_unrecorded is not None:
            self._on_unrecorded(count)
        if before == 0 or before // 1000 != self.unrecorded // 1000:  # the first, then every thousandth
            log.warning("%d refused requests not recorded in the ledger so far: %s", self.unrecorded, why)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout``), stop the writer and close the ledger."""
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(queue.Full):
                self._queue.put(None, timeout=timeout)
            writer.join(timeout)
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
