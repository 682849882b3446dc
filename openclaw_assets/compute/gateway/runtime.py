"""What the gateway serves: models resolved by alias, features read online, rows scored.

A ``Snapshot`` (champion, challenger, split) is immutable. The refresher builds a new one
when an alias or the deployment record changes, loading any new version first, and then
swaps one reference; a request holds the snapshot it started with, so a switch never fails
a request in flight. Loaded versions stay cached, so going back to a previous champion
(a rollback) costs no load.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openclaw_assets.compute import record
from openclaw_assets.features.repo import FEATURE_SERVICE
from openclaw_assets.models.registry import CHALLENGER, CHAMPION, alias_version

log = logging.getLogger("openclaw.gateway")
CACHED_VERSIONS = 4


@dataclass(frozen=True)
class Served:
    """A registered version and its model: ``models.pyfunc.FlightDelayModel``, loaded from the registry."""

    version: str
    model: Any


@dataclass(frozen=True)
class Snapshot:
    champion: Served | None
    challenger: Served | None
    challenger_share: float
    pinned: str | None
    loaded_at: str

    def route(self, key: str) -> tuple[str, Served]:
        """Sticky assignment: the same key always lands on the same variant for a given split."""
        if self.pinned == CHALLENGER and self.challenger is not None:
            return CHALLENGER, self.challenger
        if self.champion is None:
            raise NotReady("no champion model is registered")
        if self.challenger is not None and self.challenger_share > 0 and bucket(key) < self.challenger_share:
            return CHALLENGER, self.challenger
        return CHAMPION, self.champion


class NotReady(Exception):
    """The gateway cannot answer yet (no model, no feature store); served as 503."""


def _first_line(exc: BaseException, limit: int = 240) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else ""


def bucket(key: str) -> float:
    """A uniform number in [0, 1) from the key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class Window:
    """Per-version outcomes over the last ``seconds``: the rollback sensor's live signal."""

    seconds: float = 60.0
    events: dict[str, deque] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, version: str, latency: float, error: bool) -> None:
        with self.lock:
            self.events.setdefault(version, deque(maxlen=50_000)).append((time.monotonic(), latency, error))

    def stats(self) -> list[dict[str, Any]]:
        import numpy as np

        cutoff = time.monotonic() - self.seconds
        out = []
        with self.lock:
            items = {v: [e for e in q if e[0] >= cutoff] for v, q in self.events.items()}
        for version, events in sorted(items.items()):
            latencies = np.array([e[1] for e in events]) * 1000
            errors = sum(1 for e in events if e[2])
            out.append(
                {
                    "version": version,
                    "requests": len(events),
                    "errors": errors,
                    "error_rate": errors / len(events) if events else 0.0,
                    "p50_ms": float(np.percentile(latencies, 50)) if len(events) else None,
                    "p99_ms": float(np.percentile(latencies, 99)) if len(events) else None,
                }
            )
        return out


