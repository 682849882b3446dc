"""The Feast store as a Dagster resource: ``feature_store.yaml`` comes from the storage profile.

embedded (default): file registry, DuckDB offline store over the warehouse's Parquet,
SQLite online store, all under ``$OPENCLAW_HOME/feast``.
scaleout: SQL registry on PostgreSQL, Redis online store, the same offline store.
Connection strings come from the resource's config or, read when the store opens (never at
import), from ``OPENCLAW_FEAST_REGISTRY_URL`` and ``OPENCLAW_REDIS_URL``.
"""

# No `from __future__ import annotations` here: Dagster reads the nested resource type at run time.

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.features.repo import PROJECT
from openclaw_assets.kernel.concurrency import exclusive
from openclaw_assets.kernel.settings import Profile, parse_profile
from openclaw_assets.kernel.warehouse import WAREHOUSE, Warehouse

DEFAULT_REGISTRY_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "127.0.0.1:6379"
REGISTRY_URL_VARIABLE = "OPENCLAW_FEAST_REGISTRY_URL"
REDIS_URL_VARIABLE = "OPENCLAW_REDIS_URL"
ATOMIC_REGISTRY_STORE = "openclaw_assets.features.registry_store.AtomicFileRegistryStore"
"""The embedded profile's registry store: Feast's file store, written by rename."""


def feature_store_config(
    home: Path, profile: Profile | str, registry_url: str, redis_url: str, offline: str = "duckdb"
) -> dict[str, Any]:
    """The content of ``feature_store.yaml`` for a profile."""
    feast_dir = home / "feast"
    config: dict[str, Any] = {
        "project": PROJECT,
        "provider": "local",
        "offline_store": {"type": offline},
        "entity_key_serialization_version": 3,
    }
    if parse_profile(profile) is Profile.SCALEOUT:
        config["registry"] = {
            "registry_type": "sql",
            "path": registry_url,
            "cache_ttl_seconds": 60,
            "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
        }
        config["online_store"] = {"type": "redis", "connection_string": redis_url}
    else:
        config["registry"] = {
            "registry_type": "file",
            "registry_store_type": ATOMIC_REGISTRY_STORE,
            "path": str(feast_dir / "registry.db"),
            "cache_ttl_seconds": 60,
        }
        config["online_store"] = {"type": "sqlite", "path": str(feast_dir / "online.db")}
    return config


class FeastStore(dg.ConfigurableResource):
    """Opens the Feast store for this installation, in the warehouse's storage profile."""

    warehouse: Warehouse
    registry_url: str | None = Field(
        default=None, description=f"SQL registry URL (scaleout); default ${REGISTRY_URL_VARIABLE}."
    )
    redis_url: str | None = Field(
        default=None, description=f"Redis connection string host:port (scaleout); default ${REDIS_URL_VARIABLE}."
    )
    offline: str = Field(default="duckdb", description="Offline store type: duckdb (default) or file (dask).")

    @classmethod
    def at(cls, home: str | Path, profile: str | None = None, **fields: Any) -> "FeastStore":
        """The store of the installation at ``home`` (outside a Dagster run: the gateway, tools, tests)."""
        return cls(warehouse=Warehouse(home=str(home), profile=profile), **fields)

    @property
    def root(self) -> Path:
        return self.warehouse.root

    @property
    def repo_path(self) -> Path:
        return self.root / "feast"

    def config(self) -> dict[str, Any]:
        return feature_store_config(
            self.root,
            self.warehouse.storage_profile(),
            self.registry_url or dg.EnvVar(REGISTRY_URL_VARIABLE).get_value(DEFAULT_REGISTRY_URL) or "",
            self.redis_url or dg.EnvVar(REDIS_URL_VARIABLE).get_value(DEFAULT_REDIS_URL) or "",
            self.offline,
        )

    @property
    def init_lock(self) -> Path:
        """The file lock every process holds while it opens the store (creating the registry the first time)."""
        return self.repo_path / ".init.lock"

    def open(self):
        """Write ``feature_store.yaml`` (atomically) and return a ``feast.FeatureStore`` on it, registry loaded.

        Feast creates the registry when it first loads it and finds none (an empty file, or the
        SQL registry's tables); a process doing so while another applies could overwrite the
        applied registry with an empty one. Each process loads it holding the store's ``init_lock``.
        """
        import yaml
        from feast import FeatureStore

        from openclaw_assets.kernel.atomic import write_bytes_atomic

        self.repo_path.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(self.config(), sort_keys=True).encode()
        target = self.repo_path / "feature_store.yaml"
        with exclusive(self.init_lock):
            if not target.exists() or target.read_bytes() != text:
                write_bytes_atomic(target, text)
            store = FeatureStore(repo_path=str(self.repo_path))
            store.registry  # noqa: B018 (loads the registry, creating it if there is none)
        return store


FEAST = FeastStore(warehouse=WAREHOUSE)
"""The code location's Feast store, bound as ``feast``."""
