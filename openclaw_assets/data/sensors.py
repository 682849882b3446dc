"""The landing-zone sensor: a new or changed drop starts one run for its partition.

The cursor maps each drop to the size, modification time and SHA-256 it had when last
seen, so unchanged files are not hashed again. A drop whose content is already what the
raw table was built from (the raw file's footer records the source SHA-256) starts
nothing, so a warehouse filled by ``openclaw run`` is not ingested twice when the daemon
starts. Run keys are ``<table>/<file>@<sha256 prefix>``: Dagster never launches the same
key twice, which also covers a daemon that died between launching runs and saving its cursor.
"""

import json
from pathlib import Path

import dagster as dg

from openclaw_assets.data.tables import TABLES, parse_landing_name
from openclaw_assets.kernel.partitions import MONTHS
from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets.kernel.warehouse import Warehouse

SOURCE_SHA_KEY = "openclaw.source_sha256"


REFERENCES_NEEDED = {"flights": ("airlines", "airports"), "weather": ("airports",)}
"""Reference tables a partition's validation reads: its drops wait until these are validated."""


def assets_for(table: str) -> list[dg.AssetKey]:
    """The assets one drop of ``table`` refreshes."""
    if TABLES[table].partitioned:
        return [dg.AssetKey(f"raw_{table}"), dg.AssetKey(f"validated_{table}"), dg.AssetKey(f"quarantine_{table}")]
    return [dg.AssetKey(table)]


def ingested_sha(home: Path, table: str, partition: str | None) -> str | None:
    """The SHA-256 of the drop the current raw table was built from, if any."""
    from openclaw_assets.kernel.atomic import parquet_footer

    path = warehouse_file(home, "raw", table, partition)
    if not path.exists():
        return None
    try:
        return parquet_footer(path).get(SOURCE_SHA_KEY)
    except OSError:
        return None


def scan_landing(home: Path, cursor: dict[str, dict], log=None) -> tuple[list[dg.RunRequest], dict[str, dict]]:
    """Compare the landing zone with the cursor; return the runs to start and the new cursor."""
    from openclaw_assets.kernel.atomic import sha256_file

    landing = home / "landing"
    valid_partitions = set(MONTHS.get_partition_keys())
    state: dict[str, dict] = {}
    requests: list[dg.RunRequest] = []
    files = sorted(p for p in landing.glob("*/*") if p.is_file()) if landing.is_dir() else []
    # reference drops first, so a partition's run never starts before its references
    files.sort(key=lambda p: (p.parent.name in REFERENCES_NEEDED, str(p)))
    for path in files:
        parsed = parse_landing_name(path)
        if parsed is None or parsed[0] != path.parent.name:
            continue
        table, partition, _fmt = parsed
        if partition is not None and partition not in valid_partitions:
            if log:
                log.warning(f"{path.name}: {partition} is not a partition of this code location; ignored")
            continue
        rel = f"{table}/{path.name}"
        waiting = [
            name
            for name in REFERENCES_NEEDED.get(table, ())
            if not warehouse_file(home, "validated", name, None).exists()
        ]
        if waiting:
            if previous := cursor.get(rel):
                state[rel] = previous
            if log:
                log.info(f"{rel}: waiting for reference table(s) {', '.join(waiting)} before ingesting")
            continue
        stat = path.stat()
        previous = cursor.get(rel)
        if previous and previous["size"] == stat.st_size and previous["mtime_ns"] == stat.st_mtime_ns:
            state[rel] = previous
            continue
        sha = sha256_file(path)
        state[rel] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
        if previous and previous["sha256"] == sha:
            continue
        if ingested_sha(home, table, partition) == sha:
            continue
        requests.append(
            dg.RunRequest(
                run_key=f"{rel}@{sha[:16]}",
                partition_key=partition,
                asset_selection=assets_for(table),
                tags={"openclaw/drop": rel, "openclaw/drop_sha256": sha},
            )
        )
    return requests, state


@dg.sensor(
    name="landing_zone_sensor",
    description="Starts one ingestion run for each new or changed drop in the landing zone.",
    target=dg.AssetSelection.groups("ingest", "reference"),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_zone_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    requests, state = scan_landing(warehouse.root, cursor, context.log)
    for request in requests:
        context.log.info(f"new drop {request.tags['openclaw/drop']}: run key {request.run_key}")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True))
