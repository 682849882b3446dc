"""``openclaw lineage``: from an output back to the drops it was built from, or from a drop forward.

A target is a model version (``3``, ``v3``, ``champion``, ``model:flight_delay/3``), a table
partition (``validated/flights/2013-01``, ``validated_flights:2013-01``, ``table:...``), a
gateway request id, or a drop (``landing/flights/flights_2013-01.csv``, a drop's file name, or
``drop:...``). Outputs are traced back through the entries' recorded inputs; a drop is traced
forward through every entry that lists it, directly or not.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openclaw_assets.control import subjects

DEFAULT_MODEL = "flight_delay"
ALIASES = ("champion", "challenger")


class LineageError(Exception):
    """A target the ledger cannot resolve; the message says what was looked for."""


@dataclass(frozen=True)
class Target:
    entry: Any
    forward: bool
    note: str = ""


def _champion(ledger: Any, model: str) -> str | None:
    for entry in reversed(ledger.find(kind=None, subject_prefix=f"deployment:{model}")):
        champion = entry.facts.get("champion")
        if champion:
            return str(champion)
    return None


def _latest(ledger: Any, subject: str, text: str) -> Any:
    entry = ledger.latest(subject)
    if entry is None:
        raise LineageError(f"the ledger holds no entry for {subject} ({text!r})")
    return entry


def resolve(
    ledger: Any, home: Path, text: str, model: str = DEFAULT_MODEL, find_request: Callable[..., Any] | None = None
) -> Target:
    """The entry a target names, and whether to trace it forward (a drop) or back (anything else).

    ``find_request(home, request_id)`` finds a request's prediction-log segment and lines (the
    gateway's log format is the compute plane's; the CLI passes its reader in).
    """
    value = text.strip()
    if value in ALIASES:
        if value == "challenger":
            models = ledger.find(kind="model", subject_prefix=f"model:{model}/")
            if not models:
                raise LineageError(f"the ledger holds no version of {model}")
            return Target(models[-1], False, f"newest registered version of {model}")
        version = _champion(ledger, model)
        if version is None:
            raise LineageError(f"the ledger records no deployment of {model}: no champion to trace")
        return Target(_latest(ledger, subjects.model(model, version), value), False, f"champion is v{version}")
    if re.fullmatch(r"v?\d+", value):
        return Target(_latest(ledger, subjects.model(model, value.lstrip("v")), value), False)
    if re.fullmatch(r"[0-9a-f]{32}", value) and find_request is not None:
        return _request(ledger, home, value, model, find_request)
    if value.startswith(("model:", "table:", "evaluation:", "deployment:", "decision:", "readiness:", "staging:")) or (
        value.startswith("prediction_log:") or value == subjects.REGISTRY
    ):
        return Target(_latest(ledger, value, value), False)
    if value.startswith("drop:"):
        return Target(_latest(ledger, value, value), True)
    match = re.fullmatch(r"(raw|validated|quarantine)_(\w+)[:/](\d{4}-\d{2}|all)", value)
    if match:
        return Target(_latest(ledger, subjects.table(match[1], match[2], match[3]), value), False)
    parts = value.strip("/").split("/")
    if len(parts) == 3 and parts[0] in ("raw", "validated", "quarantine", "features", "predictions"):
        return Target(_latest(ledger, subjects.table(*parts), value), False)
    if len(parts) == 2 and parts[0] in ("features", "predictions", "validated", "raw"):
        return Target(_latest(ledger, subjects.table(parts[0], parts[1], None), value), False)
    drops = [e for e in ledger.find(kind="drop") if e.subject.endswith("/" + value) or e.subject == f"drop:{value}"]
    if drops:
        return Target(drops[-1], True)
    raise LineageError(
        f"{text!r} is not a model version, table partition, request id or drop the ledger knows "
        "(try 3, champion, validated/flights/2013-01, landing/flights/flights_2013-01.csv)"
    )


def _request(ledger: Any, home: Path, request_id: str, model: str, find_request: Callable[..., Any]) -> Target:
    found = find_request(home, request_id)
    if found is None:
        raise LineageError(f"no prediction log line has request id {request_id}")
    path, lines = found
    versions = sorted({str(line.get("model_version")) for line in lines})
    segment = ledger.latest(f"prediction_log:{subjects.relative(home, path)}")
    note = f"request {request_id}: {len(lines)} prediction(s) by v{', v'.join(versions)} in {path.name}"
    if segment is not None:
        return Target(segment, False, note)
    entry = _latest(ledger, subjects.model(model, versions[0]), request_id)
    return Target(entry, False, note + " (segment still open: traced from the model)")


def _label(entry: Any) -> str:
    facts = entry.facts
    extra = []
    if entry.digest:
        extra.append(f"sha256 {entry.digest[:12]}")
    if "rows" in facts:
        extra.append(f"{facts['rows']:,} rows")
    if entry.kind == "decision":
        extra.append("allowed" if facts.get("allowed") else "denied")
    if facts.get("run_id"):
        extra.append(f"run {str(facts['run_id'])[:8]}")
    return f"{entry.subject}  [{entry.kind} #{entry.seq}{', ' + ', '.join(extra) if extra else ''}]"


def trace(ledger: Any, target: Target) -> tuple[list[str], dict[str, list[str]]]:
    """The lines of the tree from the target (each entry once) and the sources or outputs reached, by kind."""
    lines: list[str] = []
    seen: set[int] = set()
    reached: dict[str, list[str]] = {}
    stack: list[tuple[Any, int]] = [(target.entry, 0)]
    while stack:
        entry, depth = stack.pop()
        indent = "  " * depth + ("└─ " if depth else "")
        if entry.seq in seen:
            lines.append(f"{indent}{entry.subject}  (above)")
            continue
        seen.add(entry.seq)
        lines.append(indent + _label(entry))
        nexts = ledger.children(entry.seq) if target.forward else [ledger.entry(s) for s in entry.inputs]
        if not nexts or target.forward:
            reached.setdefault(entry.kind, []).append(entry.subject)
        for child in sorted(nexts, key=lambda e: e.seq, reverse=True):
            stack.append((child, depth + 1))
    return lines, reached


def describe(ledger: Any, target: Target) -> str:
    """The whole answer as text."""
    lines, reached = trace(ledger, target)
    direction = "built from it" if target.forward else "what it was built from"
    head = [f"{target.entry.subject}: {direction}" + (f" ({target.note})" if target.note else "")]
    if target.forward:
        counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(reached.items()) if k != "drop")
        summary = f"reaches {counts or 'nothing yet'}"
    else:
        drops = sorted(set(reached.get("drop", [])))
        summary = f"from {len(drops)} drop(s): " + ", ".join(d.removeprefix("drop:") for d in drops[:6])
        summary += " ..." if len(drops) > 6 else ""
    return "\n".join([*head, *lines, summary])
