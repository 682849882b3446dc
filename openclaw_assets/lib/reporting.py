"""Materialization metadata and check results, the same way for every plane."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from openclaw_assets.data.checks import Outcome


def file_metadata(path: Path, rows: int, sha: str) -> dict[str, Any]:
    return {"dagster/row_count": rows, "content_sha256": sha, "path": dg.MetadataValue.path(str(path))}


def partition_table(records: list[dict[str, Any]]) -> dg.MetadataValue:
    if not records:
        return dg.MetadataValue.md("(no partitions)")
    columns = list(records[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in records]
    return dg.MetadataValue.md("\n".join(lines))


def summarise(records: list[dict[str, Any]], per_file: dict[str, Any]) -> dict[str, Any]:
    """Metadata for one materialization: the file's own figures for one partition, a table for a range."""
    if len(records) == 1:
        return per_file
    return {
        "dagster/row_count": sum(int(r["rows"]) for r in records),
        "partitions": partition_table(records),
    }


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
            asset_key=asset, check_name=name, passed=not failed, metadata=metadata, severity=severity
        )
