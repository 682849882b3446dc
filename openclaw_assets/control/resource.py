"""The control plane as a Dagster resource: every plane records into the ledger and asks the policies here.

``ledger.record(...)`` appends one entry (the run id, asset, partitions and code version added
from the step's context); ``ledger.decide(...)`` evaluates a decision point's policy and records the
decision (its input digest, the bundle's hash, the result and the reasons) before the caller acts on it.
The ledger lives under ``$OPENCLAW_HOME/ledger/`` (embedded) or in PostgreSQL (scale-out), by the
warehouse's storage profile.
"""

# No `from __future__ import annotations` here: Dagster reads the nested resource type at run time.

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.control import subjects
from openclaw_assets.kernel.warehouse import WAREHOUSE, Warehouse, Written

LEDGER_URL_VARIABLE = "OPENCLAW_LEDGER_URL"
_OPEN: dict[tuple[int, str, str | None], Any] = {}


class DecisionDenied(dg.Failure):
    """A policy denied a decision point; the description lists the policy's reasons."""


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (a figure a failed step could not measure)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _context_facts(context: Any, asset: str | None) -> dict[str, Any]:
    """What a step's context says about the entry: run, asset, partitions, code version."""
    facts: dict[str, Any] = {}
    if context is None:
        return facts
    run = getattr(context, "run", None)
    if run is not None:
        facts["run_id"] = run.run_id
    key = None
    try:
        if asset is not None:
            key = dg.AssetKey.from_user_string(asset)
        elif context.has_assets_def and len(context.assets_def.keys) == 1:
            key = context.assets_def.key
        if key is not None:
            facts["asset"] = key.to_user_string()
            version = context.assets_def.code_versions_by_key.get(key)
            if version:
                facts["code_version"] = version
    except (AttributeError, dg.DagsterInvariantViolationError, KeyError):
        pass
    try:
        if context.has_partition_key:
            keys = list(context.partition_keys)
            facts["partitions"] = keys
    except (AttributeError, dg.DagsterInvariantViolationError):
        pass
    return facts


class ProvenanceLedger(dg.ConfigurableResource):
    """The tamper-evident ledger every plane writes to, and the policies at each decision point."""

    warehouse: Warehouse
    url: str | None = Field(
        default=None, description=f"PostgreSQL URL of the ledger (scaleout); default ${LEDGER_URL_VARIABLE}."
    )

    @classmethod
    def at(cls, home: str | Path, profile: str | None = None, **fields: Any) -> "ProvenanceLedger":
        """The ledger of the installation at ``home`` (outside a Dagster run: sensors, the CLI, tests)."""
        return cls(warehouse=Warehouse(home=str(home), profile=profile), **fields)

    @property
    def root(self) -> Path:
        return self.warehouse.root

    def database_url(self) -> str | None:
        """None for the embedded SQLite ledger under home, else the scale-out PostgreSQL URL."""
        from openclaw_assets.control.ledger import ledger_url

        if self.url:
            return self.url
        return ledger_url(self.warehouse.storage_profile())

    def open(self):
        """The process's open ledger for this home (opened once per process, home and URL)."""
        from openclaw_assets.control.ledger import Ledger

        key = (os.getpid(), str(self.root), self.database_url())
        ledger = _OPEN.get(key)
        if ledger is None:
            ledger = _OPEN[key] = Ledger.open(self.root, url=key[2])
        return ledger

    def resolve(self, inputs: Sequence[str | int]) -> tuple[list[int], list[str]]:
        """Input subjects (or entry numbers) as entry numbers, and the subjects the ledger does not hold."""
        ledger = self.open()
        seqs: list[int] = []
        missing: list[str] = []
        for item in inputs:
            if isinstance(item, int):
                seqs.append(item)
                continue
            entry = ledger.latest(item)
            if entry is None:
                missing.append(item)
            else:
                seqs.append(entry.seq)
        return sorted(set(seqs)), missing

    def record(
        self,
        context: Any,
        kind: str,
        subject: str,
        *,
        digest: str | None = None,
        path: Path | str | None = None,
        inputs: Sequence[str | int] = (),
        facts: Mapping[str, Any] | None = None,
        asset: str | None = None,
    ):
        """Append one entry; input subjects not in the ledger are named in the entry's ``unresolved_inputs``."""
        seqs, missing = self.resolve(inputs)
        all_facts = json_safe({**_context_facts(context, asset), **(facts or {})})
        if missing:
            all_facts["unresolved_inputs"] = missing
        relative = subjects.relative(self.root, path) if path is not None else None
        entry = self.open().append(kind, subject, digest=digest, path=relative, inputs=seqs, facts=all_facts)
        from openclaw_assets.control.openlineage import emit

        emit(self.root, entry, [self.open().entry(s).subject for s in seqs])
        return entry

    def record_file(
        self,
        context: Any,
        written: Written,
        *,
        inputs: Sequence[str | int] = (),
        kind: str = "table",
        asset: str | None = None,
        facts: Mapping[str, Any] | None = None,
    ):
        """Record a warehouse file the step wrote: its table subject, SHA-256, rows and what it was built from."""
        return self.record(
            context,
            kind,
            subjects.table_of_path(self.root, written.path),
            digest=written.sha256,
            path=written.path,
            inputs=inputs,
            facts={"rows": written.rows, **(facts or {})},
            asset=asset,
        )

    def decide(
        self, context: Any, point: str, document: Mapping[str, Any], what: str, inputs: Sequence[str | int] = ()
    ):
        """Evaluate ``point``'s policy on ``document``, record the decision, return it (allowed or not)."""
        from openclaw_assets.control.policy import load_policies

        decision = load_policies().decide(point, document)
        entry = self.record(
            context,
            "decision",
            subjects.decision(point, what),
            digest=decision.input_digest,
            inputs=inputs,
            facts=decision.facts(),
        )
        if context is not None and hasattr(context, "log"):
            verdict = "allowed" if decision.allowed else "denied: " + "; ".join(decision.reasons)
            context.log.info(f"policy {point} for {what}: {verdict} (ledger entry {entry.seq})")
        return decision

    def require(
        self, context: Any, point: str, document: Mapping[str, Any], what: str, inputs: Sequence[str | int] = ()
    ):
        """``decide``, then stop the step with the policy's reasons if it was denied."""
        decision = self.decide(context, point, document, what, inputs)
        if not decision.allowed:
            raise DecisionDenied(
                description=f"policy {point} denied {what}: " + "; ".join(decision.reasons),
                metadata={
                    "policy_point": point,
                    "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
                    "policy_bundle": decision.bundle_hash,
                    "input_digest": decision.input_digest,
                },
                allow_retries=False,
            )
        return decision


LEDGER = ProvenanceLedger(warehouse=WAREHOUSE)
"""The code location's ledger, bound as ``ledger`` by every plane."""
