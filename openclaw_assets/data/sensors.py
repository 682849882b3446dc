"""The landing-zone sensor: a new or changed drop starts one run for its partition.

The cursor maps each drop to the size, modification time and SHA-256 it had when last
seen, so unchanged files are not hashed again. A drop whose content is already what the
raw table was built from (the raw file's footer records the source SHA-256) starts
nothing, so a warehouse filled by ``openclaw run`` is not ingested twice when the daemon
starts. Run keys are ``<table>/<file>@<sha256 prefix>``: Dagster never launches the same
key twice, which also covers a daemon that died between launching runs and saving its cursor.

Months arrive in order. The first drop of a month adds the month as a partition; a drop
for a month whose previous month has not arrived yet (2014-03 before 2014-02) waits, with
a line in the sensor's log at every tick, until the previous month's drop lands: the
feature tables of a month read the two before it, so a month ingested over a gap would
be built on missing history.
"""

import json
from pathlib import Path

import dagster as dg

from openclaw_assets.data.tables import TABLES, parse_landing_name
from openclaw_assets.kernel.months import MonthError, shift
from openclaw_assets.kernel.partitions import MONTHS, check_month, registered_months
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


class Scan:
    """What one look at the landing zone found: runs to start, months to add, the new cursor."""

    def __init__(self) -> None:
        self.requests: list[dg.RunRequest] = []
        self.new_months: list[str] = []
        self.cursor: dict[str, dict] = {}


def scan_landing(home: Path, cursor: dict[str, dict], registered: list[str], log=None) -> Scan:
    """Compare the landing zone with the cursor and the instance's months; say what to start."""
    from openclaw_assets.kernel.atomic import sha256_file

    landing = home / "landing"
    scan = Scan()
    state = scan.cursor
    known = list(registered)
    files = sorted(p for p in landing.glob("*/*") if p.is_file()) if landing.is_dir() else []
    # reference drops first, then months in calendar order, so a partition's run never
    # starts before its references and a month is added only after the one before it
    files.sort(key=lambda p: (p.parent.name in REFERENCES_NEEDED, _month_of(p) or "", str(p)))
    for path in files:
        parsed = parse_landing_name(path)
        if parsed is None or parsed[0] != path.parent.name:
            continue
        table, partition, _fmt = parsed
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
        if partition is not None:
            try:
                check_month(partition)
            except MonthError as exc:
                if log:
                    log.warning(f"{path.name}: {exc}; ignored")
                continue
            if partition not in known:
                expected = shift(known[-1], 1) if known else partition
                if partition != expected:
                    if previous := cursor.get(rel):
                        state[rel] = previous
                    if log:
                        log.info(f"{path.name}: waits for {expected} (months are ingested in order, without gaps)")
                    continue
                known.append(partition)
                scan.new_months.append(partition)
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
        scan.requests.append(
            dg.RunRequest(
                run_key=f"{rel}@{sha[:16]}",
                partition_key=partition,
                asset_selection=assets_for(table),
                tags={"openclaw/drop": rel, "openclaw/drop_sha256": sha},
            )
        )
    return scan


def _month_of(path: Path) -> str | None:
    parsed = parse_landing_name(path)
    return parsed[1] if parsed else None


@dg.sensor(
    name="landing_zone_sensor",
    description="Starts one ingestion run for each new or changed drop in the landing zone.",
    target=dg.AssetSelection.groups("ingest", "reference"),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_zone_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
    cursor = json.loads(context.cursor) if context.cursor else {}
    scan = scan_landing(warehouse.root, cursor, registered_months(context.instance), context.log)
    if scan.new_months:
        context.log.info(f"new months: {', '.join(scan.new_months)}")
    for request in scan.requests:
        context.log.info(f"new drop {request.tags['openclaw/drop']}: run key {request.run_key}")
    return dg.SensorResult(
        run_requests=scan.requests,
        dynamic_partitions_requests=[MONTHS.build_add_request(scan.new_months)] if scan.new_months else None,
        cursor=json.dumps(scan.cursor, sort_keys=True),
    )
