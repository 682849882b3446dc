"""Resources shared by every plane. The storage profile is resolved when a run uses them."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from openclaw_assets.settings import openclaw_home


class Warehouse(dg.ConfigurableResource):
    """The landing zone and the Parquet warehouse under ``OPENCLAW_HOME``."""

    home: str | None = None

    @property
    def root(self) -> Path:
        return openclaw_home(self.home)


warehouse = Warehouse()


def _stores():
    from openclaw_assets.features.store import FeastStore
    from openclaw_assets.models.registry import MlflowStore

    return FeastStore(), MlflowStore()


# One instance of each, shared by every plane's definitions (merging needs the same objects).
feast_store, mlflow_store = _stores()
