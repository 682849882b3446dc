"""The paths the contracts promise (see README): one function for each, no plane knowledge."""

from __future__ import annotations

from pathlib import Path

LAYERS = ("raw", "validated", "quarantine", "features", "predictions")
UNPARTITIONED = "all"


def warehouse_file(home: Path, layer: str, table: str, partition: str | None) -> Path:
    """``warehouse/<layer>/<table>/<YYYY-MM>.parquet`` (``all.parquet`` when unpartitioned)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}; layers are {', '.join(LAYERS)}")
    return home / "warehouse" / layer / table / f"{partition or UNPARTITIONED}.parquet"


def table_partitions(home: Path, layer: str, table: str) -> list[Path]:
    """The files of a table that exist, in key order (temporaries excluded)."""
    folder = warehouse_file(home, layer, table, None).parent
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith(".")) if folder.is_dir() else []
