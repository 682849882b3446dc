"""Lineage in the field's open format: an OpenLineage run event for every ledger entry.

Each entry becomes a ``COMPLETE`` event whose job is the asset (or the entry's kind outside a
step), whose run id is derived from the Dagster run id and the job, whose inputs are the subjects
of the entry's inputs and whose output is its subject. The file transport writes JSON lines to
``$OPENCLAW_HOME/ledger/openlineage.jsonl`` (``OPENCLAW_OPENLINEAGE_FILE`` names another file);
Marquez or any OpenLineage consumer can read them. ``OPENCLAW_OPENLINEAGE=off`` turns it off.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NAMESPACE = "openclaw"
PRODUCER = "https://openclaw.invalid/openclaw-assets"
FILE_VARIABLE = "OPENCLAW_OPENLINEAGE_FILE"
SWITCH_VARIABLE = "OPENCLAW_OPENLINEAGE"
_CLIENTS: dict[tuple[int, str], Any] = {}


def events_file(home: Path) -> Path:
    return Path(os.environ.get(FILE_VARIABLE) or home / "ledger" / "openlineage.jsonl")


def _client(path: Path):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport

    key = (os.getpid(), str(path))
    client = _CLIENTS.get(key)
    if client is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        client = _CLIENTS[key] = OpenLineageClient(transport=FileTransport(FileConfig(str(path), append=True)))
    return client


def run_event(entry: Any, input_subjects: Sequence[str]):
    """The OpenLineage run event of one ledger entry."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    facts = entry.facts
    job = str(facts.get("asset") or entry.kind)
    run_key = f"{facts.get('run_id') or f'ledger-{entry.seq}'}/{job}"
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=entry.recorded_at,
        run=Run(runId=str(uuid.uuid5(uuid.NAMESPACE_URL, run_key))),
        job=Job(namespace=NAMESPACE, name=job),
        producer=PRODUCER,
        inputs=[InputDataset(namespace=NAMESPACE, name=s) for s in input_subjects],
        outputs=[OutputDataset(namespace=NAMESPACE, name=entry.subject)],
    )


def emit(home: Path, entry: Any, input_subjects: Sequence[str]) -> None:
    """Write the entry's run event, unless turned off."""
    if os.environ.get(SWITCH_VARIABLE, "").lower() in ("off", "0", "false"):
        return
    _client(events_file(home)).emit(run_event(entry, input_subjects))
