"""Data plane assets: landing drops -> raw tables -> validated tables + quarantine.

Each partitioned table gets a ``raw_<table>`` asset (the drop, as text, after the
table-level checks) and a ``validate_<table>`` step that writes ``validated_<table>``
and ``quarantine_<table>`` and reports the blocking gates on the files it wrote.
Reference tables (airlines, airports, planes) are unpartitioned and do all three in one.
"""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.control import subjects
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.data import checks
from openclaw_assets.data.sensors import SOURCE_SHA_KEY
from openclaw_assets.data.tables import (
    AIRLINES,
    AIRPORTS,
    FLIGHTS,
    PARTITIONED_TABLES,
    REFERENCE_TABLES,
    WEATHER,
    TableSpec,
)
from openclaw_assets.kernel.partitions import MONTHS, SINGLE_RUN
from openclaw_assets.kernel.reporting import check_results, summarise
from openclaw_assets.kernel.warehouse import Warehouse, Written

CODE_VERSION = "data-1"
SOURCE_FILE_KEY = "openclaw.source_file"
NEW_YORK_ORIGINS = ["EWR", "JFK", "LGA"]
WARN_ONLY = frozenset({checks.DEST_COVERAGE})
PUBLICATION = "publication_policy"
"""The blocking check that records the ``publish_partition`` policy's decision on each validated partition."""


class ContractConfig(dg.Config):
    """Thresholds of the data plane's gates."""

    quarantine_ceiling: float = Field(
        default=0.02, ge=0.0, le=1.0, description="Largest share of a partition's rows that may be quarantined."
    )
    min_day_coverage: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Share of the month's days that must have at least one flight."
    )
    min_hour_coverage: float = Field(
        default=0.9, ge=0.0, le=1.0, description="Share of the month's hours each origin must have weather for."
    )
    unknown_dest_ceiling: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Share of flights to airports missing from `airports` before a warning.",
    )


def _fail(exc: Exception, **metadata: Any) -> dg.Failure:
    return dg.Failure(
        description=str(exc), metadata={k: v for k, v in metadata.items() if v is not None}, allow_retries=False
    )


# ---------------------------------------------------------------- raw


def build_raw_asset(spec: TableSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{spec.name}",
        partitions_def=MONTHS,
        backfill_policy=SINGLE_RUN,
        group_name="ingest",
        kinds={"parquet"},
        code_version=CODE_VERSION,
        description=f"The monthly {spec.name} drops as landed, kept as text, after the whole-file checks.",
    )
    def raw_asset(
        context: dg.AssetExecutionContext, warehouse: Warehouse, ledger: ProvenanceLedger
    ) -> dg.MaterializeResult:
        from openclaw_assets.data.landing import LandingError, check_header, check_partition, find_drop, read_drop

        home = warehouse.root
        keys = context.partition_keys
        try:
            paths = {key: find_drop(home, spec, key) for key in keys}
            for path in paths.values():
                check_header(path, spec)
        except LandingError as exc:
            raise _fail(exc, file=str(exc.path)) from None
        records, metadata = [], {}
        for key, path in paths.items():
            try:
                drop = read_drop(path, spec)
                check_partition(drop, key)
            except LandingError as exc:
                raise _fail(exc, file=str(exc.path), partition=key) from None
            written = _write_raw(warehouse, spec, key, drop)
            _record_raw(context, ledger, drop, written, key)
            context.log.info(f"{key}: {written.rows} rows from {drop.path.name} ({drop.size} bytes)")
            records.append(written.record(key, source_file=drop.path.name))
            metadata = {**_source_metadata(drop), **written.metadata()}
        return dg.MaterializeResult(metadata=summarise(records, metadata))

    return raw_asset


# ---------------------------------------------------------------- validated + quarantine


def _write_raw(warehouse: Warehouse, spec: TableSpec, partition: str | None, drop) -> Written:
    """The drop as text, with its source file's name and SHA-256 in the footer (the sensor reads them)."""
    from openclaw_assets.data.contracts import arrow_schema

    return warehouse.write(
        drop.frame,
        "raw",
        spec.name,
        partition,
        schema=arrow_schema(spec.name, text=True, extra=tuple(drop.extra_columns)),
        footer={SOURCE_SHA_KEY: drop.sha256, SOURCE_FILE_KEY: drop.path.name},
    )


