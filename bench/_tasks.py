"""The work measured inside child processes: ``python -m bench._tasks <task> <spec-json> <report-path>``.

Each task imports what it needs first (timed as ``import_s``), then does the measured
work (timed as ``work_s``), then checks its output outside the clock and writes a JSON
report. The whole-process wall time and peak memory are taken by the parent.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._harness import task_main

Report = dict[str, Any]

# Libraries every ingestion path ends up using; importing them before the clock starts
# keeps ``work_s`` about the data, whichever path loads them lazily.
DATA_LIBRARIES = ("pandas", "pyarrow", "pyarrow.parquet", "pandera.pandas")


def _import_all(names: tuple[str, ...]) -> float:
    started = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return time.perf_counter() - started


def _months(text: str) -> list[str]:
    from openclaw_assets.data.seed import parse_months
    from openclaw_assets.kernel.partitions import MONTHS

    return parse_months(text, MONTHS.get_partition_keys())


# ---------------------------------------------------------------- ours: the Dagster job


def dagster_run(spec: dict[str, Any]) -> Report:
    """``openclaw run --months <range>`` in this process, against a fresh OPENCLAW_HOME and DAGSTER_HOME."""
    home = Path(spec["home"])
    os.environ["OPENCLAW_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    import_s = _import_all(("dagster", "openclaw_assets.cli", "openclaw_assets.definitions", *DATA_LIBRARIES))

    from openclaw_assets.cli import main as openclaw

    started, started_at = time.perf_counter(), time.time()
    code = openclaw(["--home", str(home), "run", "--months", spec["months"]])
    work_s, ended_at = time.perf_counter() - started, time.time()
    if code != 0:
        raise SystemExit(f"openclaw run exited with {code}")
    return {
        "import_s": import_s,
        "work_s": work_s,
        **_warehouse_rows(home, _months(spec["months"])),
        **_run_stats(started_at, ended_at),
    }


def _warehouse_rows(home: Path, months: list[str]) -> Report:
    import pyarrow.parquet as pq

    from openclaw_assets.data.tables import PARTITIONED_TABLES, warehouse_file

    counts = {"valid_rows": 0, "quarantined_rows": 0}
    for spec in PARTITIONED_TABLES:
        for month in months:
            for layer, key in (("validated", "valid_rows"), ("quarantine", "quarantined_rows")):
                counts[key] += pq.ParquetFile(warehouse_file(home, layer, spec.name, month)).metadata.num_rows
    return {"rows": counts["valid_rows"] + counts["quarantined_rows"], **counts}


def _run_stats(started_at: float, ended_at: float) -> Report:
    """Dagster's own clock: time before the run started, the run and each step in it, time after it ended."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(limit=1)
        if not runs:
            return {}
        stats = instance.get_run_stats(runs[0].run_id)
        steps = {
            step.step_key: round(step.end_time - step.start_time, 4)
            for step in instance.get_run_step_stats(runs[0].run_id)
            if step.start_time is not None and step.end_time is not None
        }
    if not (stats.start_time and stats.end_time):
        return {"steps_s": steps, "materializations": stats.materializations}
    return {
        "before_run_s": stats.start_time - started_at,
        "run_s": stats.end_time - stats.start_time,
        "after_run_s": ended_at - stats.end_time,
        "steps_s": steps,
        "materializations": stats.materializations,
    }


# ---------------------------------------------------------------- ours: the contract alone


