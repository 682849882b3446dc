"""The Feast store as a Dagster resource: ``feature_store.yaml`` comes from the storage profile.

embedded (default): file registry, DuckDB offline store over the warehouse's Parquet,
SQLite online store, all under ``$OPENCLAW_HOME/feast``.
scaleout: SQL registry on PostgreSQL, Redis online store, the same offline store.
Connection strings come from the resource's config or, at run time, from
``OPENCLAW_FEAST_REGISTRY_URL`` and ``OPENCLAW_REDIS_URL``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.settings import openclaw_home
from openclaw_assets.settings import profile as current_profile

DEFAULT_REGISTRY_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "127.0.0.1:6379"


def feature_store_config(
    home: Path, profile: str, registry_url: str, redis_url: str, offline: str = "duckdb"
) -> dict[str, Any]:
    """The content of ``feature_store.yaml`` for a profile."""
    feast_dir = home / "feast"
    config: dict[str, Any] = {
        "project": "openclaw",
        "provider": "local",
        "offline_store": {"type": offline},
        "entity_key_serialization_version": 3,
    }
    if profile == "scaleout":
        config["registry"] = {
            "registry_type": "sql",
            "path": registry_url,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        }
        config["online_store"] = {"type": "redis", "connection_string": redis_url}
    else:
        config["registry"] = {"registry_type": "file", "path": str(feast_dir / "registry.db"), "cache_ttl_seconds": 60}
        config["online_store"] = {"type": "sqlite", "path": str(feast_dir / "online.db")}
    return config


class FeastStore(dg.ConfigurableResource):
    """Opens the Feast store for this installation and storage profile."""

    home: str | None = Field(default=None, description="OPENCLAW_HOME override.")
    profile: str | None = Field(default=None, description="embedded or scaleout; default OPENCLAW_PROFILE.")
    registry_url: str | None = Field(default=None, description="SQL registry URL (scaleout).")
    redis_url: str | None = Field(default=None, description="Redis connection string host:port (scaleout).")
    offline: str = Field(default="duckdb", description="Offline store type: duckdb (default) or file (dask).")

    @property
    def root(self) -> Path:
        return openclaw_home(self.home)

    @property
    def repo_path(self) -> Path:
        return self.root / "feast"

    def config(self) -> dict[str, Any]:
        return feature_store_config(
            self.root,
            self.profile or current_profile(),
            self.registry_url or os.environ.get("OPENCLAW_FEAST_REGISTRY_URL", DEFAULT_REGISTRY_URL),
            self.redis_url or os.environ.get("OPENCLAW_REDIS_URL", DEFAULT_REDIS_URL),
            self.offline,
        )

    def open(self):
        """Write ``feature_store.yaml`` (atomically) and return a ``feast.FeatureStore`` on it."""
        import warnings

        import yaml

        # Run logs, not terminals: no progress bars, and no deprecation notices from inside ibis.
        os.environ.setdefault("TQDM_DISABLE", "1")
        warnings.filterwarnings("ignore", message=".*fetch_arrow_table.*", category=DeprecationWarning)
        from feast import FeatureStore

        from openclaw_assets.lib.atomic import write_bytes_atomic

        self.repo_path.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.config(), sort_keys=True).encode()
        target = self.repo_path / "feature_store.yaml"
        if not target.exists() or target.read_bytes() != text:
            write_bytes_atomic(target, text)
        return FeatureStore(repo_path=str(self.repo_path))