def _record_raw(context, ledger: ProvenanceLedger, drop, written: Written, partition: str | None) -> None:
    """The drop (its file's SHA-256) and the raw table built from it, in the ledger."""
    source = subjects.drop(ledger.root, drop.path)
    ledger.record(
        context,
        "drop",
        source,
        digest=drop.sha256,
        path=drop.path,
        facts={"bytes": drop.size, "format": drop.format, "partition": partition or "all"},
    )
    ledger.record_file(context, written, inputs=[source], facts={"partition": partition or "all"})


def _source_metadata(drop) -> dict[str, Any]:
    return {
        "source_file": dg.MetadataValue.path(str(drop.path)),
        "source_bytes": drop.size,
        "source_sha256": drop.sha256,
        "extra_columns": ", ".join(drop.extra_columns) or "none",
    }


def _read_reference(warehouse: Warehouse, spec: TableSpec, column: str) -> set[str]:
    values = warehouse.read("validated", spec.name, columns=[column], why=f"reference table {spec.name}")
    return set(values[column].dropna().tolist())


def _check_specs(spec: TableSpec, asset: str) -> list[dg.AssetCheckSpec]:
    gates = [
        dg.AssetCheckSpec(
            checks.ROW_ACCOUNTING,
            asset=asset,
            blocking=True,
            description="Every raw row is validated or quarantined, exactly once.",
        ),
        dg.AssetCheckSpec(
            checks.QUARANTINE_RATE,
            asset=asset,
            blocking=True,
            description="The quarantined share stays under the configured ceiling.",
        ),
        dg.AssetCheckSpec(
            checks.KEY_UNIQUENESS,
            asset=asset,
            blocking=True,
            description=f"No two validated rows share the key ({', '.join(spec.key)}).",
        ),
    ]
    if spec.partitioned:
        gates.append(
            dg.AssetCheckSpec(
                checks.PARTITION_COMPLETENESS,
                asset=asset,
                blocking=True,
                description="The month is complete: every day has flights / every origin has its hours of weather.",
            )
        )
    gates.append(
        dg.AssetCheckSpec(
            PUBLICATION,
            asset=asset,
            blocking=True,
            description="The publish_partition policy allowed the partition downstream (decision in the ledger).",
        )
    )
    if spec is FLIGHTS:
        gates.append(
            dg.AssetCheckSpec(
                checks.DEST_COVERAGE,
                asset=asset,
                blocking=False,
                description="Destinations missing from the airports table stay rare (warning).",
            )
        )
    return gates


def _contract(spec: TableSpec, raw, partition: str | None, refs: dict[str, set[str]]):
    from openclaw_assets.data import contracts

    if not spec.partitioned:
        return contracts.validate_reference(raw, spec)
    month = _month(partition)
    if spec is FLIGHTS:
        return contracts.validate_flights(raw, month, refs["carriers"], refs["airports"])
    return contracts.validate_weather(raw, month, refs["airports"])


def _month(partition: str | None) -> str:
    if partition is None:
        raise ValueError("a partitioned table needs a partition key")
    return partition


def _gates(
    spec: TableSpec,
    partition: str | None,
    raw_rows: int,
    valid_path: Path,
    quarantine_path: Path,
    config: ContractConfig,
    refs: dict[str, set[str]],
) -> dict[str, checks.Outcome]:
    """Evaluate the gates on the files as written, read back from disk."""
    import pandas as pd

    from openclaw_assets.kernel.atomic import parquet_rows

    valid_rows, quarantine_rows = parquet_rows(valid_path), parquet_rows(quarantine_path)
    columns = list(dict.fromkeys([*spec.key, *(["day", "dest"] if spec is FLIGHTS else [])]))
    written = pd.read_parquet(valid_path, columns=columns)
    out = {
        checks.ROW_ACCOUNTING: checks.row_accounting(raw_rows, valid_rows, quarantine_rows),
        checks.QUARANTINE_RATE: checks.quarantine_rate(raw_rows, quarantine_rows, config.quarantine_ceiling),
        checks.KEY_UNIQUENESS: checks.key_uniqueness(written, spec.key),
    }
    if spec is FLIGHTS:
        out[checks.PARTITION_COMPLETENESS] = checks.flights_completeness(
            written, _month(partition), config.min_day_coverage
        )
        out[checks.DEST_COVERAGE] = checks.dest_coverage(written, refs["airports"], config.unknown_dest_ceiling)
    elif spec is WEATHER:
        out[checks.PARTITION_COMPLETENESS] = checks.weather_completeness(
            written, _month(partition), NEW_YORK_ORIGINS, config.min_hour_coverage
        )
    return out


