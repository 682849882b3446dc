"""The pipeline's metrics for Prometheus, read from the Dagster instance at scrape time.

Dagster runs are short-lived processes, so nothing pushes: ``PipelineCollector`` is a
prometheus_client custom collector that, on every scrape, reads the latest materializations
and check evaluations of the assets it names by key and turns their metadata into gauges.
It imports no plane: what it needs to know of the code location (its checks and whether each
blocks) is handed to it, and the asset keys it reads are the strings in ``Sources``.

Dagster 1.13 has no public instance method for check results; like the control plane's
evidence, this reads the event log storage's check execution records.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from openclaw_assets.observability.drift import STATISTICS as DRIFT_STATISTICS

log = logging.getLogger("openclaw.metrics")

UNPARTITIONED = "all"
"""The ``partition`` label of an unpartitioned table or asset (the warehouse's own word for it)."""


# a drift asset reports per feature family "<family>/<statistic>" float metadata, statistics from drift.py
_DRIFT_KEY = re.compile(rf"^(?P<family>[A-Za-z0-9_]+)/(?P<statistic>{'|'.join(DRIFT_STATISTICS)})$")
_LIVE_KEY = re.compile(r"^v(?P<version>[^_]+)_(?P<metric>auc|brier)$")
_PAGE = 100


@dataclass(frozen=True)
class Sources:
    """The assets the exporter reads, by key; the defaults are this code location's."""

    partitioned_tables: tuple[str, ...] = ("flights", "weather")
    """Monthly tables: rows in ``validated_<table>``, rejects in ``quarantine_<table>``."""
    reference_tables: tuple[str, ...] = ("airlines", "airports", "planes")
    """Unpartitioned tables: one asset each, its rejects in ``quarantined_rows`` metadata."""
    drift: tuple[str, ...] = ("feature_drift", "live_drift")
    online_store: str = "online_features"
    newest_data: str = "validated_flights"
    """The table whose newest month the online store should reach."""
    evaluation: str = "model_evaluation"
    deployment: str = "production_deployment"
    live: str = "ab_results"
    batch: str = "batch_predictions"

    def asset_keys(self) -> list[str]:
        """Every asset key string the exporter reads."""
        tables = [f"{layer}_{t}" for t in self.partitioned_tables for layer in ("validated", "quarantine")]
        single = [self.online_store, self.newest_data, self.evaluation, self.deployment, self.live, self.batch]
        return list(dict.fromkeys([*tables, *self.reference_tables, *self.drift, *single]))


@dataclass(frozen=True)
class Family:
    """One metric the collector exports: name, type, help and label names."""

    name: str
    help: str
    labels: tuple[str, ...] = ()


FAMILIES: tuple[Family, ...] = (
    Family("openclaw_pipeline_rows_ingested", "Validated rows of the latest materialization", ("table", "partition")),
    Family(
        "openclaw_pipeline_rows_quarantined", "Quarantined rows of the latest materialization", ("table", "partition")
    ),
    Family(
        "openclaw_pipeline_gate_passed",
        "Latest result of each asset check (1 passed, 0 failed)",
        ("asset", "check", "severity", "blocking"),
    ),
    Family(
        "openclaw_pipeline_gate_evaluated_timestamp_seconds", "When each check was last evaluated", ("asset", "check")
    ),
    Family(
        "openclaw_drift_score",
        "Worst feature's drift score in a family (PSI, KS statistic, Jensen-Shannon distance, null share's rise)",
        ("asset", "partition", "family", "statistic"),
    ),
    Family(
        "openclaw_pipeline_drifted_features",
        "Features over their drift threshold (latest: whether the partition is the asset's newest)",
        ("asset", "partition", "latest"),
    ),
    Family(
        "openclaw_pipeline_last_materialization_timestamp_seconds",
        "When each asset was last materialized",
        ("asset",),
    ),
    Family("openclaw_pipeline_freshness_lag_seconds", "Seconds since each asset was last materialized", ("asset",)),
    Family(
        "openclaw_pipeline_online_store_until_timestamp_seconds",
        "End of the newest data the online store holds (event time)",
    ),
    Family(
        "openclaw_pipeline_online_store_lag_seconds",
        "How far the online store's newest data is behind the end of the newest validated month (0: caught up)",
    ),
    Family("openclaw_pipeline_champion_version", "Model version behind the champion alias"),
    Family("openclaw_pipeline_champion_holdout_auc", "The champion's AUC on its holdout months"),
    Family("openclaw_pipeline_challenger_share", "Share of traffic the deployment sends to the challenger"),
    Family(
        "openclaw_pipeline_evaluation_holdout_auc",
        "Holdout AUC of the latest evaluated model version",
        ("model_version",),
    ),
    Family("openclaw_pipeline_evaluation_auc_floor", "The AUC floor the latest evaluation applied"),
    Family(
        "openclaw_pipeline_live_auc",
        "AUC on arrived outcomes of logged predictions (served: whether the latest deployment serves the version)",
        ("model_version", "served"),
    ),
    Family(
        "openclaw_pipeline_live_brier",
        "Brier score on arrived outcomes of logged predictions (served: as for live AUC)",
        ("model_version", "served"),
    ),
    Family("openclaw_pipeline_batch_rows", "Flights scored by batch predictions", ("partition", "model_version")),
    Family("openclaw_pipeline_batch_rows_per_second", "Batch scoring throughput", ("partition", "model_version")),
    Family("openclaw_pipeline_exporter_up", "Whether the last scrape read the Dagster instance (1) or failed (0)"),
    Family("openclaw_pipeline_exporter_scrape_seconds", "Time the last scrape took to read the instance"),
)
"""Every metric ``PipelineCollector`` exports, all gauges."""


def _number(value: Any) -> float | None:
    """A metadata value as a finite float, or None (text, NaN, missing)."""
    value = getattr(value, "value", value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    value = getattr(value, "value", value)
    return None if value is None else str(value)


def _timestamp(text: str | None) -> float | None:
    """An ISO date-time (as ``str(datetime)`` writes it) as Unix seconds; naive times are UTC."""
    if not text or text == "None":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _month_end(month: str) -> float | None:
    """The end of a month partition (a New York calendar month, as the pipeline's) as Unix seconds."""
    from openclaw_assets.kernel.months import MonthError, month_bounds

    try:
        return month_bounds(month)[1].timestamp()
    except (MonthError, ValueError):
        return None


def _partition_rows(metadata: Mapping[str, Any], partition: str, column: str = "rows") -> float | None:
    """A partition's figure from a range materialization's ``partitions`` table, if it has one."""
    table = metadata.get("partitions")
    for record in getattr(table, "records", None) or ():
        data = record.data
        if str(data.get("partition")) == partition:
            return _number(data.get(column))
    return None


class PipelineCollector:
    """Gauges of rows, gates, drift, freshness, models and batch throughput, read at each scrape.

    ``checks`` maps ``"<asset>:<check>"`` to whether the check is blocking (the code location's
    specs); a check's own evaluation says so too, and wins when it does. ``clock`` gives now.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        checks: Mapping[str, bool | None],
        sources: Sources | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.instance, self.sources, self.clock = instance, sources or Sources(), clock
        self.checks = {name: bool(blocking) for name, blocking in checks.items()}
        self._lock = threading.Lock()  # one scrape reads the instance at a time
        self._entries: dict[str, Any] = {}

    def describe(self) -> list:
        """The families without samples: what ``collect`` may export (prometheus_client registers by these)."""
        return [self._family(f) for f in FAMILIES]

    @staticmethod
    def _family(family: Family):
        from prometheus_client.core import GaugeMetricFamily

        return GaugeMetricFamily(family.name, family.help, labels=list(family.labels))

    def collect(self) -> Iterator:
        families = {f.name: self._family(f) for f in FAMILIES}
        started = time.perf_counter()
        try:
            with self._lock:
                samples = list(self.samples())
        except Exception as exc:  # the scrape still answers: up 0 says the instance could not be read
            log.exception("reading the Dagster instance failed: %s", exc)
            samples, up = [], 0.0
        else:
            up = 1.0
        for name, labels, value in samples:
            families[name].add_metric([labels[label] for label in _labels(name)], value)
        families["openclaw_pipeline_exporter_up"].add_metric([], up)
        families["openclaw_pipeline_exporter_scrape_seconds"].add_metric([], time.perf_counter() - started)
        yield from families.values()

    def samples(self) -> Iterator[tuple[str, dict[str, str], float]]:
        """(metric, labels, value) for everything the instance holds now."""
        keys = [dg.AssetKey(name) for name in self.sources.asset_keys()]
        # one query for every asset's latest materialization; the rest read only what exists
        self._entries = {
            r.asset_entry.asset_key.to_user_string(): r.asset_entry for r in self.instance.get_asset_records(keys)
        }
        yield from self._tables()
        yield from self._gates()
        yield from self._drift()
        yield from self._freshness()
        yield from self._models()
        yield from self._live()
        yield from self._batch()

    # --- reading the instance ------------------------------------------------------------------

    def _latest(self, asset: str):
        """The latest materialization's event log entry of ``asset`` (None if never materialized)."""
        entry = self._entries.get(asset)
        return entry.last_materialization if entry is not None else None

    def _by_partition(self, asset: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
        """(partition, metadata) of the latest materialization of each partition of ``asset``."""
        if self._latest(asset) is None:
            return
        key = dg.AssetKey(asset)
        latest = self.instance.get_latest_storage_id_by_partition(key, dg.DagsterEventType.ASSET_MATERIALIZATION)
        ids = sorted(latest.values())
        for start in range(0, len(ids), _PAGE):
            chunk = ids[start : start + _PAGE]
            found = self.instance.fetch_materializations(
                dg.AssetRecordsFilter(key, storage_ids=chunk), limit=len(chunk)
            )
            for record in found.records:
                materialization = record.asset_materialization
                if materialization is not None and materialization.partition is not None:
                    yield materialization.partition, materialization.metadata

    def _tables(self) -> Iterator[tuple[str, dict[str, str], float]]:
        for table in self.sources.partitioned_tables:
            for metric, layer in (("rows_ingested", "validated"), ("rows_quarantined", "quarantine")):
                for partition, metadata in self._by_partition(f"{layer}_{table}"):
                    rows = _partition_rows(metadata, partition)
                    rows = rows if rows is not None else _number(metadata.get("dagster/row_count"))
                    if rows is not None:
                        yield f"openclaw_pipeline_{metric}", {"table": table, "partition": partition}, rows
        for table in self.sources.reference_tables:
            event = self._latest(table)
            if event is None or event.asset_materialization is None:
                continue
            metadata = event.asset_materialization.metadata
            labels = {"table": table, "partition": UNPARTITIONED}
            for metric, field in (("rows_ingested", "dagster/row_count"), ("rows_quarantined", "quarantined_rows")):
                value = _number(metadata.get(field))
                if value is not None:
                    yield f"openclaw_pipeline_{metric}", labels, value

    def _gates(self) -> Iterator[tuple[str, dict[str, str], float]]:
        storage = self.instance.event_log_storage
        keys = {
            name: dg.AssetCheckKey(dg.AssetKey(name.split(":", 1)[0]), name.split(":", 1)[1]) for name in self.checks
        }
        latest = storage.get_latest_asset_check_execution_by_key(list(keys.values()))
        for name, key in keys.items():
            record = latest.get(key)
            if record is not None and record.evaluation is None:  # planned (a run in flight): the one before
                record = next(
                    (r for r in storage.get_asset_check_execution_history(key, limit=20) if r.evaluation), None
                )
            if record is None or record.evaluation is None:
                continue
            evaluation = record.evaluation
            blocking = evaluation.blocking if evaluation.blocking is not None else self.checks[name]
            asset, check = name.split(":", 1)
            labels = {
                "asset": asset,
                "check": check,
                "severity": evaluation.severity.value.lower(),
                "blocking": "true" if blocking else "false",
            }
            yield "openclaw_pipeline_gate_passed", labels, 1.0 if evaluation.passed else 0.0
            yield (
                "openclaw_pipeline_gate_evaluated_timestamp_seconds",
                {"asset": asset, "check": check},
                float(record.create_timestamp),
            )

    def _drift(self) -> Iterator[tuple[str, dict[str, str], float]]:
        for asset in self.sources.drift:
            found = list(self._by_partition(asset))
            if not found:
                event = self._latest(asset)
                if event is not None and event.asset_materialization is not None:
                    found = [(UNPARTITIONED, event.asset_materialization.metadata)]
            newest = max(partition for partition, _ in found) if found else None  # months sort as text
            for partition, metadata in found:
                for field, value in metadata.items():
                    match, score = _DRIFT_KEY.match(field), _number(value)
                    if match and score is not None:
                        labels = {"asset": asset, "partition": partition, **match.groupdict()}
                        yield "openclaw_drift_score", labels, score
                drifted = _number(metadata.get("drifted_features"))
                if drifted is not None:
                    latest = "true" if partition == newest else "false"
                    labels = {"asset": asset, "partition": partition, "latest": latest}
                    yield "openclaw_pipeline_drifted_features", labels, drifted

    def _freshness(self) -> Iterator[tuple[str, dict[str, str], float]]:
        now = self.clock()
        for asset, entry in self._entries.items():
            last = entry.last_materialization_record
            if last is None:
                continue
            labels = {"asset": asset}
            yield "openclaw_pipeline_last_materialization_timestamp_seconds", labels, float(last.timestamp)
            yield "openclaw_pipeline_freshness_lag_seconds", labels, max(0.0, now - float(last.timestamp))
        event = self._latest(self.sources.online_store)
        if event is None or event.asset_materialization is None:
            return
        until = _timestamp(_text(event.asset_materialization.metadata.get("online_until")))
        if until is None:
            return
        yield "openclaw_pipeline_online_store_until_timestamp_seconds", {}, until
        months = self.instance.get_materialized_partitions(dg.AssetKey(self.sources.newest_data))
        ends = [end for end in (_month_end(m) for m in months) if end is not None]
        if ends:
            yield "openclaw_pipeline_online_store_lag_seconds", {}, max(0.0, max(ends) - until)

    def _models(self) -> Iterator[tuple[str, dict[str, str], float]]:
        deployment = self._latest(self.sources.deployment)
        champion = None
        if deployment is not None and deployment.asset_materialization is not None:
            metadata = deployment.asset_materialization.metadata
            champion = _text(metadata.get("champion_version"))
            share = _number(metadata.get("challenger_share"))
            yield from [("openclaw_pipeline_challenger_share", {}, share)] if share is not None else []
        if champion is not None and champion.isdigit():
            yield "openclaw_pipeline_champion_version", {}, float(champion)
        evaluation = self._latest(self.sources.evaluation)
        if evaluation is not None and evaluation.asset_materialization is not None:
            metadata = evaluation.asset_materialization.metadata
            version, auc = _text(metadata.get("model_version")), _number(metadata.get("holdout_auc"))
            if version is not None and auc is not None:
                yield "openclaw_pipeline_evaluation_holdout_auc", {"model_version": version}, auc
            floor = _number(metadata.get("auc_floor"))
            yield from [("openclaw_pipeline_evaluation_auc_floor", {}, floor)] if floor is not None else []
        if champion is not None:
            auc = self._holdout_auc(champion)
            if auc is not None:
                yield "openclaw_pipeline_champion_holdout_auc", {}, auc

    def _holdout_auc(self, version: str, limit: int = 1000) -> float | None:
        """The holdout AUC of the newest evaluation of ``version`` (newest first, up to ``limit`` back)."""
        cursor, seen = None, 0
        while seen < limit:
            found = self.instance.fetch_materializations(dg.AssetKey(self.sources.evaluation), _PAGE, cursor=cursor)
            for record in found.records:
                metadata = record.asset_materialization.metadata if record.asset_materialization else {}
                if _text(metadata.get("model_version")) == version:
                    return _number(metadata.get("holdout_auc"))
            seen += len(found.records)
            if not found.has_more:
                return None
            cursor = found.cursor
        return None

    def _served(self) -> set[str]:
        """The versions the latest deployment (or rollback) serves: the champion, and a challenger given a share.

        ab_results scores every version in the whole prediction log, a rolled-back one too; only these
        are judged by LiveAucBelowFloor. Read from the instance, so it holds when the gateway is not scraped.
        """
        event = self._latest(self.sources.deployment)
        if event is None or event.asset_materialization is None:
            return set()
        metadata = event.asset_materialization.metadata
        served = {v for v in [_text(metadata.get("champion_version"))] if v is not None}
        deployed, share = _text(metadata.get("model_version")), _number(metadata.get("challenger_share"))
        if deployed is not None and share is not None and share > 0:  # an A/B split: the deployed one is challenger
            served.add(deployed)
        return served

    def _live(self) -> Iterator[tuple[str, dict[str, str], float]]:
        event = self._latest(self.sources.live)
        if event is None or event.asset_materialization is None:
            return
        served = self._served()
        for field, value in event.asset_materialization.metadata.items():
            match, number = _LIVE_KEY.match(field), _number(value)
            if match and number is not None:
                metric = f"openclaw_pipeline_live_{match['metric']}"
                version = match["version"]
                yield metric, {"model_version": version, "served": "true" if version in served else "false"}, number

    def _batch(self) -> Iterator[tuple[str, dict[str, str], float]]:
        for partition, metadata in self._by_partition(self.sources.batch):
            version = _text(metadata.get("model_version")) or ""
            labels = {"partition": partition, "model_version": version}
            rows = _partition_rows(metadata, partition)
            rows = rows if rows is not None else _number(metadata.get("dagster/row_count"))
            speed = _partition_rows(metadata, partition, "rows_per_s")
            speed = speed if speed is not None else _number(metadata.get("rows_per_second"))
            if rows is not None:
                yield "openclaw_pipeline_batch_rows", labels, rows
            if speed is not None:
                yield "openclaw_pipeline_batch_rows_per_second", labels, speed


_LABELS = {f.name: f.labels for f in FAMILIES}


def _labels(name: str) -> tuple[str, ...]:
    return _LABELS[name]


def registry_for(collector: PipelineCollector):
    """A registry holding only ``collector`` (no process or platform metrics)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    return registry


_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "unknown": ("",),
}


def sample_names(families: Iterable[Any]) -> set[str]:
    """The series names Prometheus scrapes from these metric families (a counter ``x`` is ``x_total``...)."""
    names = set()
    for family in families:
        base = family.name
        for suffix in _SUFFIXES[family.type]:
            names.add(base + suffix)
    return names
