"""The provenance ledger as a Dagster resource (key ``ledger``), in the warehouse's home and profile."""

# No `from __future__ import annotations` here: Dagster reads the nested resource type at run time.

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from openclaw_assets.kernel.warehouse import WAREHOUSE, Warehouse

if TYPE_CHECKING:
    from openclaw_assets.control.ledger import Ledger


class ProvenanceLedger(dg.ConfigurableResource):
    """Opens the ledger of this installation: SQLite under the home (embedded) or PostgreSQL (scaleout)."""

    warehouse: Warehouse
    url: str | None = Field(default=None, description="Database URL; default by profile ($OPENCLAW_LEDGER_URL).")
    key_file: str | None = Field(default=None, description="Signing key; default $OPENCLAW_LEDGER_KEY_FILE.")

    def open(self) -> "Ledger":
        """A ledger handle; close it when done (it is a context manager)."""
        from pathlib import Path

        from openclaw_assets.control.ledger import Ledger, ledger_url

        url = self.url or ledger_url(self.warehouse.storage_profile())
        return Ledger.open(self.warehouse.root, url=url, key_file=Path(self.key_file) if self.key_file else None)


LEDGER = ProvenanceLedger(warehouse=WAREHOUSE)
"""The code location's ledger, bound as ``ledger``."""