def _publish(
    context,
    ledger: ProvenanceLedger,
    spec: TableSpec,
    key: str | None,
    valid: Written,
    quarantined: Written,
    gates: dict[str, checks.Outcome],
) -> checks.Outcome:
    """Record the partition's files, then ask the ``publish_partition`` policy whether it goes downstream."""
    raw = subjects.table("raw", spec.name, key)
    references = [subjects.table("validated", r, None) for r in _references(spec)]
    facts = {"partition": key or "all"}
    asset = f"validated_{spec.name}" if spec.partitioned else spec.name
    ledger.record_file(context, valid, inputs=[raw, *references], asset=asset, facts=facts)
    ledger.record_file(context, quarantined, inputs=[raw], asset=f"quarantine_{spec.name}", facts=facts)
    total = valid.rows + quarantined.rows
    document = {
        "table": spec.name,
        "partition": key or "all",
        "rows": valid.rows,
        "quarantined": quarantined.rows,
        "quarantine_share": quarantined.rows / total if total else 0.0,
        "checks": [{"name": n, "passed": o.passed, "blocking": n not in WARN_ONLY} for n, o in gates.items()],
    }
    what = f"{spec.name}/{key or 'all'}"
    decision = ledger.decide(
        context, "publish_partition", document, what, inputs=[subjects.table_of_path(ledger.root, valid.path)]
    )
    if decision.allowed:
        return checks.Outcome(True, f"published by policy publish_partition (bundle {decision.bundle_hash[:12]})")
    return checks.Outcome(
        False, "not published: " + "; ".join(decision.reasons), {"policy_bundle": decision.bundle_hash}
    )


def _references(spec: TableSpec) -> list[str]:
    if spec is FLIGHTS:
        return [AIRLINES.name, AIRPORTS.name]
    if spec is WEATHER:
        return [AIRPORTS.name]
    return []


def _validate_partitions(
    context,
    spec: TableSpec,
    keys: list[str | None],
    warehouse: Warehouse,
    config: ContractConfig,
    refs: dict[str, set[str]],
    ledger: ProvenanceLedger,
):
    """Apply the contract to each raw partition and write validated and quarantine files."""
    import pyarrow.parquet as pq

    from openclaw_assets.data.contracts import arrow_schema, quarantine_frame

    records_valid, records_quarantine, per_partition = [], [], {}
    meta_valid: dict[str, Any] = {}
    meta_quarantine: dict[str, Any] = {}
    for key in keys:
        raw_path = warehouse.require("raw", spec.name, key)
        raw = pq.read_table(raw_path).to_pandas()  # text columns: str, or None for nulls
        source_columns = list(raw.columns)
        result = _contract(spec, raw, key, refs)
        extra = ("status", "flight_id") if spec is FLIGHTS else ()
        valid = warehouse.write(result.valid, "validated", spec.name, key, schema=arrow_schema(spec.name, extra=extra))
        q_extra = (*(c for c in source_columns if c not in spec.columns), "reason")
        quarantined = warehouse.write(
            quarantine_frame(result, source_columns),
            "quarantine",
            spec.name,
            key,
            schema=arrow_schema(spec.name, text=True, extra=q_extra),
        )
        valid_rows, q_rows = valid.rows, quarantined.rows
        gates = _gates(spec, key, len(raw), valid.path, quarantined.path, config, refs)
        gates[PUBLICATION] = _publish(context, ledger, spec, key, valid, quarantined, gates)
        per_partition[key] = gates
        reasons = ", ".join(
            f"{rule} ×{n}" for rule, n in sorted(result.reason_counts.items(), key=lambda kv: -kv[1])[:5]
        )
        detail = f" ({reasons})" if reasons else ""
        context.log.info(f"{key or spec.name}: {valid_rows} validated, {q_rows} quarantined{detail}")
        records_valid.append(valid.record(key))
        records_quarantine.append(quarantined.record(key, top_reasons=reasons or "none"))
        meta_valid = valid.metadata()
        meta_quarantine = {**quarantined.metadata(), "reasons": dg.MetadataValue.json(result.reason_counts)}
    return (summarise(records_valid, meta_valid), summarise(records_quarantine, meta_quarantine), per_partition)