def contract(spec: dict[str, Any]) -> Report:
    """``read_drop`` + ``validate_*`` on each month's drops, without Dagster or any file output."""
    import_s = _import_all(
        (
            "openclaw_assets.data.contracts",
            "openclaw_assets.data.landing",
            "openclaw_assets.data.tables",
            *DATA_LIBRARIES,
        )
    )
    from openclaw_assets.data.contracts import validate_flights, validate_reference, validate_weather
    from openclaw_assets.data.landing import read_drop
    from openclaw_assets.data.tables import AIRLINES, AIRPORTS, FLIGHTS, WEATHER, TableSpec, landing_file

    home = Path(spec["home"])
    clock = {"read_s": 0.0, "validate_s": 0.0}

    def timed(kind: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        value = call()
        clock[kind] += time.perf_counter() - started
        return value

    def reference(spec: TableSpec, column: str) -> set[str]:
        drop = read_drop(landing_file(home, spec.name, None, "csv"), spec)
        return set(validate_reference(drop.frame, spec).valid[column])

    started = time.perf_counter()
    carriers = reference(AIRLINES, "carrier")
    airports = reference(AIRPORTS, "faa")
    rows = quarantined = 0
    for month in spec["months"]:
        flights = timed("read_s", lambda m=month: read_drop(landing_file(home, "flights", m, "csv"), FLIGHTS))
        result = timed("validate_s", lambda d=flights, m=month: validate_flights(d.frame, m, carriers, airports))
        rows, quarantined = rows + result.rows_in, quarantined + len(result.quarantine)
        weather = timed("read_s", lambda m=month: read_drop(landing_file(home, "weather", m, "csv"), WEATHER))
        result = timed("validate_s", lambda d=weather, m=month: validate_weather(d.frame, m, airports))
        rows, quarantined = rows + result.rows_in, quarantined + len(result.quarantine)
    work_s = time.perf_counter() - started
    return {"import_s": import_s, "work_s": work_s, "rows": rows, "quarantined_rows": quarantined, **clock}


# ---------------------------------------------------------------- peer: pandas.read_csv + the same pandera schemas


def plain_script(spec: dict[str, Any]) -> Report:
    """The peer: ``pd.read_csv`` with default typed parsing, cast to the schema's dtypes, ``schema.validate``."""
    import_s = _import_all(("openclaw_assets.data.contracts", *DATA_LIBRARIES))
    import pandas as pd
    import pandera.pandas as pa

    from openclaw_assets.data.contracts import flights_schema, weather_schema

    home = Path(spec["home"])
    landing = home / "landing"
    clock = {"read_s": 0.0, "validate_s": 0.0}

    def to_schema_dtypes(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
        for name, column in schema.columns.items():
            dtype = column.dtype.type
            if isinstance(dtype, pd.DatetimeTZDtype):
                frame[name] = pd.to_datetime(frame[name], utc=True).astype(dtype)
            elif not pd.api.types.is_object_dtype(dtype):
                frame[name] = frame[name].astype(dtype)
        return frame

    def check(path: Path, schema: pa.DataFrameSchema) -> tuple[int, int]:
        started = time.perf_counter()
        frame = pd.read_csv(path)
        read_done = time.perf_counter()
        try:
            schema.validate(to_schema_dtypes(frame, schema), lazy=True)
            failed_rows = 0
        except pa.errors.SchemaErrors as errors:
            failed_rows = int(errors.failure_cases["index"].nunique())
        clock["read_s"] += read_done - started
        clock["validate_s"] += time.perf_counter() - read_done
        return len(frame), failed_rows

    started = time.perf_counter()
    carriers = set(pd.read_csv(landing / "airlines" / "airlines.csv")["carrier"])
    airports = set(pd.read_csv(landing / "airports" / "airports.csv")["faa"])
    rows = failed = 0
    for month in spec["months"]:
        for path, schema in (
            (landing / "flights" / f"flights_{month}.csv", flights_schema(month, carriers, airports)),
            (landing / "weather" / f"weather_{month}.csv", weather_schema(month, airports)),
        ):
            n, bad = check(path, schema)
            rows, failed = rows + n, failed + bad
    work_s = time.perf_counter() - started
    return {"import_s": import_s, "work_s": work_s, "rows": rows, "failed_rows": failed, **clock}


# ---------------------------------------------------------------- floor: imports only


def imports_only(spec: dict[str, Any]) -> Report:
    """Import what a Dagster run (``side="dagster"``) or the plain script (``side="plain"``) imports, and stop."""
    if spec.get("side", "dagster") == "dagster":
        names = ("dagster", "openclaw_assets.cli", "openclaw_assets.definitions", *DATA_LIBRARIES)
    else:
        names = ("openclaw_assets.data.contracts", *DATA_LIBRARIES)
    return {"import_s": _import_all(names), "work_s": 0.0}


TASKS: dict[str, Callable[[dict[str, Any]], Report]] = {
    "dagster_run": dagster_run,
    "contract": contract,
    "plain_script": plain_script,
    "imports_only": imports_only,
}


if __name__ == "__main__":
    sys.exit(task_main("bench._tasks", TASKS, sys.argv[1:]))