class Runtime:
    """Holds the current snapshot, the feature store and the model cache for one gateway process."""

    def __init__(self, home: Path, pin: str | None = None, poll_seconds: float = 2.0) -> None:
        self.home = home
        self.pin = pin
        self.poll_seconds = poll_seconds
        self.snapshot: Snapshot | None = None
        self.store: Any = None
        self.service: Any = None
        self.last_error: str | None = None
        self.model_name = ""
        self._client: Any = None
        self._cache: dict[str, Served] = {}
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_swap: Any = None

    # --- start and stop -------------------------------------------------------------------
    def open(self) -> None:
        from feast.errors import FeatureServiceNotFoundException

        from openclaw_assets.features.store import FeastStore
        from openclaw_assets.models.registry import MlflowStore

        mlflow_store = MlflowStore.at(self.home)
        self.model_name = mlflow_store.model_name
        self._client = mlflow_store.client()
        try:
            store = FeastStore.at(self.home).open()
            service = store.get_feature_service(FEATURE_SERVICE)
        except FeatureServiceNotFoundException:
            raise NotReady(f"feature service {FEATURE_SERVICE} is not registered: materialize feast_registry") from None
        except Exception as exc:  # the registry itself: a database that does not answer, a file it cannot read
            raise NotReady(
                f"the Feast registry could not be read, so feature service {FEATURE_SERVICE} was not looked up: "
                f"{type(exc).__name__}: {_first_line(exc)}"
            ) from exc
        self.store, self.service = store, service
        self.refresh()
        self.warm()

    def warm(self) -> None:
        """One read and one score before the first request, so that it does not pay for first use."""
        from datetime import datetime as _dt

        from openclaw_assets.compute.gateway.contract import Flight
        from openclaw_assets.models.training import FEATURES

        flight = Flight(
            flight_id="warm-up",
            carrier="UA",
            origin="EWR",
            dest="IAH",
            scheduled_departure=_dt(2013, 12, 1, 6),
            distance=1400,
        )
        features = self.features([flight])
        snapshot = self.snapshot
        served = None if snapshot is None else (snapshot.challenger if snapshot.pinned else snapshot.champion)
        if served is not None:
            from openclaw_assets.features.entities import request_fields

            score(served, {**request_fields([flight]), **{k: v for k, v in features.items() if k in FEATURES}})

    def start_polling(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="openclaw-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                if self.store is None:  # not opened at startup: try again
                    self.open()
                else:
                    self.refresh()
            except NotReady as exc:
                self.last_error = str(exc)
            except Exception as exc:  # keep serving the last good snapshot
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("refresh failed, still serving the previous snapshot: %s", self.last_error)

    # --- resolving aliases ----------------------------------------------------------------
    def _alias(self, alias: str) -> str | None:
        """The version behind an alias, or None if it has none; a registry outage raises (``_poll`` keeps serving)."""
        found = alias_version(self._client, self.model_name, alias)
        return None if found is None else str(found.version)

    def _load(self, version: str) -> Served:
        if version not in self._cache:
            import mlflow

            started = time.perf_counter()
            pyfunc = mlflow.pyfunc.load_model(f"models:/{self.model_name}/{version}")
            self._cache[version] = Served(version, pyfunc.unwrap_python_model())
            log.info("loaded %s v%s in %.2fs", self.model_name, version, time.perf_counter() - started)
            while len(self._cache) > CACHED_VERSIONS:
                self._cache.pop(next(iter(self._cache)))
        return self._cache[version]

    def refresh(self) -> Snapshot:
        """Re-resolve the aliases and the split; swap in a new snapshot if anything changed."""
        with self._refresh_lock:
            champion_v = self._alias(CHAMPION)
            challenger_v = self._alias(CHALLENGER)
            current = record.read_current(self.home) or {}
            # live A/B traffic only for the challenger the deployment step validated
            share = float(current.get("challenger_share") or 0.0)
            if challenger_v is None or str(current.get("challenger")) != challenger_v or challenger_v == champion_v:
                share = 0.0
            if not (share > 0 or self.pin):
                challenger_v = None  # no traffic for it: do not load it
            old = self.snapshot
            wanted = (champion_v, challenger_v, share)
            if old is not None and wanted == (
                old.champion.version if old.champion else None,
                old.challenger.version if old.challenger else None,
                old.challenger_share,
            ):
                return old
            champion = self._load(champion_v) if champion_v else None
            challenger = self._load(challenger_v) if challenger_v else None
            self.snapshot = Snapshot(
                champion, challenger, share, self.pin, datetime.now(UTC).isoformat(timespec="milliseconds")
            )
            self.last_error = None
            log.info("serving champion=%s challenger=%s share=%.2f pin=%s", champion_v, challenger_v, share, self.pin)
            if self.on_swap:
                self.on_swap(self.snapshot)
            return self.snapshot

    # --- features and scoring -------------------------------------------------------------
    def features(self, flights: list[Any]) -> dict[str, list]:
        """The feature service's values for each flight's entities, by column (as ``OnlineResponse.to_dict()``)."""
        from openclaw_assets.features.entities import online_entities

        entities = online_entities(flights)
        return online_columns(self.store.get_online_features(features=self.service, entity_rows=entities))


_PLAIN_VALUES = frozenset({"int64_val", "int32_val", "double_val", "float_val", "string_val", "bool_val"})
"""Value fields whose Python value is the field itself (``feast_value_type_to_python_type`` returns it as is)."""


def online_columns(response: Any) -> dict[str, list]:
    """``response.to_dict()``, value for value, at a fraction of its cost.

    ``to_dict`` sends every value through Feast's general converter, which tests for each
    kind of value in turn; a 100-row request of this service holds 4,300 values. Here the
    scalar fields come out as they are (the service's features are all int, float or string
    kinds, see ``features.repo``), unix timestamps become UTC datetimes as Feast makes them, and
    any other field still goes through Feast's converter.
    """
    from feast.type_map import NULL_TIMESTAMP_INT_VALUE, feast_value_type_to_python_type

    proto = response.proto
    out: dict[str, list] = {}
    for name, vector in zip(proto.metadata.feature_names.val, proto.results, strict=True):
        column: list = []
        add = column.append
        for value in vector.values:
            field = value.WhichOneof("val")
            if field is None:
                add(None)
            elif field in _PLAIN_VALUES:
                add(getattr(value, field))
            elif field == "unix_timestamp_val":
                seconds = value.unix_timestamp_val
                add(None if seconds == NULL_TIMESTAMP_INT_VALUE else datetime.fromtimestamp(seconds, tz=UTC))
            else:
                add(feast_value_type_to_python_type(value))
        out[name] = column
    return out


def score(served: Served, columns: dict[str, list]) -> tuple[Any, list[str]]:
    """Probabilities and out-of-range flags (comma-separated feature names) for columns of inputs,
    by the registered model's own code (``FlightDelayModel.score``): no second copy of its preprocessing."""
    return served.model.score(columns)
