"""Feast's file registry store, written by rename instead of in place.

Feast rewrites ``registry.db`` in place (truncate, then write): a process reading it meanwhile
(the gateway, a training set or batch scoring in another run) can see an empty or cut-off
registry. This store writes through ``kernel.atomic``, so a reader sees the previous registry or
the whole new one. ``feature_store.yaml`` names it as the embedded profile's
``registry_store_type``; Feast imports this module only when it opens the registry.
"""

import uuid
from datetime import UTC, datetime

from feast.infra.registry.file import FileRegistryStore

from openclaw_assets.kernel.atomic import write_bytes_atomic


class AtomicFileRegistryStore(FileRegistryStore):
    """A ``FileRegistryStore`` whose every write is atomic (temporary file, fsync, rename)."""

    def update_registry_proto(self, registry_proto) -> None:
        registry_proto.version_id = str(uuid.uuid4())
        registry_proto.last_updated.FromDatetime(datetime.now(UTC))
        write_bytes_atomic(self._filepath, registry_proto.SerializeToString())