def _load_refs(warehouse: Warehouse, spec: TableSpec) -> dict[str, set[str]]:
    if spec is FLIGHTS:
        return {
            "carriers": _read_reference(warehouse, AIRLINES, "carrier"),
            "airports": _read_reference(warehouse, AIRPORTS, "faa"),
        }
    if spec is WEATHER:
        return {"airports": _read_reference(warehouse, AIRPORTS, "faa")}
    return {}


def build_validated_assets(spec: TableSpec, raw: dg.AssetsDefinition) -> dg.AssetsDefinition:
    validated, quarantine = f"validated_{spec.name}", f"quarantine_{spec.name}"
    references = _references(spec)

    @dg.multi_asset(
        name=f"validate_{spec.name}",
        partitions_def=MONTHS,
        backfill_policy=SINGLE_RUN,
        group_name="ingest",
        specs=[
            dg.AssetSpec(
                validated,
                deps=[raw, *references],
                kinds={"parquet"},
                code_version=CODE_VERSION,
                description=f"Typed {spec.name} rows that passed every rule of the contract.",
            ),
            dg.AssetSpec(
                quarantine,
                deps=[raw],
                kinds={"parquet"},
                code_version=CODE_VERSION,
                description=f"Rejected {spec.name} rows: every source column as landed plus the reason.",
            ),
        ],
        check_specs=_check_specs(spec, validated),
    )
    def validate(
        context: dg.AssetExecutionContext, config: ContractConfig, warehouse: Warehouse, ledger: ProvenanceLedger
    ):
        refs = _load_refs(warehouse, spec)
        meta_valid, meta_quarantine, gates = _validate_partitions(
            context, spec, list(context.partition_keys), warehouse, config, refs, ledger
        )
        yield dg.MaterializeResult(asset_key=validated, metadata=meta_valid)
        yield dg.MaterializeResult(asset_key=quarantine, metadata=meta_quarantine)
        yield from check_results(validated, gates, WARN_ONLY)

    return validate


def build_reference_asset(spec: TableSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=spec.name,
        group_name="reference",
        kinds={"parquet"},
        code_version=CODE_VERSION,
        check_specs=_check_specs(spec, spec.name),
        description=f"The {spec.name} reference table, validated (raw and quarantine copies beside it).",
    )
    def reference(
        context: dg.AssetExecutionContext, config: ContractConfig, warehouse: Warehouse, ledger: ProvenanceLedger
    ):
        from openclaw_assets.data.landing import LandingError, find_drop, read_drop

        try:
            drop = read_drop(find_drop(warehouse.root, spec, None), spec)
        except LandingError as exc:
            raise _fail(exc, file=str(exc.path)) from None
        _record_raw(context, ledger, drop, _write_raw(warehouse, spec, None, drop), None)
        meta_valid, meta_quarantine, gates = _validate_partitions(context, spec, [None], warehouse, config, {}, ledger)
        metadata = {
            **meta_valid,
            **_source_metadata(drop),
            "quarantined_rows": meta_quarantine["dagster/row_count"],
        }
        yield dg.MaterializeResult(metadata=metadata)
        yield from check_results(spec.name, gates, WARN_ONLY)

    return reference


reference_assets = [build_reference_asset(spec) for spec in REFERENCE_TABLES]
raw_assets = {spec.name: build_raw_asset(spec) for spec in PARTITIONED_TABLES}
validated_assets = [build_validated_assets(spec, raw_assets[spec.name]) for spec in PARTITIONED_TABLES]
assets = [*reference_assets, *raw_assets.values(), *validated_assets]
