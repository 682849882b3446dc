"""The warehouse as a Dagster resource: partition-aware Parquet reads and atomic writes.

Every plane reads and writes its tables through this one resource, so a missing upstream
partition is always the same clear failure (which file, which asset to materialize), every
write is atomic and deterministic, and every materialization reports its rows and content hash
the same way. The resource also carries the storage profile, the one setting the store
resources of the other planes read (they depend on it; nothing else decides the profile).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets.kernel.settings import Profile, openclaw_home, parse_profile

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def producer(layer: str, table: str, partitioned: bool) -> str:
    """The asset that writes a table, by the naming rule every plane follows."""
    if layer in ("raw", "validated", "quarantine"):
        return f"{layer}_{table}" if partitioned else table
    return table


@dataclass(frozen=True)
class Written:
    """A file the warehouse wrote: where, how many rows, the SHA-256 of its bytes."""

    path: Path
    rows: int
    sha256: str

    def metadata(self) -> dict[str, Any]:
        """The metadata every materialization carries (README: row count and content hash)."""
        from openclaw_assets.kernel.reporting import file_metadata

        return file_metadata(self.path, self.rows, self.sha256)

    def record(self, partition: str | None, **extra: Any) -> dict[str, Any]:
        """One row of a range's partition table."""
        return {"partition": partition or "all", "rows": self.rows, "content_sha256": self.sha256[:16], **extra}


class Warehouse(dg.ConfigurableResource):
    """The landing zone and the Parquet warehouse under ``OPENCLAW_HOME``, and the storage profile."""

    home: str | None = Field(default=None, description="Root of all data; default $OPENCLAW_HOME or ./.openclaw.")
    profile: str | None = Field(
        default=None, description="Storage profile, embedded or scaleout; default $OPENCLAW_PROFILE, else embedded."
    )

    @property
    def root(self) -> Path:
        return openclaw_home(self.home)

    def storage_profile(self) -> Profile:
        """The validated profile: the field if set, else ``OPENCLAW_PROFILE``; an unknown value is an error."""
        import os

        if self.profile is not None:
            return parse_profile(self.profile, "the warehouse resource's profile")
        return parse_profile(os.environ.get("OPENCLAW_PROFILE"))

    def path(self, layer: str, table: str, partition: str | None = None) -> Path:
        return warehouse_file(self.root, layer, table, partition)

    def require(self, layer: str, table: str, partition: str | None = None, why: str = "") -> Path:
        """The file of an upstream table, or a Failure naming the asset (and partition) to materialize."""
        path = self.path(layer, table, partition)
        if not path.exists():
            asset = producer(layer, table, partition is not None)
            which = f"{asset} for {partition}" if partition else asset
            reason = f" ({why})" if why else ""
            raise dg.Failure(description=f"{path} is missing{reason}: materialize {which} first", allow_retries=False)
        return path

    def read(
        self, layer: str, table: str, partition: str | None = None, columns: list[str] | None = None, why: str = ""
    ) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(self.require(layer, table, partition, why), columns=columns)

    def read_many(
        self, layer: str, table: str, partitions: list[str], columns: list[str] | None = None, why: str = ""
    ) -> pd.DataFrame:
        import pandas as pd

        frames = [self.read(layer, table, key, columns, why) for key in partitions]
        return pd.concat(frames, ignore_index=True)

    def write(
        self,
        frame: pd.DataFrame,
        layer: str,
        table: str,
        partition: str | None = None,
        schema: pa.Schema | None = None,
        footer: dict[str, str] | None = None,
    ) -> Written:
        """Write a table's partition atomically (stale temporaries of dead writers removed first)."""
        from openclaw_assets.kernel.atomic import remove_stale_temporaries, write_parquet_atomic

        target = self.path(layer, table, partition)
        remove_stale_temporaries(target.parent)
        rows, sha = write_parquet_atomic(frame, target, schema=schema, metadata=footer)
        return Written(target, rows, sha)


WAREHOUSE = Warehouse.configure_at_launch()
"""The one warehouse resource of the code location, bound as ``warehouse`` by every plane.

Configured at launch (``openclaw run --home`` passes run config; runs the daemon
starts use the defaults), and every store resource depends on it, so one run has one home and
one profile.
"""
