"""Materialization metadata and check results, the same way for every plane."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from openclaw_assets.kernel.outcomes import Outcome


def file_metadata(path: Path, rows: int, sha: str) -> dict[str, Any]:
    """What every materialization of a file reports: row count, content hash, path."""
    return {"dagster/row_count": rows, "content_sha256": sha, "path": dg.MetadataValue.path(str(path))}


def _column_type(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float"
    return "string"


def table(records: list[dict[str, Any]], columns: list[str] | None = None) -> dg.MetadataValue:
    """Rows of plain values as a typed table the UI can sort (numbers stay numbers)."""
    columns = columns or (list(records[0]) if records else ["(empty)"])
    kinds = {c: _column_type([r.get(c) for r in records]) for c in columns}

    def cell(value: Any, kind: str) -> Any:
        if value is None or (isinstance(value, float) and value != value):
            return None
        return str(value) if kind == "string" else value

    return dg.MetadataValue.table(
        records=[dg.TableRecord({c: cell(r.get(c), kinds[c]) for c in columns}) for r in records],
        schema=dg.TableSchema(columns=[dg.TableColumn(c, kinds[c]) for c in columns]),
    )


def summarise(records: list[dict[str, Any]], per_file: dict[str, Any]) -> dict[str, Any]:
    """Metadata for one materialization: the file's own figures for one partition, a table for a range."""
    if len(records) == 1:
        return per_file
    return {"dagster/row_count": sum(int(r["rows"]) for r in records), "partitions": table(records)}


def check_results(
    asset: str, per_partition: dict[str | None, dict[str, Outcome]], warn_only: frozenset[str] = frozenset()
) -> Iterator[dg.AssetCheckResult]:
    """One result per gate for the run: it passes only if it passed on every partition."""
    names = list(next(iter(per_partition.values())))
    for name in names:
        outcomes = {key: gates[name] for key, gates in per_partition.items()}
        failed = {key: o for key, o in outcomes.items() if not o.passed}
        shown = failed or outcomes
        lines = [f"{key or 'table'}: {o.summary}" for key, o in list(shown.items())[:12]]
        metadata: dict[str, Any] = {"summary": dg.MetadataValue.md("\n\n".join(lines))}
        if len(outcomes) == 1:
            metadata.update(next(iter(outcomes.values())).metadata)
        else:
            metadata["partitions_checked"] = len(outcomes)
            metadata["partitions_failed"] = ", ".join(k for k in failed if k) or "none"
        severity = dg.AssetCheckSeverity.WARN if name in warn_only else dg.AssetCheckSeverity.ERROR
        yield dg.AssetCheckResult(
            asset_key=asset,
            check_name=name,
            passed=not failed,
            metadata=metadata,
            severity=severity,
            description=outcomes[None].summary if list(outcomes) == [None] else "\n".join(lines),
        )
